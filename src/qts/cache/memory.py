"""The embedded cache: an in-process dict with TTLs on the run's clock.

It needs no server and is the default. Expiry follows the engine's :class:`Clock`, so a backtest
on a simulated clock expires keys in simulated time, exactly as a Redis key expires in wall time
on a live run. Thread-safe: the event threads and the micro risk loop share it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from qts.cache.port import Hash
from qts.core.clock import Clock


def now_ms(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1000)


class MemoryCache:
    name = "memory"

    def __init__(self, clock: Clock, prefix: str = "") -> None:
        self.clock = clock
        self.prefix = prefix
        self._lock = threading.Lock()
        self._hashes: dict[str, tuple[Hash, int]] = {}
        self._zsets: dict[str, tuple[dict[str, float], int]] = {}
        self.closed = False

    def _live(self, store: dict[str, tuple[object, int]], k: str, now: int) -> bool:
        item = store.get(k)
        if item is None:
            return False
        if item[1] <= now:
            del store[k]
            return False
        return True

    def get_hashes(self, keys: Sequence[str]) -> list[Hash | None]:
        now = now_ms(self.clock)
        out: list[Hash | None] = []
        with self._lock:
            hashes = self._hashes
            for k in keys:
                item = hashes.get(self.prefix + k)
                if item is None or item[1] <= now:
                    if item is not None:
                        del hashes[self.prefix + k]
                    out.append(None)
                else:
                    out.append(dict(item[0]))
        return out

    def put_hashes(self, items: Sequence[tuple[str, Mapping[str, str], int]]) -> None:
        now = now_ms(self.clock)
        with self._lock:
            for k, fields, ttl in items:
                _check_ttl(k, ttl)
                self._hashes[self.prefix + k] = (dict(fields), now + ttl)

    def put_zset(self, key: str, members: Mapping[str, float], ttl_ms: int) -> None:
        _check_ttl(key, ttl_ms)
        with self._lock:
            self._zsets[self.prefix + key] = (dict(members), now_ms(self.clock) + ttl_ms)

    def get_zset(self, key: str, count: int, *, highest: bool) -> list[tuple[str, float]]:
        now = now_ms(self.clock)
        with self._lock:
            k = self.prefix + key
            if not self._live(self._zsets, k, now):  # type: ignore[arg-type]
                return []
            members = dict(self._zsets[k][0])
        # Redis orders equal scores by member (lexicographically), reversed for ZREVRANGE
        ranked = sorted(members.items(), key=lambda m: (m[1], m[0]), reverse=highest)
        return ranked[: max(0, count)]

    def delete(self, keys: Sequence[str]) -> int:
        now = now_ms(self.clock)
        n = 0
        with self._lock:
            for key in keys:
                k = self.prefix + key
                for store in (self._hashes, self._zsets):
                    if self._live(store, k, now):  # type: ignore[arg-type]
                        del store[k]
                        n += 1
        return n

    def ttl_ms(self, key: str) -> int | None:
        now = now_ms(self.clock)
        k = self.prefix + key
        with self._lock:
            for store in (self._hashes, self._zsets):
                if self._live(store, k, now):  # type: ignore[arg-type]
                    return store[k][1] - now
        return None

    def purge(self) -> int:
        with self._lock:
            n = len(self._hashes) + len(self._zsets)
            self._hashes.clear()
            self._zsets.clear()
        return n

    def ping(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def _check_ttl(key: str, ttl_ms: int) -> None:
    if ttl_ms <= 0:
        raise ValueError(f"cache key {key}: every write needs a positive TTL, got {ttl_ms} ms")
