"""Typed reads and writes of the key catalogue, each with its source behind it.

* prices — pushed by the market-data handler (``price:{symbol}``, 100 ms); the source on a miss
  is the feed's own latest print per symbol (the price board): there is no database of live
  prices, as the spec says, but the process that receives the feed always has its last print.
* positions — written through after the store has booked a fill, refreshed with every bar
  (``pos:{symbol}``, 1 s); the source on a miss is the store (``load_positions``).
* risk state — published by the ETEDA cycle (``risk:account``, 5 s); the source is the latest
  state the cycle computed.
* order status — written through on fills and order notices (``ord:{id}``, 60 s); the source is
  the store (``get_order``).

A cached value that does not decode is treated like a miss: it is deleted and the source is read.

A bar's prices arrive as columns (:meth:`HotCache.push_frame`): the board keeps them as arrays
over the run's universe and writes them as one block, so a bar of a thousand symbols costs a few
array operations, not a thousand quotes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar, cast

import numpy as np

from qts.cache.errors import PriceDataUnavailableError
from qts.cache.keys import RISK_ACCOUNT, Family
from qts.cache.manager import CacheManager
from qts.cache.memory import now_ms
from qts.cache.pending import HeldWrites
from qts.cache.port import Hash, Made
from qts.cache.values import (
    CachedPosition,
    OrderStatusView,
    PriceQuote,
    RiskState,
    from_ms,
    ms,
)
from qts.core.arrays import unique_ints
from qts.data.ports import TradingStore
from qts.model.order import Order

PositionMaker = Callable[[], CachedPosition]

log = logging.getLogger(__name__)
V = TypeVar("V")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = _EPOCH.replace(tzinfo=None)
_US = timedelta(microseconds=1)


def _micros(ts: datetime) -> int:
    """Exact microseconds since the epoch (orders like the datetimes do)."""
    return (ts - (_EPOCH if ts.tzinfo is not None else _EPOCH_NAIVE)) // _US


def _as_read(p: CachedPosition) -> CachedPosition:
    """``p`` as its hash decodes: the opening time in whole milliseconds, in UTC."""
    if p.opened_at is None:
        return p
    return CachedPosition(  # the constructor: dataclasses.replace costs several times more
        p.symbol,
        p.qty,
        p.cost_basis,
        p.avg_price,
        p.last_price,
        p.unrealized_pnl,
        p.exposure_pct,
        from_ms(ms(p.opened_at)),
        p.track,
    )


class _BoardColumns:
    """The board of one universe as arrays: each symbol's last print (``ts_id`` -1: the symbol's
    print, if any, is in the board's dict instead)."""

    __slots__ = ("index", "last", "symbols", "times", "ts_id", "ts_us", "volume")

    def __init__(self, symbols: tuple[str, ...]) -> None:
        n = len(symbols)
        self.symbols = symbols
        self.index = {s: i for i, s in enumerate(symbols)}
        self.last = np.zeros(n, dtype=np.int64)
        self.volume = np.zeros(n, dtype=np.int64)
        self.ts_us = np.zeros(n, dtype=np.int64)
        self.ts_id = np.full(n, -1, dtype=np.int64)
        self.times: dict[int, datetime] = {}

    def quote(self, i: int) -> PriceQuote | None:
        k = int(self.ts_id[i])
        if k < 0:
            return None
        last = int(self.last[i])
        return PriceQuote(self.symbols[i], last, last, last, int(self.volume[i]), self.times[k])


