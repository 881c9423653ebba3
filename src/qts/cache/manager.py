"""Cache-aside reads, write-through writes and invalidation over any :class:`CacheBackend`,
behind the circuit breaker (spec §7.4–7.5).

* **Read** (cache-aside / read-through): ask the cache; a value older than its family's TTL (by
  its own stamp, on the engine's clock) raises :class:`CacheStaleDataError` internally and is
  never served; misses, stale values and reads the cache could not answer go to the source
  loader, and what it returns is written back with a fresh TTL.
* **Write** (write-through): the caller has already written the store; the cache gets the new
  value stamped now. A write the cache cannot take (breaker open, backend down) is not lost — the
  store has it — but the key is marked *suspect*: until a later write succeeds, reads of it go to
  the source, so an older cached value is never served. When the breaker closes again, suspect
  keys are deleted from the cache.
* **Failures**: each backend call is retried (3 attempts, 10 ms apart); a call that still fails
  counts once towards the breaker. While the breaker is open nothing asks the cache.

A write-back of a loaded value is skipped if a write-through of the same key happened while the
source was being read (a per-key generation), so a slow read can never overwrite a newer fill.

A block write (:meth:`CacheManager.write_block`: one value per ident of a fixed list, such as
every symbol's price of a bar) goes to a backend that takes blocks (the in-process cache) as one
call; any other backend gets it as ``write_many``. A block write counts as a write-through of
every key of its family for the generation check (a concurrent write-back is skipped).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar, cast

import numpy as np

from qts.cache.breaker import BreakerState, CircuitBreaker
from qts.cache.errors import CacheError, CacheStaleDataError
from qts.cache.keys import STAMP_FIELD, TTL_MS, Family, key
from qts.cache.memory import now_ms
from qts.cache.metrics import CacheMetrics
from qts.cache.port import CacheBackend, Hash, Made
from qts.core.clock import Clock

log = logging.getLogger(__name__)
T = TypeVar("T")
ManyLoader = Callable[[Sequence[str]], Mapping[str, Hash | None]]
RETRY_ATTEMPTS = 3
RETRY_WAIT_S = 0.010
GENERATIONS_KEPT = 4096


def check_fresh(name: str, family: Family, value: Hash | Made, now: int, ttl_ms: int) -> None:
    """Raise CacheStaleDataError if ``value`` is older than ``ttl_ms`` (or has no stamp)."""
    raw = value.stamp if isinstance(value, Made) else value.get(STAMP_FIELD[family], "")
    try:
        stamp = int(raw)
    except ValueError:
        raise CacheStaleDataError(name, -1, ttl_ms) from None
    age = now - stamp
    if age > ttl_ms:
        raise CacheStaleDataError(name, age, ttl_ms)


class CacheManager:
    def __init__(
        self,
        backend: CacheBackend,
        clock: Clock,
        *,
        metrics: CacheMetrics | None = None,
        breaker: CircuitBreaker | None = None,
        alert: Callable[[str], None] | None = None,
        ttl_ms: Mapping[Family, int] | None = None,
        retry_attempts: int = RETRY_ATTEMPTS,
        retry_wait_s: float = RETRY_WAIT_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.metrics = metrics or CacheMetrics()
        self.breaker = breaker or CircuitBreaker(clock)
        self.breaker.on_change = self._on_breaker
        self.alert = alert
        self.ttl_ms: dict[Family, int] = {**TTL_MS, **(ttl_ms or {})}
        self.retry_attempts = max(1, retry_attempts)
        self.retry_wait_s = retry_wait_s
        self.sleep = sleep
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._suspect: set[str] = set()
        self._gen: dict[str, int] = {}  # write-throughs per key (see _count_write)
        self._loading = 0  # source loads in flight
        self._block_gen: dict[Family, int] = {}
        self.alerts: list[str] = []
        self._unsent: list[str] = []
        self._known: dict[Family, dict[str, str]] = {f: {} for f in Family}

    # --- the breaker -------------------------------------------------------------------------

    def _on_breaker(self, before: BreakerState, after: BreakerState, reason: str) -> None:
        if after is BreakerState.OPEN:
            self.metrics.breaker_opened += 1
            msg = (
                f"cache ({self.backend.name}) circuit breaker open after {reason}: reads go to "
                f"the store for {int(self.breaker.recovery_timeout.total_seconds())} s"
            )
            log.error("%s", msg)
            with self._lock:
                self.alerts.append(msg)
                self._unsent.append(msg)  # sent once no lock of ours is held
        elif after is BreakerState.CLOSED:
            self.metrics.breaker_closed += 1
            log.warning("cache (%s) recovered: circuit breaker closed", self.backend.name)
            self._drop_suspects()

    def _send_alerts(self) -> None:
        """Deliver breaker alerts outside the manager's locks (the receiver may block)."""
        if not self._unsent:  # the usual case, without the lock (one that races is sent next)
            return
        with self._lock:
            unsent, self._unsent = self._unsent, []
        for msg in unsent:
            if self.alert is not None:
                try:
                    self.alert(msg)
                except Exception:
                    log.exception("cache alert failed")

    def _drop_suspects(self) -> None:
        with self._lock:
            suspects = sorted(self._suspect)
        if not suspects:
            return
        try:
            self.backend.delete(suspects)
        except CacheError as exc:
            log.warning("could not drop %d suspect cache keys: %s", len(suspects), exc)
            return
        with self._lock:
            self._suspect.difference_update(suspects)

    def _call(self, fn: Callable[[], T]) -> T:
        last: CacheError | None = None
        for attempt in range(self.retry_attempts):
            try:
                value = fn()
            except CacheError as exc:
                last = exc
                if attempt + 1 < self.retry_attempts:
                    self.sleep(self.retry_wait_s)
                continue
            self.breaker.success()
            return value
        assert last is not None
        self.breaker.failure(str(last))
        raise last

    @property
    def available(self) -> bool:
        return self.breaker.state is BreakerState.CLOSED

    # --- reads -------------------------------------------------------------------------------

    def read_many(self, family: Family, idents: Sequence[str], load: ManyLoader) -> dict[str, Hash]:
        """Fresh values for ``idents`` (absent where neither the cache nor the source has one)."""
        return cast("dict[str, Hash]", self._read(family, idents, load, self.backend.get_hashes))

    def read_values(
        self, family: Family, idents: Sequence[str], load: ManyLoader
    ) -> dict[str, Hash | Made]:
        """:meth:`read_many`, where a backend that keeps typed values (the in-process cache's
        block writes with a typed maker) answers with :class:`Made` instead of a hash; the
        same freshness rules, counts and loading apply."""
        get = getattr(self.backend, "get_values", None)
        return self._read(family, idents, load, get or self.backend.get_hashes)

    def _read(
        self,
        family: Family,
        idents: Sequence[str],
        load: ManyLoader,
        get: Callable[[list[str]], Sequence[Hash | Made | None]],
    ) -> dict[str, Hash | Made]:
        names = [self._name(family, i) for i in idents]
        out: dict[str, Hash | Made] = {}
        need: list[str] = []
        write_back = True
        with self._lock:
            suspect = [n in self._suspect for n in names] if self._suspect else None
        if suspect is None:
            asked = list(zip(idents, names, strict=True))
        else:
            asked = [(i, n) for i, n, s in zip(idents, names, suspect, strict=True) if not s]
            for i, _n, s in zip(idents, names, suspect, strict=True):
                if s:
                    self.metrics.read(family, "bypass")
                    need.append(i)
        if asked and self.breaker.allow():
            t0 = time.perf_counter()
            try:
                values = self._call(lambda: get([n for _, n in asked]))
            except CacheError:
                self.metrics.error(family)
                write_back = False  # the cache just failed: one failure per read, not two
                for i, _ in asked:
                    self.metrics.read(family, "bypass")
                    need.append(i)
            else:
                ms = (time.perf_counter() - t0) * 1000.0
                now = now_ms(self.clock)
                ttl = self.ttl_ms[family]
                hits = 0
                for (i, n), v in zip(asked, values, strict=True):
                    if v is None:
                        self.metrics.read(family, "miss", ms)
                        need.append(i)
                        continue
                    try:
                        check_fresh(n, family, v, now, ttl)
                    except CacheStaleDataError:
                        self.metrics.read(family, "stale", ms)
                        need.append(i)
                        continue
                    hits += 1
                    out[i] = v
                if hits:
                    self.metrics.read(family, "hit", ms, hits)
        else:
            for i, _ in asked:
                self.metrics.read(family, "bypass")
                need.append(i)
        if need:
            out.update(self._load(family, need, load, write_back))
        self._send_alerts()
        return out

    def read(self, family: Family, ident: str, load: Callable[[], Hash | None]) -> Hash | None:
        return self.read_many(family, [ident], lambda _ids: {ident: load()}).get(ident)

    def _load(
        self, family: Family, idents: list[str], load: ManyLoader, write_back: bool
    ) -> dict[str, Hash]:
        with self._lock:
            gens = {i: self._gen.get(key(family, i), 0) for i in idents}
            block_gen = self._block_gen.get(family, 0)
            self._loading += 1
        try:
            t0 = time.perf_counter()
            loaded = load(idents)
            self.metrics.source(family, (time.perf_counter() - t0) * 1000.0)
            found = {i: dict(v) for i, v in loaded.items() if v is not None and i in gens}
            if found and write_back:
                self._write(family, found, gens, block_gen)
        finally:
            with self._lock:
                self._loading -= 1
        return found

    def _count_write(self, name: str) -> None:
        """(Under ``_lock``.) A write-through of ``name``: its generation moves on. Generations
        only matter to loads in flight, so with none in flight a long table (a run's every order
        id) is dropped: a key not in it counts as generation 0 for the loads that follow."""
        gen = self._gen
        if len(gen) >= GENERATIONS_KEPT and not self._loading:
            gen.clear()
        gen[name] = gen.get(name, 0) + 1

    # --- writes ------------------------------------------------------------------------------

    def write_many(
        self,
        family: Family,
        values: Mapping[str, Mapping[str, str]],
        stamp_ms: int | None = None,
    ) -> bool:
        """Write-through (the store already has these values). True if the cache took them.
        ``stamp_ms``: when the values were written, if earlier than now (held-back writes)."""
        done = self._write(family, {i: dict(v) for i, v in values.items()}, None, 0, stamp_ms)
        self._send_alerts()
        return done

    def write(self, family: Family, ident: str, fields: Mapping[str, str]) -> bool:
        """One key's write-through (an order's status per fill, the risk state per cycle): the
        steps of :meth:`write_many` for one key, without its dicts and lists."""
        name = self._name(family, ident)
        v = dict(fields)
        ttl = self.ttl_ms[family]
        done = False
        with self._write_lock:
            now = str(now_ms(self.clock))
            with self._lock:
                self._count_write(name)
            v[STAMP_FIELD[family]] = now
            if not self.breaker.allow():
                self._mark_suspect([name])  # a skipped write-through: suspect until one succeeds
            else:
                if self._suspect:  # keys become suspect only under the write lock, held here
                    with self._lock:
                        self._suspect.discard(name)
                try:
                    self._call(lambda: self.backend.put_hashes([(name, v, ttl)]))
                except CacheError:
                    self.metrics.error(family)
                    self._mark_suspect([name])
                else:
                    done = True
        if done:
            self.metrics.wrote(family, 1)
        self._send_alerts()
        return done

    def _name(self, family: Family, ident: str) -> str:
        """``key(family, ident)``, checked and spelled once per run for the first 100,000 idents
        of a family (a run's symbols; not order ids, each written a few times at most)."""
        known = self._known[family]
        name = known.get(ident)
        if name is None:
            name = key(family, ident)
            if len(known) < 100_000 and family is not Family.ORDER:
                known[ident] = name
        return name

    def write_block(
        self,
        family: Family,
        idents: tuple[str, ...],
        mask: np.ndarray | int | None,
        make: Callable[[int], Mapping[str, str]],
        typed: Callable[[int], object] | None = None,
        stamp_ms: int | None = None,
    ) -> bool:
        """Write-through of ``make(i)`` under ``idents[i]`` for every i in ``mask`` (all when
        None; an integer: that one index, as a fill's position is written). ``make`` must give
        the value as of this call whenever it is called: a backend that takes blocks makes a
        value only when it is read. ``typed(i)``, if given, is what ``make(i)`` decodes to, for
        :meth:`read_values` (same rule). ``stamp_ms`` as in :meth:`write_many`."""
        if mask is not None and not isinstance(mask, np.ndarray):
            mask = int(mask)  # one index (a numpy integer too)
        put = getattr(self.backend, "put_block", None)
        if put is None or self._suspect or self.breaker.state is not BreakerState.CLOSED:
            values = {idents[i]: make(i) for i in _picked(idents, mask)}
            return self.write_many(family, values, stamp_ms)
        if mask is None:
            count = len(idents)
        else:
            count = 1 if isinstance(mask, int) else int(np.count_nonzero(mask))
        if not count:
            return True
        with self._write_lock:
            stamp, ttl = self._stamp(family, stamp_ms)
            with self._lock:
                self._block_gen[family] = self._block_gen.get(family, 0) + 1
            if ttl <= 0:
                return True  # expired before anyone could read it, as if written then
            try:
                self._call(
                    lambda: put(
                        family.value, idents, mask, make, STAMP_FIELD[family], stamp, ttl, typed
                    )
                )
            except CacheError:
                self.metrics.error(family)
                self._mark_suspect([key(family, idents[i]) for i in _picked(idents, mask)])
                return False
        self.metrics.wrote(family, count)
        self._send_alerts()
        return True

    def invalidate(self, family: Family, idents: Sequence[str]) -> bool:
        """Delete keys (event-based invalidation); the next read reloads from the source."""
        try:
            return self._invalidate(family, idents)
        finally:
            self._send_alerts()

    def _invalidate(self, family: Family, idents: Sequence[str]) -> bool:
        names = [key(family, i) for i in idents]
        with self._write_lock:
            with self._lock:
                for n in names:
                    self._count_write(n)
            if not self.breaker.allow():
                self._mark_suspect(names)
                return False
            try:
                self._call(lambda: self.backend.delete(names))
            except CacheError:
                self.metrics.error(family)
                self._mark_suspect(names)
                return False
        with self._lock:
            self._suspect.difference_update(names)
        return True

    def _write(
        self,
        family: Family,
        values: dict[str, Hash],
        gens: Mapping[str, int] | None,
        block_gen: int = 0,
        stamp_ms: int | None = None,
    ) -> bool:
        stamp_field = STAMP_FIELD[family]
        with self._write_lock:
            now, ttl = self._stamp(family, stamp_ms)
            items: list[tuple[str, Hash, int]] = []
            with self._lock:
                if gens is not None and self._block_gen.get(family, 0) != block_gen:
                    return True  # a block write came meanwhile: it is newer than this load
                for i, v in values.items():
                    n = key(family, i)
                    if gens is None:
                        self._count_write(n)
                    elif self._gen.get(n, 0) != gens.get(i, 0):
                        continue  # a write-through came meanwhile: it is newer than this load
                    v[stamp_field] = now
                    items.append((n, v, ttl))
            if not items or ttl <= 0:
                return True  # (ttl: expired before anyone could read it, as if written then)
            names = [n for n, _, _ in items]
            # a skipped write-back of a loaded value leaves the cache no older than it was; a
            # skipped write-through does: its key is suspect until a write succeeds
            through = gens is None
            if not self.breaker.allow():
                if through:
                    self._mark_suspect(names)
                return False
            was: set[str] = set()
            if self._suspect:  # keys become suspect only under the write lock, held here
                with self._lock:
                    was = self._suspect.intersection(names)
                    # cleared first: a write that closes the breaker must not drop its own keys
                    self._suspect.difference_update(names)
            try:
                self._call(lambda: self.backend.put_hashes(items))
            except CacheError:
                self.metrics.error(family)
                self._mark_suspect(names if through else sorted(was))
                return False
        self.metrics.wrote(family, len(items))
        return True

    def _stamp(self, family: Family, stamp_ms: int | None) -> tuple[str, int]:
        """A write's stamp and TTL: now and the family's TTL, or for values written earlier
        (``stamp_ms``) their stamp and what is left of the TTL after it (0 or less: expired)."""
        ttl = self.ttl_ms[family]
        if stamp_ms is None:
            return str(now_ms(self.clock)), ttl
        return str(stamp_ms), ttl - (now_ms(self.clock) - stamp_ms)

    def _mark_suspect(self, names: Sequence[str]) -> None:
        with self._lock:
            self._suspect.update(names)

    # --- sorted sets (order book) ------------------------------------------------------------

    def write_book(self, symbol: str, side: str, levels: Mapping[int, int]) -> bool:
        """``book:{symbol}:{side}``: member ``price:volume``, score = price (so the best levels
        come first by score; the spec's score = volume would rank by size, see §7.3)."""
        if side not in ("bid", "ask"):
            raise ValueError(f"book side must be bid or ask, got {side!r}")
        name = key(Family.BOOK, f"{symbol}:{side}")
        members = {f"{p}:{v}": float(p) for p, v in levels.items()}
        if not self.breaker.allow():
            return False
        try:
            self._call(lambda: self.backend.put_zset(name, members, self.ttl_ms[Family.BOOK]))
        except CacheError:
            self.metrics.error(Family.BOOK)
            return False
        self.metrics.wrote(Family.BOOK)
        return True

    def read_book(self, symbol: str, side: str, depth: int = 5) -> list[tuple[int, int]] | None:
        """The ``depth`` best levels (price, volume): highest bids, lowest asks. None when the
        cache cannot answer (there is no store behind the book)."""
        name = key(Family.BOOK, f"{symbol}:{side}")
        if not self.breaker.allow():
            self.metrics.read(Family.BOOK, "bypass")
            return None
        t0 = time.perf_counter()
        try:
            members = self._call(lambda: self.backend.get_zset(name, depth, highest=side == "bid"))
        except CacheError:
            self.metrics.error(Family.BOOK)
            self.metrics.read(Family.BOOK, "bypass")
            return None
        ms = (time.perf_counter() - t0) * 1000.0
        self.metrics.read(Family.BOOK, "hit" if members else "miss", ms)
        out = []
        for m, _score in members:
            p, v = m.split(":", 1)
            out.append((int(p), int(v)))
        return out

    def purge(self) -> int:
        """The manual emergency flush (spec §7.4): this cache's keys only."""
        with self._lock:
            self._suspect.clear()
        return self.backend.purge()

    def close(self) -> None:
        self.backend.close()


def _picked(idents: tuple[str, ...], mask: np.ndarray | int | None) -> Sequence[int]:
    """The indexes a block write's ``mask`` selects."""
    if mask is None:
        return range(len(idents))
    if isinstance(mask, int):
        return [mask]
    return list(np.flatnonzero(mask).tolist())
