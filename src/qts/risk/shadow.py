"""The risk loop's own copy of positions and prices, so it never waits on ETEDA or OMS locks.

Three kinds of state, each with one writer:

* synced fields (qty, cost basis, entry time, track) — written by the fill handler thread
  through :meth:`ShadowBook.on_position`; main always wins;
* market fields (current price, highest/lowest since entry, last tick time) — written by the
  market-data thread(s) through :meth:`ShadowBook.on_price`;
* local risk fields (trailing stop, latches, raised warnings) — written only by the loop thread,
  kept in :class:`RiskLocals` and tied to a position by its ``epoch``.

The book stores the first two kinds as int64 columns in one flat buffer (:class:`ShadowStore`),
one slot per symbol. A single lock guards them; every write holds it for O(1) work and
:meth:`ShadowBook.snapshot` holds it for a handful of memcpy's (~0.3 ms at 10,000 positions).
Nothing else takes it, so the loop cannot be held up by the pipeline's locks, and the pipeline
cannot be held up by the loop. The same buffer layout lives in shared memory for the
process variant (:mod:`qts.risk.shared`).
A new position (or a closed and reopened one) gets a fresh ``epoch``; the loop resets its local
fields when it sees a slot's epoch change, so writers never touch the loop's state.

Times are integer microseconds since the Unix epoch, so the two evaluators (per position and
vectorised) compare exactly the same numbers.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

import numpy as np
import numpy.typing as npt

from qts.core.clock import Clock
from qts.core.time import KST
from qts.model.enums import Track

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

US_PER_S = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TRACK_CODES: dict[Track, int] = {Track.SCALP: 0, Track.SWING: 1, Track.PORTFOLIO: 2}
"""Track → small integer for the arrays; anything else is stored as -1 (and fails the time rule)."""


def to_us(ts: datetime) -> int:
    """Microseconds since the Unix epoch; exact for any aware datetime of this century."""
    if ts.tzinfo is None:
        raise ValueError(f"timestamp must be timezone-aware, got naive {ts.isoformat()}")
    return round(ts.timestamp() * US_PER_S)


def from_us(us: int) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(KST)


@dataclass(frozen=True, slots=True)
class PositionShadow:
    """One position as the risk rules see it. Long only: ``qty`` > 0.

    ``cost_basis`` is exact won; ``avg_price`` derives from it. Percentages are reported as
    Decimal for people; the rules compare in exact integers (basis points × won).
    """

    symbol: str
    qty: int
    cost_basis: int
    current_price: int
    highest: int
    lowest: int
    entry_us: int
    price_us: int
    sync_us: int
    track: Track
    etf: bool = False
    epoch: int = 0
    trailing_stop_active: bool = False
    trailing_stop_price: int = 0
    partial_exit_done: bool = False
    vol_reduced: bool = False
    time_extended: bool = False
    pending_exit: str | None = None

    @classmethod
    def open(
        cls,
        symbol: str,
        qty: int,
        avg_price: int,
        entry_time: datetime,
        track: Track = Track.SWING,
        *,
        price: int | None = None,
        highest: int | None = None,
        lowest: int | None = None,
        price_time: datetime | None = None,
        etf: bool = False,
    ) -> PositionShadow:
        """A shadow bought at a whole-won average; for tests and tools."""
        p = avg_price if price is None else price
        entry = to_us(entry_time)
        return cls(
            symbol=symbol,
            qty=qty,
            cost_basis=qty * avg_price,
            current_price=p,
            highest=max(p, avg_price) if highest is None else highest,
            lowest=min(p, avg_price) if lowest is None else lowest,
            entry_us=entry,
            price_us=entry if price_time is None else to_us(price_time),
            sync_us=entry,
            track=track,
            etf=etf,
        )

    @property
    def avg_price(self) -> Decimal:
        return Decimal(self.cost_basis) / self.qty

    @property
    def entry_time(self) -> datetime:
        return from_us(self.entry_us)

    @property
    def price_time(self) -> datetime:
        return from_us(self.price_us)

    @property
    def last_sync(self) -> datetime:
        return from_us(self.sync_us)

    @property
    def unrealized_pnl(self) -> int:
        return self.current_price * self.qty - self.cost_basis

    @property
    def unrealized_pnl_pct(self) -> Decimal:
        return Decimal(self.unrealized_pnl) / self.cost_basis if self.cost_basis else Decimal(0)

    @property
    def mae_pct(self) -> Decimal:
        """Maximum adverse excursion since entry, a number ≤ 0."""
        if not self.cost_basis:
            return Decimal(0)
        return min(Decimal(0), Decimal(self.lowest * self.qty - self.cost_basis) / self.cost_basis)

    @property
    def mfe_pct(self) -> Decimal:
        """Maximum favourable excursion since entry, a number ≥ 0."""
        if not self.cost_basis:
            return Decimal(0)
        return max(Decimal(0), Decimal(self.highest * self.qty - self.cost_basis) / self.cost_basis)

    def time_in_trade_s(self, now: datetime) -> float:
        return (to_us(now) - self.entry_us) / US_PER_S


@dataclass(slots=True)
class LocalRows:
    """The loop's local fields for the rows of one snapshot (row i = snapshot row i)."""

    stop_active: BoolArray
    stop_price: IntArray
    partial_done: BoolArray
    vol_done: BoolArray
    extended: BoolArray
    warn_bits: IntArray

    @classmethod
    def empty(cls, n: int) -> LocalRows:
        return cls(
            np.zeros(n, np.bool_),
            np.zeros(n, np.int64),
            np.zeros(n, np.bool_),
            np.zeros(n, np.bool_),
            np.zeros(n, np.bool_),
            np.zeros(n, np.int64),
        )

    def copy(self) -> LocalRows:
        return LocalRows(
            self.stop_active.copy(),
            self.stop_price.copy(),
            self.partial_done.copy(),
            self.vol_done.copy(),
            self.extended.copy(),
            self.warn_bits.copy(),
        )

    def same_as(self, other: LocalRows) -> bool:
        return all(
            np.array_equal(a, b)
            for a, b in (
                (self.stop_active, other.stop_active),
                (self.stop_price, other.stop_price),
                (self.partial_done, other.partial_done),
                (self.vol_done, other.vol_done),
                (self.extended, other.extended),
                (self.warn_bits, other.warn_bits),
            )
        )