class HotCache:
    def __init__(
        self,
        manager: CacheManager,
        store: TradingStore,
    ) -> None:
        self.manager = manager
        self.store = store
        self._lock = threading.Lock()
        self._board: dict[str, PriceQuote] = {}
        self._cols: _BoardColumns | None = None
        self._risk: RiskState | None = None
        # an in-process backend holds a burst's position and order write-throughs back until
        # the next read or write of their family (qts.cache.pending); others write each at once
        self._held = getattr(manager.backend, "in_process", False)
        self._held_positions: HeldWrites[int, PositionMaker] = HeldWrites()
        self._held_orders: HeldWrites[str, Hash] = HeldWrites()

    # --- prices ------------------------------------------------------------------------------

    def push_prices(self, quotes: Iterable[PriceQuote]) -> None:
        """The market-data push: the board first (the source), then ``price:{symbol}``."""
        batch: dict[str, PriceQuote] = {}
        with self._lock:
            cols = self._cols
            for q in quotes:
                known = self._known(q.symbol)
                if known is not None and (
                    q.ts < known.ts or (q.ts, q.last) == (known.ts, known.last)
                ):
                    continue  # an older print never replaces a newer; the same one is no news
                self._board[q.symbol] = batch[q.symbol] = q
                if cols is not None and (i := cols.index.get(q.symbol)) is not None:
                    cols.ts_id[i] = -1  # the dict has the newer print
        if batch:
            self.manager.write_many(Family.PRICE, {s: q.to_hash() for s, q in batch.items()})

    def push_frame(
        self,
        symbols: tuple[str, ...],
        close: np.ndarray,
        volume: np.ndarray,
        active: np.ndarray,
        ts: datetime,
    ) -> None:
        """A bar's prints as columns (``symbols[i]`` last traded at ``close[i]``; inactive or
        non-positive closes are no print): the same rules and result as :meth:`push_prices` of
        ``PriceQuote(symbol, close, close, close, volume, ts)`` for each, in one block write."""
        close = np.asarray(close, dtype=np.int64).copy()
        volume = np.asarray(volume).astype(np.int64)
        t = _micros(ts)
        with self._lock:
            cols = self._cols
            if cols is None or (cols.symbols is not symbols and cols.symbols != symbols):
                cols = self._spill_columns(symbols)
            has = cols.ts_id >= 0
            stale = has & ((t < cols.ts_us) | ((t == cols.ts_us) & (close == cols.last)))
            news = np.asarray(active, dtype=bool) & (close > 0) & ~stale
            for s in [s for s in self._board if s in cols.index]:  # prints pushed one by one
                i = cols.index[s]
                if not news[i]:
                    continue
                known = self._board[s]
                if ts < known.ts or (ts, int(close[i])) == (known.ts, known.last):
                    news[i] = False
                else:
                    del self._board[s]
            if not news.any():
                return
            k = len(cols.times) and max(cols.times) + 1
            cols.times[k] = ts
            cols.last[news] = close[news]
            cols.volume[news] = volume[news]
            cols.ts_us[news] = t
            cols.ts_id[news] = k
            if len(cols.times) > 8:
                used = set(unique_ints(cols.ts_id).tolist())
                cols.times = {j: d for j, d in cols.times.items() if j in used or j == k}
        stamp_ms = ms(ts)
        stamp = str(stamp_ms)
        seen = from_ms(stamp_ms)  # the print's time as its hash decodes (whole ms, UTC)

        def make(i: int) -> Hash:
            last = str(int(close[i]))
            return {
                "last": last,
                "bid": last,
                "ask": last,
                "volume": str(int(volume[i])),
                "last_ts": stamp,
            }

        def typed(i: int) -> PriceQuote:
            last = int(close[i])
            return PriceQuote(symbols[i], last, last, last, int(volume[i]), seen)

        self.manager.write_block(Family.PRICE, symbols, news, make, typed)

    def _spill_columns(self, symbols: tuple[str, ...]) -> _BoardColumns:
        """A new universe: the old columns' prints move to the dict (under the lock)."""
        old = self._cols
        if old is not None:
            for i, s in enumerate(old.symbols):
                q = old.quote(i)
                if q is not None:
                    self._board[s] = q
        cols = self._cols = _BoardColumns(symbols)
        return cols

    def _known(self, symbol: str) -> PriceQuote | None:
        """The board's print of ``symbol`` (under the lock)."""
        cols = self._cols
        if cols is not None and (i := cols.index.get(symbol)) is not None:
            q = cols.quote(i)
            if q is not None:
                return q
        return self._board.get(symbol)

    def board(self, symbol: str) -> PriceQuote | None:
        """The feed's latest print of ``symbol`` (the source behind ``price:{symbol}``)."""
        with self._lock:
            return self._known(symbol)

    def _board_load(self, symbols: Sequence[str]) -> dict[str, Hash | None]:
        with self._lock:
            return {s: (q.to_hash() if (q := self._known(s)) else None) for s in symbols}

    def prices(self, symbols: Sequence[str]) -> dict[str, PriceQuote]:
        """Current prices of ``symbols`` in one round trip; symbols without a price are absent."""
        raw = self.manager.read_values(Family.PRICE, symbols, self._board_load)
        return self._decode(Family.PRICE, raw, PriceQuote.from_hash, self._board_load)

    def price(self, symbol: str) -> PriceQuote:
        q = self.prices([symbol]).get(symbol)
        if q is None:
            raise PriceDataUnavailableError(symbol)
        return q

    # --- positions ---------------------------------------------------------------------------

    def write_positions(self, positions: Iterable[CachedPosition]) -> None:
        """Write-through (the store already has them); flat symbols are written as qty 0."""
        values = {p.symbol: p.to_hash() for p in positions}
        if values:
            with self._held_positions.flush_lock:
                self._flush_positions()
                self.manager.write_many(Family.POSITION, values)

    def write_position(self, symbols: tuple[str, ...], i: int, make: PositionMaker) -> None:
        """A fill's write-through of ``symbols[i]``'s position (``make()``: its value as of
        now); an in-process cache holds it back until it could be read."""
        if not self._held:
            self.write_position_block(symbols, lambda _i: make(), i)
            return
        now = now_ms(self.manager.clock)
        while not self._held_positions.add(i, make, now, symbols):
            self.flush_positions()  # others are held: out with them first

    def write_position_block(
        self,
        symbols: tuple[str, ...],
        make: Callable[[int], CachedPosition],
        mask: np.ndarray | int | None = None,
    ) -> None:
        """Write-through of every symbol's position, or those in ``mask`` (an integer: that one
        index; ``make(i)`` for ``symbols[i]``; see :meth:`CacheManager.write_block` for when it
        is called). Held position writes go first."""
        with self._held_positions.flush_lock:
            self._flush_positions()
            self._put_positions(symbols, make, mask)

    def _put_positions(
        self,
        symbols: tuple[str, ...],
        make: Callable[[int], CachedPosition],
        mask: np.ndarray | int | None,
        stamp_ms: int | None = None,
    ) -> None:
        self.manager.write_block(
            Family.POSITION,
            symbols,
            mask,
            lambda i: make(i).to_hash(),
            lambda i: _as_read(make(i)),
            stamp_ms,
        )

    def flush_positions(self) -> None:
        """Write out the held position writes (before a read, a report or closing)."""
        if self._held_positions.items:
            with self._held_positions.flush_lock:
                self._flush_positions()

    def _flush_positions(self) -> None:
        """(Under the held positions' ``flush_lock``.) One block write of them."""
        symbols, stamp, makers = self._held_positions.take()
        if not makers or symbols is None:
            return
        if len(makers) == 1:
            mask: np.ndarray | int = next(iter(makers))
        else:
            mask = np.zeros(len(symbols), dtype=bool)
            mask[list(makers)] = True
        self._put_positions(symbols, lambda i: makers[i](), mask, stamp)

    def _store_positions(self, symbols: Sequence[str]) -> dict[str, Hash | None]:
        stored = self.store.load_positions()
        risk = self.last_risk
        equity = risk.equity if risk else 0
        out: dict[str, Hash | None] = {}
        for s in symbols:
            p = stored.get(s)
            out[s] = (CachedPosition.of(p, equity) if p else CachedPosition.flat(s)).to_hash()
        return out

    def positions(self, symbols: Sequence[str]) -> dict[str, CachedPosition]:
        self.flush_positions()
        raw = self.manager.read_values(Family.POSITION, symbols, self._store_positions)
        return self._decode(Family.POSITION, raw, CachedPosition.from_hash, self._store_positions)

    def position(self, symbol: str) -> CachedPosition:
        return self.positions([symbol]).get(symbol) or CachedPosition.flat(symbol)

    # --- risk state --------------------------------------------------------------------------

    @property
    def last_risk(self) -> RiskState | None:
        with self._lock:
            return self._risk

    def publish_risk(self, state: RiskState) -> None:
        with self._lock:
            self._risk = state
        self.manager.write(Family.RISK, RISK_ACCOUNT, state.to_hash())

    def _risk_load(self, _ids: Sequence[str]) -> dict[str, Hash | None]:
        with self._lock:
            state = self._risk
        return {RISK_ACCOUNT: state.to_hash() if state else None}

    def risk(self) -> RiskState | None:
        raw = self.manager.read_many(Family.RISK, [RISK_ACCOUNT], self._risk_load)
        got = self._decode(Family.RISK, raw, lambda _k, h: RiskState.from_hash(h), self._risk_load)
        return got.get(RISK_ACCOUNT)

    def invalidate_risk(self) -> None:
        self.manager.invalidate(Family.RISK, [RISK_ACCOUNT])

    # --- order status ------------------------------------------------------------------------

    def write_order(self, order: Order) -> None:
        """An order's write-through (its status as of now); an in-process cache holds it back
        until it could be read."""
        fields = OrderStatusView.hash_of(order)
        if not self._held:
            self.manager.write(Family.ORDER, order.client_order_id, fields)
            return
        now = now_ms(self.manager.clock)
        while not self._held_orders.add(order.client_order_id, fields, now):
            self.flush_orders()

    def flush_orders(self) -> None:
        """Write out the held order writes (before a read, a report or closing)."""
        held = self._held_orders
        if held.items:
            with held.flush_lock:
                _, stamp, orders = held.take()
                if orders:
                    self.manager.write_many(Family.ORDER, orders, stamp)

    def flush(self) -> None:
        """Write out every held write (before the cache is reported on or closed)."""
        self.flush_positions()
        self.flush_orders()

    def _store_orders(self, ids: Sequence[str]) -> dict[str, Hash | None]:
        out: dict[str, Hash | None] = {}
        for coid in ids:
            o = self.store.get_order(coid)
            out[coid] = OrderStatusView.hash_of(o) if o else None
        return out

    def order(self, client_order_id: str) -> OrderStatusView | None:
        self.flush_orders()
        raw = self.manager.read_many(Family.ORDER, [client_order_id], self._store_orders)
        got = self._decode(Family.ORDER, raw, OrderStatusView.from_hash, self._store_orders)
        return got.get(client_order_id)

    # --- decoding ----------------------------------------------------------------------------

    def _decode(
        self,
        family: Family,
        raw: Mapping[str, Hash | Made] | Mapping[str, Hash],
        decode: Callable[[str, Hash], V],
        load: Callable[[Sequence[str]], Mapping[str, Hash | None]],
    ) -> dict[str, V]:
        out: dict[str, V] = {}
        bad: list[str] = []
        for ident, h in raw.items():
            if isinstance(h, Made):  # already what the hash would decode to
                out[ident] = cast(V, h.value)
                continue
            try:
                out[ident] = decode(ident, h)
            except ValueError as exc:
                log.warning("%s", exc)
                bad.append(ident)
        if bad:
            self.manager.invalidate(family, bad)
            for ident, fresh in load(bad).items():
                if fresh is not None:
                    out[ident] = decode(ident, fresh)
        return out
