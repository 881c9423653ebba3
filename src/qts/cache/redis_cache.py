"""The Redis adapter: redis-py (hiredis parser) over a bounded connection pool.

Pool and timeouts follow the spec (§7.2): at most 50 connections, 100 ms socket timeout, 500 ms
connect timeout, keepalive, decoded strings. Sub-second TTLs go through ``PEXPIRE`` (``EXPIRE``
takes whole seconds only). A hash is replaced atomically (MULTI: DEL, HSET, PEXPIRE) so a reader
never sees half of two values; multi-key reads are one pipelined round trip. Every key carries the
cache's prefix, and :meth:`purge` deletes by ``SCAN MATCH prefix*`` — never FLUSHDB/FLUSHALL, the
database may be shared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import redis
from redis.exceptions import RedisError

from qts.cache.errors import CacheError
from qts.cache.port import Hash

T = TypeVar("T")
POOL_MAX_CONNECTIONS = 50
SOCKET_TIMEOUT_S = 0.1
CONNECT_TIMEOUT_S = 0.5
_GLOB = re.compile(r"([*?\[\]\\])")


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"://([^:@/]*):[^@/]*@", r"://\1:***@", url)


class RedisCache:
    name = "redis"

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        max_connections: int = POOL_MAX_CONNECTIONS,
        socket_timeout: float = SOCKET_TIMEOUT_S,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        if not prefix:
            raise ValueError("a Redis cache needs a key prefix (the database may be shared)")
        self.url = url
        self.prefix = prefix
        self._pool: Any = redis.ConnectionPool.from_url(
            url,
            max_connections=max_connections,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            socket_keepalive=True,
            decode_responses=True,
            health_check_interval=0,
        )
        self._r: Any = redis.Redis(connection_pool=self._pool)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (RedisError, OSError) as exc:
            raise CacheError(f"redis {redact_url(self.url)}: {what}: {exc}") from exc

    def get_hashes(self, keys: Sequence[str]) -> list[Hash | None]:
        if not keys:
            return []

        def run() -> list[Hash | None]:
            if len(keys) == 1:
                h = self._r.hgetall(self.prefix + keys[0])
                return [h or None]
            pipe = self._r.pipeline(transaction=False)
            for k in keys:
                pipe.hgetall(self.prefix + k)
            return [h or None for h in pipe.execute()]

        return self._call("HGETALL", run)

    def put_hashes(self, items: Sequence[tuple[str, Mapping[str, str], int]]) -> None:
        if not items:
            return
        for k, _, ttl in items:
            if ttl <= 0:
                raise ValueError(f"cache key {k}: every write needs a positive TTL, got {ttl} ms")

        def run() -> None:
            pipe = self._r.pipeline(transaction=True)
            for k, fields, ttl in items:
                name = self.prefix + k
                pipe.delete(name)
                if fields:
                    pipe.hset(name, mapping=dict(fields))
                    pipe.pexpire(name, ttl)
            pipe.execute()

        self._call("HSET", run)

    def put_zset(self, key: str, members: Mapping[str, float], ttl_ms: int) -> None:
        if ttl_ms <= 0:
            raise ValueError(f"cache key {key}: every write needs a positive TTL, got {ttl_ms} ms")

        def run() -> None:
            name = self.prefix + key
            pipe = self._r.pipeline(transaction=True)
            pipe.delete(name)
            if members:
                pipe.zadd(name, dict(members))
                pipe.pexpire(name, ttl_ms)
            pipe.execute()

        self._call("ZADD", run)

    def get_zset(self, key: str, count: int, *, highest: bool) -> list[tuple[str, float]]:
        if count <= 0:
            return []
        name = self.prefix + key
        if highest:
            fn = lambda: self._r.zrevrange(name, 0, count - 1, withscores=True)  # noqa: E731
        else:
            fn = lambda: self._r.zrange(name, 0, count - 1, withscores=True)  # noqa: E731
        return [(str(m), float(s)) for m, s in self._call("ZRANGE", fn)]

    def delete(self, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        return int(self._call("DEL", lambda: self._r.delete(*[self.prefix + k for k in keys])))

    def ttl_ms(self, key: str) -> int | None:
        left = int(self._call("PTTL", lambda: self._r.pttl(self.prefix + key)))
        return None if left < 0 else left

    def purge(self) -> int:
        pattern = _GLOB.sub(r"\\\1", self.prefix) + "*"

        def run() -> int:
            n = 0
            batch: list[str] = []
            for name in self._r.scan_iter(match=pattern, count=1000):
                batch.append(name)
                if len(batch) >= 500:
                    n += int(self._r.unlink(*batch))
                    batch = []
            if batch:
                n += int(self._r.unlink(*batch))
            return n

        return self._call("SCAN/UNLINK", run)

    def ping(self) -> None:
        self._call("PING", lambda: self._r.ping())

    def close(self) -> None:
        self._pool.disconnect()