@dataclass(frozen=True, slots=True)
class ShadowSnapshot:
    """A consistent copy of the book at one instant; rows are the open positions, by slot."""

    slots: IntArray
    epoch: IntArray
    qty: IntArray
    cost: IntArray
    price: IntArray
    high: IntArray
    low: IntArray
    price_us: IntArray
    opened_us: IntArray
    sync_us: IntArray
    track: IntArray
    etf: BoolArray
    slot_symbols: list[str | None]
    slot_tracks: list[object]
    capacity: int
    last_sync_us: int

    def __len__(self) -> int:
        return len(self.slots)

    def symbol(self, row: int) -> str:
        sym = self.slot_symbols[int(self.slots[row])]
        assert sym is not None
        return sym

    def row_of_slot(self, slot: int, epoch: int) -> int | None:
        """The row holding ``slot`` if it still holds the position of ``epoch``."""
        row = int(np.searchsorted(self.slots, slot))
        if row < len(self.slots) and self.slots[row] == slot and self.epoch[row] == epoch:
            return row
        return None

    def row_of(self, symbol: str) -> int | None:
        for row in range(len(self.slots)):
            if self.slot_symbols[int(self.slots[row])] == symbol:
                return row
        return None

    def position(
        self,
        row: int,
        local: LocalRows | None = None,
        pending: str | None = None,
        *,
        local_row: int | None = None,
    ) -> PositionShadow:
        """Row ``row`` as a PositionShadow; local fields from ``local[local_row]`` (default row)."""
        slot = int(self.slots[row])
        lr = row if local_row is None else local_row
        track = self.slot_tracks[slot]
        return PositionShadow(
            symbol=self.symbol(row),
            qty=int(self.qty[row]),
            cost_basis=int(self.cost[row]),
            current_price=int(self.price[row]),
            highest=int(self.high[row]),
            lowest=int(self.low[row]),
            entry_us=int(self.opened_us[row]),
            price_us=int(self.price_us[row]),
            sync_us=int(self.sync_us[row]),
            track=track,  # type: ignore[arg-type]  # whatever the caller passed; rules check it
            etf=bool(self.etf[row]),
            epoch=int(self.epoch[row]),
            trailing_stop_active=bool(local.stop_active[lr]) if local else False,
            trailing_stop_price=int(local.stop_price[lr]) if local else 0,
            partial_exit_done=bool(local.partial_done[lr]) if local else False,
            vol_reduced=bool(local.vol_done[lr]) if local else False,
            time_extended=bool(local.extended[lr]) if local else False,
            pending_exit=pending,
        )


