"""What the simulated exchange shows of its state and how it is rebuilt, split from
:mod:`~qts.brokers.sim.exchange` to keep that module about matching: the order status views and
queries the broker answers from, and the journal's side (changes since the last call, id
counters, market state, :meth:`VenueState.restore` after a restart).

:class:`VenueState` is a base class of :class:`~qts.brokers.sim.exchange.SimExchange`; the
exchange's ``__init__`` sets the attributes declared here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from qts.brokers.base import BrokerEvent, VenueOrder
from qts.brokers.sim.account import SimAccount
from qts.brokers.sim.market_state import MarketState, _midnight
from qts.brokers.sim.records import Changes, ExchangeState, SimOrder
from qts.core.errors import StorageError
from qts.model.enums import OrderStatus
from qts.model.fill import Fill
from qts.model.frame import Universe

_OPEN = (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)


class VenueState(MarketState):
    """Order views, journal changes and restore of a
    :class:`~qts.brokers.sim.exchange.SimExchange`."""

    account: SimAccount | None
    _changes: Changes
    _orders: dict[str, SimOrder]
    _open: dict[str, SimOrder]
    _waiting: list[SimOrder]
    _book: dict[str, list[SimOrder]]
    _fills: list[Fill]
    _events: list[BrokerEvent]
    _venue_seq: int
    _fill_seq: int
    _arrival_seq: int
    _next_expiry: datetime | None

    # ------------------------------------------------------------------ queries

    def drain_events(self) -> list[BrokerEvent]:
        events, self._events = self._events, []
        return events

    def open_orders(self) -> list[VenueOrder]:
        return [o.view() for o in self._open.values()]

    def order(self, client_order_id: str) -> VenueOrder | None:
        o = self._orders.get(client_order_id)
        return o.view() if o is not None else None

    def sim_order(self, client_order_id: str) -> SimOrder | None:
        """The venue's full record (timings, holds, priority), for tests and diagnostics."""
        return self._orders.get(client_order_id)

    def fills(self) -> list[Fill]:
        return list(self._fills)

    @property
    def last_frame_start(self) -> datetime | None:
        return self._last_start

    # ------------------------------------------------------------------ journal support

    def take_changes(self) -> Changes:
        changes, self._changes = self._changes, Changes()
        return changes

    def counters(self) -> dict[str, int]:
        return {"venue": self._venue_seq, "fill": self._fill_seq, "arrival": self._arrival_seq}

    def restore(self, state: ExchangeState) -> None:
        """Rebuild from a journal. Only valid on a fresh exchange."""
        if self._orders or self._fills or self._last_start is not None:
            raise RuntimeError("sim exchange: restore needs a fresh exchange")
        unknown = sorted({o.symbol for o in state.orders if o.accepted} - set(self.instruments))
        if unknown:
            raise StorageError(
                f"sim exchange: the journal has orders for symbols not given as instruments: "
                f"{', '.join(unknown)} (the journal belongs to another run)"
            )
        for order in state.orders:
            self._orders[order.client_order_id] = order
            if order.status in _OPEN:
                self._open[order.client_order_id] = order
                if order.active:
                    self._book.setdefault(order.symbol, []).append(order)
                else:
                    self._waiting.append(order)
                if self._next_expiry is None or order.expires_at < self._next_expiry:
                    self._next_expiry = order.expires_at
        self._fills = list(state.fills)
        self._venue_seq = state.counters["venue"]
        self._fill_seq = state.counters["fill"]
        self._arrival_seq = state.counters["arrival"]
        if self.account is not None:
            acct = self.account
            acct.initial_cash = state.initial_cash
            acct.cash = state.cash
            acct.holdings = {s: q for s, q in state.holdings.items() if q}
            acct.held_cash = 0
            acct.held_qty = {}
            for order in self._open.values():
                acct.change_hold(order.symbol, order.hold_cash, order.hold_qty)
        self._pre_close = dict(state.pre_close)
        self._pre_base = dict(state.pre_base)
        if state.universe is not None and state.base is not None and state.last_close is not None:
            self._universe = Universe(state.universe)
            self._col = {s: i for i, s in enumerate(state.universe)}
            self._base = np.array(state.base, dtype=np.int64)
            self._last_close = np.array(state.last_close, dtype=np.int64)
        self._last_start = state.last_start
        self._day = state.day
        if state.day is not None:
            self._next_midnight = _midnight(state.day + timedelta(days=1))
        self._limits.clear()
