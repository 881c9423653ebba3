"""The simulated KRX matching engine: orders rest here and fill against the bars of a feed.

Market data arrives as :class:`~qts.model.frame.BarFrame` cross-sections. Per frame the engine
does O(1) numpy bookkeeping for the whole universe (the last close of every symbol, for tomorrow's
price limits) and per-order work only for symbols that have resting orders, so an idle exchange
costs a few microseconds per frame however wide the universe is.

Every rule the engine applies is listed in docs/simulator.md; the short version:

* an order reaches the venue ``latency`` after submit and belongs to one trading day (the day of
  that instant, or the next trading day when it arrives after the close: a reserved order);
* it may fill in a bar that starts at or after it arrived, on its day; at the day's session close
  it expires (DAY order);
* MARKET fills at the bar's open; a LIMIT buy at the open if the open is at or below the limit,
  else at the limit if the low reaches it (sells mirror this);
* all our orders in a symbol share at most ``floor(volume × participation)`` shares per bar, in
  price-time priority;
* limit prices must be on the tick grid and inside the daily ±30 % band; fills are clipped into
  the band.

The order records are in :mod:`~qts.brokers.sim.records`, the price checks of new and replaced
orders in :mod:`~qts.brokers.sim.admission`, priority and fill prices in a bar in
:mod:`~qts.brokers.sim.bar_matching`; prices, limits and trading days in
:mod:`~qts.brokers.sim.market_state`, the order views, journal support and restore in
:mod:`~qts.brokers.sim.venue_state` (base classes of :class:`SimExchange`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

import numpy as np

from qts.brokers.base import Ack, BrokerEvent, OrderRequest, OrderUpdate
from qts.brokers.sim.account import SimAccount
from qts.brokers.sim.admission import (
    Refused,
    check_price,
    check_price_given,
    market_hold_price,
    outside_limits_reason,
)
from qts.brokers.sim.bar_matching import fill_price, priority
from qts.brokers.sim.book import Level
from qts.brokers.sim.config import RejectCode, SimConfig
from qts.brokers.sim.lob import BookMatcher
from qts.brokers.sim.records import (
    Changes,
    SimOrder,
    fill_id,
    venue_order_id,
    with_code,
)
from qts.brokers.sim.venue_state import VenueState
from qts.core.time import require_aware
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.fees import FeeModel, KrxFees
from qts.market.krx.price_limit import PriceLimits
from qts.market.krx.rules import rules_for
from qts.market.krx.sessions import accepts_regular_orders, phase_at
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill
from qts.model.frame import BarFrame, IntArray, Universe
from qts.model.instrument import Instrument

_BUY = OrderSide.BUY
_SELL = OrderSide.SELL
_LIMIT = OrderType.LIMIT
_OPEN = (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)


class SimExchange(VenueState):
    """A KRX-like venue fed by bar frames. Not thread-safe: the broker serialises calls."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        config: SimConfig | None = None,
        *,
        account: SimAccount | None = None,
        fees: FeeModel | None = None,
        calendar: KrxCalendar | None = None,
        reference_prices: Mapping[str, int] | None = None,
        record_changes: bool = False,
    ) -> None:
        for symbol, inst in instruments.items():
            if inst.symbol != symbol:
                raise ValueError(f"sim exchange: key {symbol!r} holds instrument {inst.symbol!r}")
        self.instruments = dict(instruments)
        self.config = config or SimConfig()
        self.account = account
        self.fees: FeeModel = fees if fees is not None else KrxFees()
        self.calendar = calendar or KrxCalendar()
        self._last_trading_day: tuple[datetime, tuple[date, datetime, datetime]] | None = None
        ratio = self.config.participation_ratio
        self._num, self._den = ratio.numerator, ratio.denominator
        self._record = record_changes
        self._changes = Changes()

        self._orders: dict[str, SimOrder] = {}  # every order by client id, rejected ones too
        self._open: dict[str, SimOrder] = {}  # open orders in acceptance order
        self._waiting: list[SimOrder] = []  # accepted, not yet in the book
        self._book: dict[str, list[SimOrder]] = {}  # symbol -> orders in the book
        self._fills: list[Fill] = []
        self._events: list[BrokerEvent] = []
        self._venue_seq = 0
        self._fill_seq = 0
        self._arrival_seq = 0
        self._next_expiry: datetime | None = None

        # market state; arrays are indexed like the bound universe
        self._universe: Universe | None = None
        self._col: dict[str, int] = {}
        self._last_close: IntArray = np.zeros(0, dtype=np.int64)
        self._base: IntArray = np.zeros(0, dtype=np.int64)
        self._pre_close: dict[str, int] = {}  # last closes known outside the bound universe
        self._pre_base: dict[str, int] = {}
        for symbol, price in (reference_prices or {}).items():
            if price <= 0:
                raise ValueError(f"sim exchange: reference price of {symbol} must be positive")
            self._pre_close[symbol] = price
        self._last_start: datetime | None = None
        self._day: date | None = None
        self._next_midnight: datetime | None = None
        self._limits: dict[str, PriceLimits | None] = {}
        self._settle: dict[date, date] = {}
        self.lob = BookMatcher(self)  # symbols with quotes trade on a limit order book

    def add_instrument(self, instrument: Instrument, reference_price: int) -> None:
        """List ``instrument`` with ``reference_price`` as its previous close (and, until its
        first frame of a day, its base price). Known symbols are left alone."""
        if instrument.symbol in self.instruments:
            return
        if reference_price <= 0:
            raise ValueError(f"sim exchange: reference price of {instrument.symbol} must be > 0")
        self.instruments[instrument.symbol] = instrument
        self._pre_close.setdefault(instrument.symbol, reference_price)
        self._pre_base.setdefault(instrument.symbol, reference_price)
        self._limits.pop(instrument.symbol, None)

    # ------------------------------------------------------------------ requests

    def submit(self, request: OrderRequest, now: datetime) -> Ack:
        """Accept or reject a new order. A known client order id returns its first answer."""
        require_aware(now, "submit time")
        prior = self._orders.get(request.client_order_id)
        if prior is not None:
            return prior.ack(duplicate=True)
        try:
            order = self._admit(request, now)
        except Refused as refusal:
            return self._reject(request, now, refusal.code, refusal.reason)
        self._orders[order.client_order_id] = order
        self._open[order.client_order_id] = order
        in_book = self.lob.active(order.symbol)
        if not in_book:
            self._waiting.append(order)
        self._set_hold(order)
        if self._next_expiry is None or order.expires_at < self._next_expiry:
            self._next_expiry = order.expires_at
        self._touch(order)
        if in_book:
            self._events.extend(self.lob.submit(order, now))
        return order.ack()

    def _admit(self, request: OrderRequest, now: datetime) -> SimOrder:
        """The new order, or :class:`Refused` with the first rule it breaks."""
        symbol = request.symbol
        inst = self.instruments.get(symbol)
        if inst is None:
            raise Refused(RejectCode.UNKNOWN_SYMBOL, f"{symbol!r} is not listed on this venue")
        if request.qty <= 0:
            raise Refused(
                RejectCode.INVALID_QTY, f"qty must be a positive whole number, got {request.qty}"
            )
        price = request.limit_price
        check_price_given(request.order_type, price)
        # every order here is a regular one: the after-hours sessions take only their own types
        if not self.config.allow_reservation and not accepts_regular_orders(
            phase_at(now, self.calendar)
        ):
            raise Refused(
                RejectCode.MARKET_CLOSED,
                f"the market is closed at {now.isoformat()} and reserved orders are off",
            )
        eligible = now + self.config.latency
        day, activate_at, expires_at = self._trading_day(eligible)
        rules = rules_for(inst, day)
        grid = rules.grid
        limits = self._limits_for(symbol, day, inst, rules)
        if price is not None:
            check_price(price, limits, grid)
        hold_price = 0
        account = self.account
        if account is not None:
            if request.side is _BUY:
                hold_price = price or market_hold_price(
                    symbol, self._close_of(symbol), self.config.market_buy_hold, limits, inst, day
                )
                need = self._buy_hold(hold_price, request.qty, inst)
                if need > account.free_cash:
                    raise Refused(
                        RejectCode.INSUFFICIENT_CASH,
                        f"needs {need} won ({request.qty} × {hold_price} + commission), "
                        f"free cash is {account.free_cash}",
                    )
            elif request.qty > account.sellable(symbol):
                raise Refused(
                    RejectCode.INSUFFICIENT_HOLDINGS,
                    f"sells {request.qty} {symbol}, sellable {account.sellable(symbol)} "
                    "(no short selling)",
                )
        self._venue_seq += 1
        self._arrival_seq += 1
        return SimOrder(
            client_order_id=request.client_order_id,
            venue_order_id=venue_order_id(self._venue_seq),
            symbol=symbol,
            side=request.side,
            order_type=request.order_type,
            qty=request.qty,
            limit_price=price,
            submitted_at=now,
            eligible_at=eligible,
            activate_at=activate_at,
            expires_at=expires_at,
            day=day,
            seq=self._arrival_seq,
            hold_price=hold_price,
            updated_at=now,
        )

    def cancel(self, client_order_id: str, now: datetime) -> Ack:
        """Cancel an open order at once (cancels never race fills; see docs/simulator.md)."""
        require_aware(now, "cancel time")
        order = self._open.get(client_order_id)
        if order is None:
            return self._unknown(client_order_id)
        self._close(order, OrderStatus.CANCELED, now, "canceled by the client", self._events)
        return Ack(client_order_id, True, order.venue_order_id)

    def replace(
        self, client_order_id: str, qty: int, limit_price: int | None, now: datetime
    ) -> Ack:
        """Change qty and/or limit price of an open order (None keeps a LIMIT order's price).

        The order keeps its time priority only when the price is unchanged and the qty does not
        grow; otherwise it is re-sent: new priority, at the venue again after ``latency``.
        """
        require_aware(now, "replace time")
        order = self._open.get(client_order_id)
        if order is None:
            return self._unknown(client_order_id)
        try:
            new_price, hold_price = self._check_replace(order, qty, limit_price)
        except Refused as refusal:
            return Ack(client_order_id, False, order.venue_order_id, refusal.reason, refusal.code)
        keeps_priority = new_price == order.limit_price and qty <= order.qty
        order.qty = qty
        order.limit_price = new_price
        order.hold_price = hold_price
        if not keeps_priority:
            self._arrival_seq += 1
            order.seq = self._arrival_seq
            order.eligible_at = max(order.eligible_at, now + self.config.latency)
            order.activate_at = max(order.activate_at, order.eligible_at)
        order.updated_at = now
        self._set_hold(order)
        self._touch(order)
        if self.lob.owns(order):
            self._events.extend(self.lob.replaced(order, keeps_priority, now))
        return Ack(client_order_id, True, order.venue_order_id)

    def _check_replace(
        self, order: SimOrder, qty: int, limit_price: int | None
    ) -> tuple[int | None, int]:
        """(new limit price, new hold price) or :class:`Refused`."""
        if qty <= order.filled_qty:
            raise Refused(
                RejectCode.INVALID_QTY,
                f"new qty {qty} must exceed the {order.filled_qty} already filled; "
                "cancel the order to stop it",
            )
        inst = self.instruments[order.symbol]
        new_price = limit_price
        if order.order_type is _LIMIT and limit_price is None:
            new_price = order.limit_price
        check_price_given(order.order_type, new_price)
        if new_price is not None:
            limits = self._limits_for(order.symbol, order.day, inst)
            check_price(new_price, limits, rules_for(inst, order.day).grid)
        hold_price = new_price if new_price is not None else order.hold_price
        account = self.account
        left = qty - order.filled_qty
        if account is not None:
            if order.side is _BUY:
                need = self._buy_hold(hold_price, left, inst) - order.hold_cash
                if need > account.free_cash:
                    raise Refused(
                        RejectCode.INSUFFICIENT_CASH,
                        f"needs {need} won more, free cash is {account.free_cash}",
                    )
            elif left - order.hold_qty > account.sellable(order.symbol):
                raise Refused(
                    RejectCode.INSUFFICIENT_HOLDINGS,
                    f"would sell {left - order.hold_qty} more {order.symbol}, sellable "
                    f"{account.sellable(order.symbol)} (no short selling)",
                )
        return new_price, hold_price

    # ------------------------------------------------------------------ market data

    def on_frame(self, frame: BarFrame) -> list[BrokerEvent]:
        """Match resting orders against one frame; returns (and queues) the events it caused.

        A frame that does not start after the last processed one is ignored, so replaying a
        feed after a restart cannot fill anything twice.
        """
        start = frame.start
        last = self._last_start
        if last is not None and start <= last:
            return []
        if frame.universe is not self._universe:
            self._bind(frame.universe)
        events: list[BrokerEvent] = []
        next_midnight = self._next_midnight
        if next_midnight is None or start >= next_midnight:
            self._new_day(start)
        if self._next_expiry is not None and start >= self._next_expiry:
            self._expire_due(start, events)
        if self._waiting:
            self._activate(start, events)
        if self._book:
            self._match(frame, events)
        np.copyto(self._last_close, frame.close, where=frame.active)
        self._last_start = start
        if self._record:
            self._changes.market = True
        if events:
            self._events.extend(events)
        return events

    def on_quotes(
        self, symbol: str, bids: Iterable[Level], asks: Iterable[Level], ts: datetime
    ) -> list[BrokerEvent]:
        """A quote snapshot (best first per side): the symbol trades on its book from now on."""
        self.advance(ts)
        events = self.lob.on_quotes(symbol, bids, asks, ts)
        self._events.extend(events)
        return events

    def on_print(self, symbol: str, price: int, volume: int, ts: datetime) -> list[BrokerEvent]:
        """A trade of other participants in a book-mode symbol."""
        self.advance(ts)
        events = self.lob.on_print(symbol, price, volume, ts)
        self._events.extend(events)
        return events

    def affordable(self, order: SimOrder, qty: int, price: int) -> int:
        assert self.account is not None
        return self._affordable(order, qty, price, self.instruments[order.symbol], self.account)

    def book_fill(
        self, order: SimOrder, qty: int, price: int, ts: datetime, events: list[BrokerEvent]
    ) -> None:
        self._fill(order, qty, price, ts, self.instruments[order.symbol], events)

    def advance(self, now: datetime) -> list[BrokerEvent]:
        """Apply what time alone changes (DAY orders expiring at the close); returns the events."""
        nxt = self._next_expiry
        if nxt is None or now < nxt:
            return []
        events: list[BrokerEvent] = []
        self._expire_due(now, events)
        self._events.extend(events)
        return events

    # ------------------------------------------------------------------ internals

    def _reject(self, request: OrderRequest, now: datetime, code: str, reason: str) -> Ack:
        """Record a refused order (so a resubmission of its id gets the same answer)."""
        order = SimOrder.rejected(request, now, code, reason)
        self._orders[order.client_order_id] = order
        self._touch(order)
        return order.ack()

    def _unknown(self, client_order_id: str) -> Ack:
        known = self._orders.get(client_order_id)
        if known is None:
            reason = f"no order {client_order_id!r} at this venue"
            return Ack(client_order_id, False, None, reason, RejectCode.UNKNOWN_ORDER)
        reason = f"order {client_order_id!r} is {known.status}, not open"
        return Ack(
            client_order_id, False, known.venue_order_id or None, reason, RejectCode.UNKNOWN_ORDER
        )

    def _touch(self, order: SimOrder) -> None:
        if self._record:
            self._changes.orders[order.client_order_id] = order

    def _buy_hold(self, price: int, qty: int, inst: Instrument) -> int:
        amount = price * qty
        return amount + self.fees.commission(amount, inst)

    def _set_hold(self, order: SimOrder) -> None:
        """Make the order's cash/share hold match what it can still trade."""
        account = self.account
        if account is None:
            return
        left = order.remaining if order.status in _OPEN else 0
        if order.side is _BUY:
            cash = self._buy_hold(order.hold_price, left, self.instruments[order.symbol])
            qty = 0
        else:
            cash, qty = 0, left
        account.change_hold(order.symbol, cash - order.hold_cash, qty - order.hold_qty)
        order.hold_cash, order.hold_qty = cash, qty

    def _close(
        self,
        order: SimOrder,
        status: OrderStatus,
        ts: datetime,
        reason: str,
        events: list[BrokerEvent],
        code: str = "",
    ) -> None:
        """End an open order (canceled, expired, rejected on arrival) and free what it held."""
        order.status = status
        order.reason = reason
        order.code = code
        order.updated_at = ts
        del self._open[order.client_order_id]
        self.lob.closed(order)
        if order.active:
            book = self._book.get(order.symbol)
            if book is not None:
                book.remove(order)
                if not book:
                    del self._book[order.symbol]
        elif order in self._waiting:
            self._waiting.remove(order)
        self._set_hold(order)
        self._touch(order)
        events.append(OrderUpdate(order.client_order_id, status, ts, with_code(code, reason)))

    def _expire_due(self, now: datetime, events: list[BrokerEvent]) -> None:
        nxt: datetime | None = None
        for order in list(self._open.values()):
            if order.expires_at <= now:
                reason = "day order expired at the session close"
                self._close(order, OrderStatus.EXPIRED, order.expires_at, reason, events)
            elif nxt is None or order.expires_at < nxt:
                nxt = order.expires_at
        self._next_expiry = nxt

    def _activate(self, start: datetime, events: list[BrokerEvent]) -> None:
        """Move orders whose time has come into the book, rechecking their day's limits."""
        waiting: list[SimOrder] = []
        arrived: list[SimOrder] = []
        for order in self._waiting:
            (arrived if order.activate_at <= start else waiting).append(order)
        if not arrived:
            return
        self._waiting = waiting
        for order in arrived:
            price = order.limit_price
            if price is not None and self.config.price_limits:
                inst = self.instruments[order.symbol]
                limits = self._limits_today(order.symbol, inst)
                if limits is not None and not limits.contains(price):
                    reason = outside_limits_reason(price, limits)
                    code = RejectCode.OUTSIDE_PRICE_LIMIT
                    self._close(order, OrderStatus.REJECTED, start, reason, events, code)
                    continue
            order.active = True
            self._book.setdefault(order.symbol, []).append(order)
            self._touch(order)

    def _match(self, frame: BarFrame, events: list[BrokerEvent]) -> None:
        start = frame.start
        col = self._col
        active = frame.active
        account = self.account
        emptied: list[str] = []
        for symbol, book in self._book.items():
            i = col.get(symbol)
            if i is None or not active[i]:
                continue
            cap = int(frame.volume[i]) * self._num // self._den
            if cap <= 0:
                continue
            op, hi, lo = int(frame.open[i]), int(frame.high[i]), int(frame.low[i])
            inst = self.instruments[symbol]
            grid = rules_for(inst, self._day).grid
            limits = self._limits_today(symbol, inst) if self.config.price_limits else None
            closed = False
            for order in book if len(book) == 1 else priority(book):
                if order.eligible_at > start:
                    continue
                price = fill_price(order, op, hi, lo, limits, grid)
                if price is None:
                    continue
                qty = min(order.remaining, cap)
                if account is not None and order.side is _BUY:
                    qty = self._affordable(order, qty, price, inst, account)
                    if qty <= 0:
                        continue
                self._fill(order, qty, price, start, inst, events)
                closed = closed or order.status is OrderStatus.FILLED
                cap -= qty
                if cap == 0:
                    break
            if closed:
                book[:] = [o for o in book if o.status in _OPEN]
                if not book:
                    emptied.append(symbol)
        for symbol in emptied:
            del self._book[symbol]

    def _affordable(
        self, order: SimOrder, qty: int, price: int, inst: Instrument, account: SimAccount
    ) -> int:
        """Cut a buy fill to what the order's hold plus free cash can pay (cash never < 0)."""
        available = account.free_cash + order.hold_cash
        commission = self.fees.commission
        while qty > 0:
            amount = qty * price
            if amount + commission(amount, inst) <= available:
                return qty
            qty = min(qty - 1, available // price)
        return 0

    def _fill(
        self,
        order: SimOrder,
        qty: int,
        price: int,
        ts: datetime,
        inst: Instrument,
        events: list[BrokerEvent],
    ) -> None:
        self._fill_seq += 1
        amount = qty * price
        commission = self.fees.commission(amount, inst)
        tax = 0
        if order.side is _SELL:
            tax = self.fees.sell_tax(amount, inst, self._settle_date(ts))
        fill = Fill(
            fill_id(self._fill_seq),
            order.client_order_id,
            order.symbol,
            order.side,
            qty,
            price,
            ts,
            commission,
            tax,
        )
        order.filled_qty += qty
        order.updated_at = ts
        if order.filled_qty == order.qty:
            order.status = OrderStatus.FILLED
            del self._open[order.client_order_id]
        else:
            order.status = OrderStatus.PARTIALLY_FILLED
        account = self.account
        if account is not None:
            if order.side is _BUY:
                account.bought(order.symbol, qty, amount + commission)
            else:
                account.sold(order.symbol, qty, amount - commission - tax)
            self._set_hold(order)
        self._fills.append(fill)
        events.append(fill)
        if self._record:
            self._changes.orders[order.client_order_id] = order
            self._changes.fills.append(fill)
            self._changes.holdings.add(order.symbol)
