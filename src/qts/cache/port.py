"""The cache port: what the trading system needs from a hot key-value store.

Two adapters implement it: :class:`~qts.cache.memory.MemoryCache` (in-process, the embedded
default) and :class:`~qts.cache.redis_cache.RedisCache`. One contract suite runs against both.
Values are flat hashes of strings (decimal strings for prices, integer strings for quantities and
Unix-ms stamps) and sorted sets; a TTL in milliseconds is mandatory on every write.

Every method may raise :class:`~qts.cache.errors.CacheError` when the backend is unreachable.
Multi-key calls are one round trip (a pipeline on Redis).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

Hash = dict[str, str]


class Made:
    """A value an in-process backend made when it was read, already of the reader's type (what
    its hash would decode to), with the stamp its hash would carry: the in-process cache skips
    encoding a hash and decoding it again. Only block writes that gave a typed maker have one."""

    __slots__ = ("stamp", "value")

    def __init__(self, stamp: str, value: object) -> None:
        self.stamp = stamp
        self.value = value


class CacheBackend(Protocol):
    name: str

    def get_hashes(self, keys: Sequence[str]) -> list[Hash | None]:
        """The hashes under ``keys`` (None where absent or expired), in one round trip."""
        ...

    def put_hashes(self, items: Sequence[tuple[str, Mapping[str, str], int]]) -> None:
        """Replace each (key, fields, ttl_ms) hash and set its TTL, in one round trip."""
        ...

    def put_zset(self, key: str, members: Mapping[str, float], ttl_ms: int) -> None:
        """Replace the sorted set under ``key`` and set its TTL."""
        ...

    def get_zset(self, key: str, count: int, *, highest: bool) -> list[tuple[str, float]]:
        """The first ``count`` members by score (highest first if ``highest``)."""
        ...

    def delete(self, keys: Sequence[str]) -> int:
        """Remove keys; the number that existed."""
        ...

    def ttl_ms(self, key: str) -> int | None:
        """Milliseconds the key still lives; None if it does not exist."""
        ...

    def purge(self) -> int:
        """Delete every key of this cache (its prefix only; never the whole database)."""
        ...

    def ping(self) -> None:
        """Raise CacheError unless the backend answers."""
        ...

    def close(self) -> None: ...
