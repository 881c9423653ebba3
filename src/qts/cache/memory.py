"""The embedded cache: an in-process dict with TTLs on the run's clock.

It needs no server and is the default. Expiry follows the engine's :class:`Clock`, so a backtest
on a simulated clock expires keys in simulated time, exactly as a Redis key expires in wall time
on a live run. Thread-safe: the event threads and the micro risk loop share it.

Block writes (:meth:`MemoryCache.put_block`) store one write of a whole family column (every
symbol's price of a bar, every symbol's position of a cycle) as a maker and an owner per symbol,
so a bar costs one array assignment instead of a hash per symbol; the hash of a key is made when
it is read. Nothing outside this process can read this dict, so a value made when read is the
value the writer gave. A single-key write or delete takes the key out of its column.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import cast

import numpy as np

from qts.cache.port import Hash, Made
from qts.core.arrays import unique_ints
from qts.core.clock import Clock


def now_ms(clock: Clock) -> int:
    global _last_now
    now = clock.now()
    last = _last_now
    if last[0] is now:  # a simulated clock gives the same object until it moves
        return last[1]
    ms = int(now.timestamp() * 1000)
    _last_now = (now, ms)  # one assignment: a reader sees the old pair or the new one
    return ms


_last_now: tuple[datetime | None, int] = (None, 0)


class _Block:
    """One block write: the maker of its values (and of their typed form, if given), their
    stamp and when they expire."""

    __slots__ = ("expires", "make", "stamp", "stamp_field", "typed")

    def __init__(
        self,
        make: Callable[[int], Hash],
        stamp_field: str,
        stamp: str,
        expires: int,
        typed: Callable[[int], object] | None = None,
    ):
        self.make = make
        self.stamp_field = stamp_field
        self.stamp = stamp
        self.expires = expires
        self.typed = typed


class _Column:
    """The keys ``{family}:{ident}`` of a fixed ident list written in blocks: the block that
    last wrote each ident (-1: none, or the key lives in the plain dict instead)."""

    __slots__ = ("blocks", "idents", "index", "owner", "plain", "trim_at")

    def __init__(self, idents: tuple[str, ...]) -> None:
        self.idents = idents
        self.index = {s: i for i, s in enumerate(idents)}
        self.owner = np.full(len(idents), -1, dtype=np.int64)
        self.blocks: dict[int, _Block] = {}
        self.plain: set[int] = set()  # idents whose key is in the plain dict
        self.trim_at = 8  # drop unused blocks when there are more than this many

    def live(self, i: int, now: int) -> _Block | None:
        seq = int(self.owner[i])
        if seq < 0:
            return None
        b = self.blocks[seq]
        if b.expires <= now:
            self.owner[i] = -1
            return None
        return b

    def value(self, i: int, b: _Block) -> Hash:
        h = dict(b.make(i))
        h[b.stamp_field] = b.stamp
        return h


class MemoryCache:
    name = "memory"
    in_process = True  # no other process reads it (qts.cache.pending)

    def __init__(self, clock: Clock, prefix: str = "") -> None:
        self.clock = clock
        self.prefix = prefix
        self._lock = threading.Lock()
        self._hashes: dict[str, tuple[Hash, int]] = {}
        self._zsets: dict[str, tuple[dict[str, float], int]] = {}
        self._columns: dict[str, _Column] = {}  # by family ("price")
        # the plain hashes' expiry times (a heap): expired hashes are removed as writes come,
        # as Redis expires keys actively, so a run's every order id does not stay in memory
        # until the run ends
        self._expiring: list[tuple[int, str]] = []
        self._seq = 0
        self.closed = False

    # --- block writes ------------------------------------------------------------------------

    def put_block(
        self,
        family: str,
        idents: tuple[str, ...],
        mask: np.ndarray | int | None,
        make: Callable[[int], Hash],
        stamp_field: str,
        stamp: str,
        ttl_ms: int,
        typed: Callable[[int], object] | None = None,
    ) -> None:
        """Write ``{family}:{idents[i]}`` for every i in ``mask`` (all if None; an integer: that
        one index): the value is
        ``make(i)`` with ``stamp_field`` set to ``stamp``, made when first read. ``typed(i)``,
        if given, is what that hash decodes to (:meth:`get_values` answers with it)."""
        _check_ttl(family, ttl_ms)
        now = now_ms(self.clock)
        with self._lock:
            col = self._columns.get(family)
            if col is None or (col.idents is not idents and col.idents != idents):
                if col is not None:
                    self._spill(family, col, now)
                col = self._columns[family] = _Column(idents)
                if self._hashes:  # keys written one by one before: the block replaces them
                    names = (f"{self.prefix}{family}:{ident}" for ident in idents)
                    col.plain = {i for i, n in enumerate(names) if n in self._hashes}
            self._seq += 1
            col.blocks[self._seq] = _Block(make, stamp_field, stamp, now + ttl_ms, typed)
            if col.plain:
                if mask is None:
                    written = list(col.plain)
                elif isinstance(mask, np.ndarray):
                    written = [i for i in col.plain if mask[i]]
                else:
                    written = [int(mask)] if int(mask) in col.plain else []
                for i in written:
                    self._hashes.pop(self.prefix + f"{family}:{idents[i]}", None)
                    col.plain.discard(i)
            if mask is None:
                col.owner.fill(self._seq)
                col.blocks = {self._seq: col.blocks[self._seq]}  # it owns every ident
                col.trim_at = 8
            else:
                col.owner[mask] = self._seq
                if len(col.blocks) > col.trim_at:
                    # blocks no ident points to any more; the next look waits until the
                    # blocks doubled, so many small blocks (a fill's position each) cost
                    # O(log) scans of the column, not one each
                    used = set(unique_ints(col.owner).tolist())
                    col.blocks = {k: b for k, b in col.blocks.items() if k in used}
                    col.trim_at = max(8, 2 * len(col.blocks))

    def _spill(self, family: str, col: _Column, now: int) -> None:
        """Move a column's live values into the plain dict (its ident list is replaced)."""
        for i, ident in enumerate(col.idents):
            b = col.live(i, now)
            if b is not None:
                self._hashes[self.prefix + f"{family}:{ident}"] = (col.value(i, b), b.expires)

    def _column_of(self, key: str) -> tuple[_Column, int] | None:
        if not self._columns:
            return None
        family, _, ident = key.partition(":")
        col = self._columns.get(family)
        if col is None:
            return None
        i = col.index.get(ident)
        return None if i is None else (col, i)

    def _from_column(self, key: str, now: int) -> Hash | None:
        found = self._column_of(key)
        if found is None:
            return None
        col, i = found
        b = col.live(i, now)
        return None if b is None else col.value(i, b)

    def _made_in_column(self, key: str, now: int) -> Hash | Made | None:
        found = self._column_of(key)
        if found is None:
            return None
        col, i = found
        b = col.live(i, now)
        if b is None:
            return None
        return col.value(i, b) if b.typed is None else Made(b.stamp, b.typed(i))

    def _leave_column(self, key: str, plain: bool) -> bool:
        """Take ``key`` out of its column (True if it was live there); ``plain``: the key now
        lives in the plain dict."""
        found = self._column_of(key)
        if found is None:
            return False
        col, i = found
        was = col.live(i, now_ms(self.clock)) is not None
        col.owner[i] = -1
        if plain:
            col.plain.add(i)
        else:
            col.plain.discard(i)
        return was

    def _live(self, store: dict[str, tuple[object, int]], k: str, now: int) -> bool:
        item = store.get(k)
        if item is None:
            return False
        if item[1] <= now:
            del store[k]
            return False
        return True

    def get_hashes(self, keys: Sequence[str]) -> list[Hash | None]:
        return cast("list[Hash | None]", self._get(keys, False))

    def get_values(self, keys: Sequence[str]) -> list[Hash | Made | None]:
        """:meth:`get_hashes`, but a key written by a block with a typed maker comes as
        :class:`Made` (the typed value and the stamp), with no hash made."""
        return self._get(keys, True)

    def _get(self, keys: Sequence[str], typed: bool) -> list[Hash | Made | None]:
        now = now_ms(self.clock)
        out: list[Hash | Made | None] = []
        with self._lock:
            hashes = self._hashes
            for k in keys:
                item = hashes.get(self.prefix + k)
                if item is None and self._columns:
                    if typed:
                        out.append(self._made_in_column(k, now))
                    else:
                        out.append(self._from_column(k, now))
                elif item is None or item[1] <= now:
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
                if self._columns:
                    self._leave_column(k, plain=True)
                name = self.prefix + k
                self._hashes[name] = (dict(fields), now + ttl)
                heapq.heappush(self._expiring, (now + ttl, name))
            self._expire(now)

    def _expire(self, now: int) -> None:
        """(Under the lock.) Remove the plain hashes whose time is up (a hash written again
        since is kept: its stored expiry is the later one)."""
        hashes, expiring = self._hashes, self._expiring
        while expiring and expiring[0][0] <= now:
            expires, name = heapq.heappop(expiring)
            item = hashes.get(name)
            if item is not None and item[1] == expires:
                del hashes[name]

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
                if self._columns and self._leave_column(key, plain=False):
                    n += 1
                for store in (self._hashes, self._zsets):
                    if self._live(store, k, now):  # type: ignore[arg-type]
                        del store[k]
                        n += 1
        return n

    def ttl_ms(self, key: str) -> int | None:
        now = now_ms(self.clock)
        k = self.prefix + key
        with self._lock:
            found = self._column_of(key)
            if found is not None and (b := found[0].live(found[1], now)) is not None:
                return b.expires - now
            for store in (self._hashes, self._zsets):
                if self._live(store, k, now):  # type: ignore[arg-type]
                    return store[k][1] - now
        return None

    def purge(self) -> int:
        with self._lock:
            n = len(self._hashes) + len(self._zsets)
            n += sum(int((c.owner >= 0).sum()) for c in self._columns.values())
            self._columns.clear()
            self._hashes.clear()
            self._zsets.clear()
            self._expiring.clear()
        return n

    def ping(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def _check_ttl(key: str, ttl_ms: int) -> None:
    if ttl_ms <= 0:
        raise ValueError(f"cache key {key}: every write needs a positive TTL, got {ttl_ms} ms")
