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
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from qts.cache.errors import PriceDataUnavailableError
from qts.cache.keys import RISK_ACCOUNT, Family
from qts.cache.manager import CacheManager
from qts.cache.port import Hash
from qts.cache.values import CachedPosition, OrderStatusView, PriceQuote, RiskState
from qts.data.ports import TradingStore
from qts.model.order import Order

log = logging.getLogger(__name__)
V = TypeVar("V")


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
        self._risk: RiskState | None = None

    # --- prices ------------------------------------------------------------------------------

    def push_prices(self, quotes: Iterable[PriceQuote]) -> None:
        """The market-data push: the board first (the source), then ``price:{symbol}``."""
        batch: dict[str, PriceQuote] = {}
        with self._lock:
            for q in quotes:
                known = self._board.get(q.symbol)
                if known is not None and (
                    q.ts < known.ts or (q.ts, q.last) == (known.ts, known.last)
                ):
                    continue  # an older print never replaces a newer; the same one is no news
                self._board[q.symbol] = batch[q.symbol] = q
        if batch:
            self.manager.write_many(Family.PRICE, {s: q.to_hash() for s, q in batch.items()})

    def board(self, symbol: str) -> PriceQuote | None:
        """The feed's latest print of ``symbol`` (the source behind ``price:{symbol}``)."""
        with self._lock:
            return self._board.get(symbol)

    def _board_load(self, symbols: Sequence[str]) -> dict[str, Hash | None]:
        with self._lock:
            return {s: (q.to_hash() if (q := self._board.get(s)) else None) for s in symbols}

    def prices(self, symbols: Sequence[str]) -> dict[str, PriceQuote]:
        """Current prices of ``symbols`` in one round trip; symbols without a price are absent."""
        raw = self.manager.read_many(Family.PRICE, symbols, self._board_load)
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
            self.manager.write_many(Family.POSITION, values)

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
        raw = self.manager.read_many(Family.POSITION, symbols, self._store_positions)
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
        self.manager.write(Family.ORDER, order.client_order_id, OrderStatusView.of(order).to_hash())

    def _store_orders(self, ids: Sequence[str]) -> dict[str, Hash | None]:
        out: dict[str, Hash | None] = {}
        for coid in ids:
            o = self.store.get_order(coid)
            out[coid] = OrderStatusView.of(o).to_hash() if o else None
        return out

    def order(self, client_order_id: str) -> OrderStatusView | None:
        raw = self.manager.read_many(Family.ORDER, [client_order_id], self._store_orders)
        got = self._decode(Family.ORDER, raw, OrderStatusView.from_hash, self._store_orders)
        return got.get(client_order_id)

    # --- decoding ----------------------------------------------------------------------------

    def _decode(
        self,
        family: Family,
        raw: Mapping[str, Hash],
        decode: Callable[[str, Hash], V],
        load: Callable[[Sequence[str]], Mapping[str, Hash | None]],
    ) -> dict[str, V]:
        out: dict[str, V] = {}
        bad: list[str] = []
        for ident, h in raw.items():
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