COLUMNS = (
    "qty",
    "cost",
    "price",
    "high",
    "low",
    "price_us",
    "opened_us",
    "sync_us",
    "epoch",
    "track",
    "etf",
    "used",
)
HEADER = 8  # int64 words: see the H_* indices
H_SLOTS, H_LAST_SYNC, H_SNAPSHOTS, H_NEXT_EPOCH = 0, 1, 2, 3
SYMBOL_BYTES = 32


class ShadowStore:
    """Typed int64 views over one flat buffer: a small header, one column per field, and a
    fixed-width symbol table. The same layout serves a private buffer (:class:`ShadowBook`)
    and a shared-memory block (:class:`qts.risk.shared.SharedShadowBook`)."""

    def __init__(self, buf: memoryview, capacity: int) -> None:
        self.capacity = capacity
        words = HEADER + len(COLUMNS) * capacity
        q = buf[: words * 8].cast("q")
        self.hdr = q[:HEADER]
        self.cols = [
            q[HEADER + i * capacity : HEADER + (i + 1) * capacity] for i in range(len(COLUMNS))
        ]
        (
            self.qty,
            self.cost,
            self.price,
            self.high,
            self.low,
            self.price_us,
            self.opened_us,
            self.sync_us,
            self.epoch,
            self.track,
            self.etf,
            self.used,
        ) = self.cols
        self.symbols = buf[words * 8 : words * 8 + capacity * SYMBOL_BYTES]
        self._views = [q, self.hdr, *self.cols, self.symbols]

    @staticmethod
    def nbytes(capacity: int) -> int:
        return (HEADER + len(COLUMNS) * capacity) * 8 + capacity * SYMBOL_BYTES

    def copy_columns(self) -> tuple[IntArray, ...]:
        """A copy of every column over the slots ever used (call under the book's lock)."""
        n = self.hdr[H_SLOTS]
        return tuple(np.frombuffer(c, np.int64, count=n).copy() for c in self.cols)

    def set_symbol(self, slot: int, symbol: str) -> None:
        raw = symbol.encode()
        if len(raw) > SYMBOL_BYTES:
            raise ValueError(f"shadow: symbol {symbol!r} longer than {SYMBOL_BYTES} bytes")
        at = slot * SYMBOL_BYTES
        self.symbols[at : at + SYMBOL_BYTES] = raw.ljust(SYMBOL_BYTES, b"\0")

    def release(self) -> None:
        for v in reversed(self._views):
            v.release()


class ShadowSource(Protocol):
    """What the loop reads: consistent snapshots."""

    def snapshot(self) -> ShadowSnapshot: ...


