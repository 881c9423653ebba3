"""The order manager: the only code that sends orders and books fills.

Persist before acting: an order is stored as NEW before ``Broker.submit`` is called, and its id is
derived from the decision that made it, so a cycle re-run after a crash finds the stored order and
sends nothing twice. Fills are booked atomically (fill, ledger row, order, position, cash).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from qts.brokers.base import Ack, Broker, OrderRequest, OrderUpdate
from qts.core.errors import StorageError
from qts.core.ids import client_order_id
from qts.core.locks import ORDER_MANAGER, OrderedLock
from qts.data.ports import TradingStore
from qts.engines.contracts import ExecutionResult, HoldingView, OrderDecision, PendingSell
from qts.model.account import Account
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill
from qts.model.frame import Universe
from qts.model.instrument import Instrument
from qts.model.order import Order
from qts.model.position import Position

log = logging.getLogger(__name__)
ADOPTED = "adopted"  # the strategy tag of positions adopted from the broker at start-up
EMERGENCY_STRATEGY = "micro_risk"  # orders of the micro risk loop, not of a strategy
IntArray = npt.NDArray[np.int64]


@dataclass(slots=True)
class ReconcileReport:
    """What start-up reconciliation with the venue found and did."""

    fills_booked: int = 0
    orders_updated: int = 0
    orders_unknown_at_venue: list[str] = field(default_factory=list)
    orders_canceled: list[str] = field(default_factory=list)  # unknown at the venue: closed here
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


F = TypeVar("F", bound=Callable[..., Any])


def _locked(method: F) -> F:
    """Run under the manager's lock: fills from the P0 thread, orders from the ETEDA thread and
    emergency exits from the micro risk loop must not interleave."""

    @functools.wraps(method)
    def wrapper(self: OrderManager, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return method(self, *args, **kwargs)

    return cast(F, wrapper)


def _follow_on_slice(coid: str) -> bool:
    """A scalp slice after the first (``<execution>.<n>``, n > 1, or an adjustment's re-send):
    one execution is one trade however many slices it takes."""
    base, dot, tail = coid.rpartition(".")
    return bool(dot and base) and tail != "1"


class OrderManager:
    def __init__(
        self,
        run_id: str,
        broker: Broker,
        store: TradingStore,
        account: Account,
        universe: Universe,
        instruments: dict[str, Instrument],
        settlement_date: Callable[[date], date],
    ) -> None:
        self.run_id = run_id
        self.broker = broker
        self.store = store
        self.account = account
        self.universe = universe
        self.instruments = instruments
        self._settlement_date = settlement_date
        self._last_settlement: tuple[date, date] | None = None
        self.orders: dict[str, Order] = {o.client_order_id: o for o in store.load_orders()}
        self._open: dict[str, Order] = {
            k: o for k, o in self.orders.items() if not o.status.is_terminal
        }
        self.qty = np.zeros(len(universe), dtype=np.int64)
        self.cost = np.zeros(len(universe), dtype=np.int64)
        self.high = np.zeros(len(universe), dtype=np.int64)
        for pos in account.positions.values():
            if pos.symbol in universe:
                self._sync(pos.symbol)
        self.entries_by_day: dict[date, int] = {}
        # the positions' realized PnL summed, kept by every booking (the commit reads it each
        # cycle; a sum over every position the run ever had was O(symbols) per cycle)
        self.realized_pnl = sum(p.realized_pnl for p in account.positions.values())
        self._holdings: dict[str, HoldingView] | None = None
        self._changed: set[str] = set()  # symbols booked since the holdings views were made
        self._views: dict[str, HoldingView] = {}  # the last views made, by symbol
        self._unsaved: list[Order] = []
        self.lock = OrderedLock("order manager", ORDER_MANAGER)  # first in the lock order
        self.position_listeners: list[Callable[[Position], None]] = []
        for o in self.orders.values():
            self._count_entry(o)

    # --- views -------------------------------------------------------------------------------

    @_locked
    def open_orders(self) -> list[Order]:
        return list(self._open.values())

    @_locked
    def pending_qty(self, before: datetime) -> IntArray:
        """Signed remaining quantity of open orders per symbol: those created before ``before``
        and emergency exits (a cycle re-run after a crash must not see its own orders; it must
        see the micro risk loop's, which come before it)."""
        out = np.zeros(len(self.universe), dtype=np.int64)
        for o in self._open.values():
            early = o.created_at < before or o.strategy == EMERGENCY_STRATEGY
            if early and o.symbol in self.universe:
                out[self.universe.index(o.symbol)] += o.side.sign * o.remaining
        return out

    @_locked
    def pending_sells(self, before: datetime) -> dict[str, tuple[PendingSell, ...]]:
        """The open sells counted by :meth:`pending_qty` (same filter), by symbol."""
        out: dict[str, list[PendingSell]] = {}
        for o in self._open.values():
            emergency = o.strategy == EMERGENCY_STRATEGY
            early = o.created_at < before or emergency
            if o.side is OrderSide.SELL and o.remaining > 0 and early:
                out.setdefault(o.symbol, []).append(
                    PendingSell(
                        o.client_order_id, o.remaining, o.order_type, emergency, o.limit_price
                    )
                )
        return {s: tuple(v) for s, v in out.items()}

    @_locked
    def holdings(self) -> dict[str, HoldingView]:
        """Views of the open positions; rebuilt only after a fill, reusing the view of each
        position that the fill did not change."""
        if self._holdings is None:
            old, changed = self._views, self._changed
            views: dict[str, HoldingView] = {}
            for s, p in self.account.positions.items():
                if p.qty > 0:
                    v = old.get(s)
                    if v is None or s in changed:
                        v = HoldingView(s, p.qty, p.cost_basis, p.opened_at, p.strategy, p.track)
                    views[s] = v
            changed.clear()
            self._holdings = self._views = views
        return self._holdings

    # --- acting ------------------------------------------------------------------------------

    def submit(self, decision: OrderDecision, cycle_id: str, ts: datetime) -> ExecutionResult:
        return self.submit_all([decision], cycle_id, ts)[0]

    @_locked
    def submit_all(
        self,
        decisions: Sequence[OrderDecision],
        cycle_id: str,
        ts: datetime,
        save_answers: bool = True,
    ) -> tuple[ExecutionResult, ...]:
        """Persist every intent (one commit), send them, then store the venue's answers.

        A crash between the two leaves NEW orders that the re-run cycle sends. With
        ``save_answers=False`` the answers wait for the caller's next commit
        (:meth:`save_answers`), so a cycle pays for one commit less."""
        with self.store.transaction():
            prepared = [self._prepare(d, cycle_id, ts) for d in decisions]
        results: list[ExecutionResult] = []
        for item in prepared:
            if isinstance(item, ExecutionResult):
                results.append(item)
            else:
                results.append(self._send(item, ts))
                self._unsaved.append(item)
        if save_answers:
            with self.store.transaction():
                self.save_answers()
        return tuple(results)

    @_locked
    def save_answers(self) -> None:
        """Store what the venue answered to the orders sent since the last call."""
        for order in self._unsaved:
            self._save(order)
        self._unsaved.clear()

    def _prepare(
        self, decision: OrderDecision, cycle_id: str, ts: datetime
    ) -> Order | ExecutionResult:
        assert decision.action is not None
        coid = client_order_id(
            self.run_id, cycle_id, decision.strategy, decision.symbol, decision.action.value
        )
        order = self.orders.get(coid)
        if order is not None:
            if order.status is OrderStatus.NEW:
                return order  # stored by a cycle that crashed before sending it
            return ExecutionResult(
                coid,
                order.symbol,
                order.side,
                order.qty,
                "duplicate",
                f"already {order.status.value}",
            )
        order = Order(
            coid,
            decision.symbol,
            decision.action,
            decision.order_type,
            decision.qty,
            ts,
            decision.limit_price,
            decision.strategy,
            decision.track,
        )
        self.orders[coid] = order
        self._save(order)  # persist before acting
        self._count_entry(order)
        return order

    def _send(self, order: Order, ts: datetime) -> ExecutionResult:
        ack = self.broker.submit(
            OrderRequest(
                order.client_order_id,
                order.symbol,
                order.side,
                order.order_type,
                order.qty,
                order.limit_price,
            )
        )
        if ack.accepted:
            order.submit(ack.venue_order_id or "", ts)
            status = "submitted"
        else:
            order.reject(f"{ack.code}: {ack.reason}" if ack.code else ack.reason, ts)
            status = "rejected"
            log.warning(
                "order %s %s %s x%d rejected: %s",
                order.client_order_id,
                order.side,
                order.symbol,
                order.qty,
                order.reason,
            )
        return ExecutionResult(
            order.client_order_id,
            order.symbol,
            order.side,
            order.qty,
            status,
            order.reason,
            "" if ack.accepted else ack.code,
        )

    @_locked
    def place(self, order: Order, ts: datetime) -> Ack:
        """Send one order with a caller-chosen id (a scalp slice), persisted before sending.

        A known id is not opened twice: a stored NEW order (its send failed or crashed) is sent
        again, any other answers with the venue's first answer."""
        known = self.orders.get(order.client_order_id)
        if known is not None and known.status is not OrderStatus.NEW:
            return Ack(
                known.client_order_id,
                known.status is not OrderStatus.REJECTED,
                known.venue_order_id,
                known.reason,
                duplicate=True,
            )
        if known is None:
            self.orders[order.client_order_id] = order
            with self.store.transaction():
                self._save(order)  # persist before acting
            self._count_entry(order)
        target = known or order
        ack = self.broker.submit(
            OrderRequest(
                target.client_order_id,
                target.symbol,
                target.side,
                target.order_type,
                target.qty,
                target.limit_price,
            )
        )
        if ack.accepted:
            target.submit(ack.venue_order_id or "", ts)
        else:
            target.reject(f"{ack.code}: {ack.reason}" if ack.code else ack.reason, ts)
        with self.store.transaction():
            self._save(target)
        return ack

    @_locked
    def cancel_order(self, client_order_id: str, ts: datetime, reason: str) -> Ack:
        """Cancel one order: a never-sent one locally, a sent one at the venue (the venue's
        CANCELED notice closes the local record)."""
        order = self.orders.get(client_order_id)
        if order is None or order.status.is_terminal:
            return Ack(client_order_id, False, None, "no open order with this id", "UNKNOWN_ORDER")
        if order.status is OrderStatus.NEW:
            order.cancel(reason, ts)
            with self.store.transaction():
                self._save(order)
            return Ack(client_order_id, True)
        return self.broker.cancel(client_order_id)

    @_locked
    def cancel_open(self, ts: datetime, reason: str) -> None:
        for order in self.open_orders():
            if order.status is OrderStatus.NEW:
                order.cancel(reason, ts)
                self._save(order)
            else:
                self.broker.cancel(order.client_order_id)

    # --- booking -----------------------------------------------------------------------------

    @_locked
    def process_events(self) -> list[Fill]:
        """Book what the venue reported since the last call, in one commit."""
        events = self.broker.drain_events()
        booked: list[Fill] = []
        if not events:
            return booked
        with self.store.transaction():
            for event in events:
                if isinstance(event, Fill):
                    if self.book_fill(event):
                        booked.append(event)
                else:
                    self._apply_update(event)
        return booked

    @_locked
    def book_fill(self, fill: Fill) -> bool:
        """Book a venue fill once; a fill already booked is ignored."""
        order = self.orders.get(fill.client_order_id)
        if order is None:
            raise StorageError(
                f"fill {fill.fill_id}: order {fill.client_order_id} is unknown to this run"
            )
        if fill.fill_id in order.fill_ids:
            return False
        order.apply_fill(fill.fill_id, fill.qty, fill.price, fill.ts)
        before = self.account.positions.get(fill.symbol)
        realized_before = before.realized_pnl if before is not None else 0
        inst = self.instruments.get(fill.symbol)
        entry = self.account.apply_fill(
            fill,
            self._settles(fill.ts.date()),
            market=inst.market.value if inst else "KOSPI",
            track=order.track,
            strategy=order.strategy,
        )
        pos = self.account.positions[fill.symbol]
        self.realized_pnl += pos.realized_pnl - realized_before
        self._changed.add(fill.symbol)
        stored = self.store.record_fill(
            fill, entry, order, pos, self.account.cash, dict(self.account.pending)
        )
        if order.status.is_terminal:
            self._open.pop(order.client_order_id, None)
        if not stored:
            raise StorageError(f"fill {fill.fill_id}: the store had it, the account did not")
        if fill.symbol in self.universe:
            self._sync(fill.symbol)
        for listener in self.position_listeners:
            listener(pos)
        return True

    @_locked
    def adopt(self, symbol: str, qty: int, price: int, ts: datetime) -> bool:
        """Book a holding found at the broker (start-up adoption): a filled order and a
        zero-fee fill at the broker's average ``price``, tagged ``adopted`` (the position's
        strategy), persisted like any fill. False if this day's adoption was booked before."""
        coid = f"ADOPT-{ts:%Y%m%d}-{symbol}"
        if coid in self.orders:
            return False
        order = Order(coid, symbol, OrderSide.BUY, OrderType.MARKET, qty, ts, None, ADOPTED)
        self.orders[coid] = order
        self._open[coid] = order
        order.submit(f"adopted:{symbol}", ts)
        self._save(order)
        return self.book_fill(Fill(f"adopt-{ts:%Y%m%d}-{symbol}", coid, symbol, OrderSide.BUY,
                                   qty, price, ts))  # fmt: skip

    @_locked
    def apply_update(self, update: OrderUpdate) -> None:
        """A venue's notice that an order was canceled, expired or rejected after its ack."""
        self._apply_update(update)

    def _apply_update(self, update: OrderUpdate) -> None:
        order = self.orders.get(update.client_order_id)
        if order is None or order.status is update.status:
            return
        if update.status is OrderStatus.CANCELED:
            order.cancel(update.reason, update.ts)
        elif update.status is OrderStatus.EXPIRED:
            order.expire(update.reason or "session end", update.ts)
        elif update.status is OrderStatus.REJECTED:
            order.reject(update.reason, update.ts)
        else:
            return
        self._save(order)

    def _settles(self, day: date) -> date:
        """The settlement date of a trade on ``day`` (the last answer is kept: the fills of a
        cycle share their day)."""
        last = self._last_settlement
        if last is not None and last[0] == day:
            return last[1]
        settles = self._settlement_date(day)
        self._last_settlement = (day, settles)
        return settles

    def _count_entry(self, order: Order) -> None:
        """Entries (buys) per trading day, for the daily trade limit; exits are never limited."""
        if order.side is OrderSide.BUY and not _follow_on_slice(order.client_order_id):
            day = order.created_at.date()
            self.entries_by_day[day] = self.entries_by_day.get(day, 0) + 1

    def _save(self, order: Order) -> None:
        """Store the order and keep the open-order index in step with its status."""
        if order.status.is_terminal:
            self._open.pop(order.client_order_id, None)
        else:
            self._open[order.client_order_id] = order
        self.store.save_order(order)

    def _sync(self, symbol: str) -> None:
        self._holdings = None
        i = self.universe.index(symbol)
        pos = self.account.positions[symbol]
        self.qty[i] = pos.qty
        self.cost[i] = pos.cost_basis
        self.high[i] = pos.high_since_open

    # --- recovery ----------------------------------------------------------------------------

    @_locked
    def reconcile(self, ts: datetime, cancel_unknown: bool = False) -> ReconcileReport:
        """Bring local records in line with the venue: the venue's fills and statuses win.

        With ``cancel_unknown`` (a real broker: the crashed cycle is never re-run, its bars are
        gone) an open order the venue does not know is canceled here with the reason; the
        simulated exchange's runs replay the cycle instead, which sends a NEW order then."""
        report = ReconcileReport()
        booked = {f for o in self.orders.values() for f in o.fill_ids}
        for fill in self.broker.fills():
            if fill.fill_id in booked:
                continue
            if fill.client_order_id not in self.orders:
                report.problems.append(
                    f"venue fill {fill.fill_id} for unknown order {fill.client_order_id}"
                )
                continue
            order = self.orders[fill.client_order_id]
            if order.status is OrderStatus.NEW:
                # sent by a process that stopped before it stored the broker's answer: the
                # fill shows the broker took it (its number comes from the broker's record)
                venue = self.broker.order(order.client_order_id)
                order.submit(venue.venue_order_id if venue is not None else "", ts)
                report.orders_updated += 1
            self.book_fill(fill)
            report.fills_booked += 1
        for order in list(self.open_orders()):
            venue = self.broker.order(order.client_order_id)
            if venue is None:
                if order.status is not OrderStatus.NEW:
                    report.problems.append(
                        f"order {order.client_order_id} is {order.status} here, unknown at venue"
                    )
                report.orders_unknown_at_venue.append(order.client_order_id)
                if cancel_unknown:
                    was = order.status.value
                    order.cancel(f"unknown at the broker at start-up (was {was} here)", ts)
                    self._save(order)
                    report.orders_canceled.append(order.client_order_id)
                    log.warning(
                        "order %s (%s here) is unknown at the broker: canceled in the books",
                        order.client_order_id,
                        was,
                    )
                continue
            if order.status is OrderStatus.NEW:
                order.submit(venue.venue_order_id, ts)
                report.orders_updated += 1
            if venue.status.is_terminal and not order.status.is_terminal:
                if order.filled_qty != venue.filled_qty:
                    report.problems.append(
                        f"order {order.client_order_id}: filled {order.filled_qty} here, "
                        f"{venue.filled_qty} at venue"
                    )
                    continue
                self._apply_update(
                    OrderUpdate(order.client_order_id, venue.status, ts, venue.reason)
                )
                report.orders_updated += 1
            self._save(order)
        balance = self.broker.balance()
        for symbol, qty in balance.holdings.items():
            if self.account.held_qty(symbol) != qty:
                report.problems.append(
                    f"{symbol}: holding {self.account.held_qty(symbol)} here, {qty} at venue"
                )
        for pos in self.account.open_positions():
            if pos.symbol not in balance.holdings:
                report.problems.append(f"{pos.symbol}: holding {pos.qty} here, none at venue")
        return report

    def side_of(self, coid: str) -> OrderSide:
        return self.orders[coid].side