class ShadowBook:
    """Mirror of the main positions plus live prices; see the module docstring for the threads.

    ``reset_low_on_add``: when main's quantity grows (an add-on buy), the lowest price since entry
    restarts at the current price. Otherwise a low seen before the add, measured against the new
    (higher) average, reads as an adverse excursion the current holding never had and would force
    a false MAE exit right after a pyramid buy.
    """

    def __init__(self, clock: Clock, *, reset_low_on_add: bool = True, capacity: int = 64) -> None:
        self._clock = clock
        self._reset_low_on_add = reset_low_on_add
        self._lock: AbstractContextManager[object] = threading.Lock()
        self._index: dict[str, int] = {}
        self._symbols: list[str | None] = []
        self._tracks: list[object] = []
        self._free: list[int] = []
        self._s = self._make_store(max(1, capacity))
        self._s.hdr[H_NEXT_EPOCH] = 1

    def _make_store(self, capacity: int) -> ShadowStore:
        return ShadowStore(memoryview(bytearray(ShadowStore.nbytes(capacity))), capacity)

    def _grow(self) -> None:
        """Double the private buffer (under the lock)."""
        old = self._s
        new = self._make_store(2 * old.capacity)
        n = old.hdr[H_SLOTS]
        new.hdr[:] = old.hdr
        for a, b in zip(new.cols, old.cols, strict=True):
            a[:n] = b[:n]
        new.symbols[: n * SYMBOL_BYTES] = old.symbols[: n * SYMBOL_BYTES]
        self._s = new
        old.release()

    # -- writers -------------------------------------------------------------------------------

    def on_position(
        self,
        symbol: str,
        qty: int,
        cost_basis: int,
        opened_at: datetime | None,
        track: Track,
        *,
        price: int | None = None,
        etf: bool = False,
        ts: datetime | None = None,
    ) -> None:
        """Main's position after a fill (or a reconciliation). Main wins for qty and cost.

        ``qty`` ≤ 0 removes the symbol. A symbol not held before, or held with a different
        ``opened_at``, is a new position: its local risk state starts afresh. ``price`` (the fill
        price) also counts as a tick.
        """
        now_us = to_us(ts if ts is not None else self._clock.now())
        if qty <= 0:
            with self._lock:
                self._s.hdr[H_LAST_SYNC] = now_us
                slot = self._index.pop(symbol, None)
                if slot is not None:
                    self._s.used[slot] = 0
                    self._symbols[slot] = None
                    self._tracks[slot] = None
                    self._free.append(slot)
            return
        if cost_basis < 0:
            raise ValueError(f"shadow {symbol}: cost basis cannot be negative, got {cost_basis}")
        if price is not None and price <= 0:
            raise ValueError(f"shadow {symbol}: price must be positive, got {price}")
        opened_us = to_us(opened_at) if opened_at is not None else None
        code = TRACK_CODES.get(track, -1)
        with self._lock:
            s = self._s
            s.hdr[H_LAST_SYNC] = now_us
            slot = self._index.get(symbol)
            if slot is None or (opened_us is not None and s.opened_us[slot] != opened_us):
                if slot is None:
                    slot = self._allocate(symbol)
                    s = self._s  # the store may have grown
                p = price if price is not None else max(1, cost_basis // qty)
                s.epoch[slot] = s.hdr[H_NEXT_EPOCH]
                s.hdr[H_NEXT_EPOCH] += 1
                s.price[slot] = s.high[slot] = s.low[slot] = p
                s.price_us[slot] = now_us
                s.opened_us[slot] = now_us if opened_us is None else opened_us
            else:
                if price is not None:
                    self._tick(s, slot, price, now_us)
                if qty > s.qty[slot] and self._reset_low_on_add:
                    s.low[slot] = s.price[slot]
            s.qty[slot] = qty
            s.cost[slot] = cost_basis
            s.track[slot] = code
            s.etf[slot] = 1 if etf else 0
            s.sync_us[slot] = now_us
            self._tracks[slot] = track
            s.used[slot] = 1

    def on_price(self, symbol: str, price: int, ts: datetime) -> bool:
        """A trade (or mid) price tick; O(1). False if the symbol is not held."""
        if price <= 0:
            raise ValueError(f"shadow {symbol}: price must be positive, got {price}")
        us = to_us(ts)
        with self._lock:
            slot = self._index.get(symbol)
            if slot is None:
                return False
            self._tick(self._s, slot, price, us)
            return True

    def heartbeat(self, ts: datetime | None = None) -> None:
        """The position source is alive and the shadow is current as of ``ts`` (FS101 clock)."""
        us = to_us(ts if ts is not None else self._clock.now())
        with self._lock:
            self._s.hdr[H_LAST_SYNC] = us

    @staticmethod
    def _tick(s: ShadowStore, slot: int, price: int, us: int) -> None:
        # Ticks from several feed threads may arrive out of order: an older tick still counts
        # for the extremes (it happened) but does not overwrite a newer current price.
        if us >= s.price_us[slot]:
            s.price[slot] = price
            s.price_us[slot] = us
        if price > s.high[slot]:
            s.high[slot] = price
        elif price < s.low[slot]:
            s.low[slot] = price

    def _allocate(self, symbol: str) -> int:
        if self._free:
            slot = self._free.pop()
            self._symbols[slot] = symbol
        else:
            if self._s.hdr[H_SLOTS] == self._s.capacity:
                self._grow()
            slot = self._s.hdr[H_SLOTS]
            self._s.hdr[H_SLOTS] = slot + 1
            self._symbols.append(symbol)
            self._tracks.append(None)
        self._s.set_symbol(slot, symbol)
        self._index[symbol] = slot
        return slot

    # -- readers -------------------------------------------------------------------------------

    def snapshot(self) -> ShadowSnapshot:
        """A consistent copy for the loop; holds the lock for a few memcpy's only."""
        with self._lock:
            cols = self._s.copy_columns()
            symbols = list(self._symbols)
            tracks = list(self._tracks)
            last_sync = self._s.hdr[H_LAST_SYNC]
            self._s.hdr[H_SNAPSHOTS] += 1
        return build_snapshot(cols, symbols, tracks, last_sync)

    @property
    def snapshots(self) -> int:
        """Snapshots taken so far: one per loop cycle (diagnostic reads count too)."""
        return self._s.hdr[H_SNAPSHOTS]

    def locate(self, symbol: str) -> tuple[int, int] | None:
        """(slot, epoch) of a held symbol; O(1)."""
        with self._lock:
            slot = self._index.get(symbol)
            return None if slot is None else (slot, self._s.epoch[slot])

    def shadow(self, symbol: str) -> PositionShadow | None:
        """The synced and market fields of one position (local risk fields left at defaults)."""
        snap = self.snapshot()
        row = snap.row_of(symbol)
        return None if row is None else snap.position(row)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index


def build_snapshot(
    cols: tuple[IntArray, ...], symbols: list[str | None], tracks: list[object], last_sync: int
) -> ShadowSnapshot:
    qty, cost, price, high, low, price_us, opened_us, sync_us, epoch, track, etf, used = cols
    slots = np.flatnonzero(used).astype(np.int64)
    return ShadowSnapshot(
        slots=slots,
        epoch=epoch[slots],
        qty=qty[slots],
        cost=cost[slots],
        price=price[slots],
        high=high[slots],
        low=low[slots],
        price_us=price_us[slots],
        opened_us=opened_us[slots],
        sync_us=sync_us[slots],
        track=track[slots],
        etf=etf[slots].astype(np.bool_),
        slot_symbols=symbols,
        slot_tracks=tracks,
        capacity=len(used),
        last_sync_us=last_sync,
    )


class RiskLocals:
    """The loop thread's local fields, indexed by book slot and tied to a position by epoch."""

    def __init__(self) -> None:
        self._epoch = np.zeros(0, np.int64)
        self._rows = LocalRows.empty(0)

    def _grow(self, capacity: int) -> None:
        n = len(self._epoch)
        if capacity <= n:
            return
        size = max(capacity, 2 * n, 16)
        epoch = np.zeros(size, np.int64)
        epoch[:n] = self._epoch
        grown = LocalRows.empty(size)
        for name in LocalRows.__slots__:
            getattr(grown, name)[:n] = getattr(self._rows, name)
        self._epoch, self._rows = epoch, grown

    def gather(self, snap: ShadowSnapshot) -> LocalRows:
        """The local fields for the snapshot's rows; rows whose position changed start afresh."""
        self._grow(snap.capacity)
        s = snap.slots
        fresh = self._epoch[s] != snap.epoch
        rows = LocalRows(
            self._rows.stop_active[s],
            self._rows.stop_price[s],
            self._rows.partial_done[s],
            self._rows.vol_done[s],
            self._rows.extended[s],
            self._rows.warn_bits[s],
        )
        if fresh.any():
            for name in LocalRows.__slots__:
                getattr(rows, name)[fresh] = 0
        return rows

    def scatter(self, snap: ShadowSnapshot, rows: LocalRows) -> None:
        s = snap.slots
        self._epoch[s] = snap.epoch
        for name in LocalRows.__slots__:
            getattr(self._rows, name)[s] = getattr(rows, name)

    def row_view(self, slot: int, epoch: int) -> LocalRows | None:
        """One slot's local fields as a one-row LocalRows, if they belong to ``epoch``."""
        if slot >= len(self._epoch) or self._epoch[slot] != epoch:
            return None
        return LocalRows(*(getattr(self._rows, n)[slot : slot + 1] for n in LocalRows.__slots__))
