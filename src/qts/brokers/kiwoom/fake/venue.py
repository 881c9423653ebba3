"""The fake's account: Kiwoom order numbers and executions over a real :class:`SimBroker`.

The simulator matches and books; this layer adds what Kiwoom adds on top: a 7-digit ``ord_no``
per order, a **new number per modify** (``orig_ord_no`` points back; fills after the modify
belong to the new number), a number per cancel, an execution number (``cntr_no``) per fill,
today's fees per order, and the average purchase price per holding. Thread-safe: one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from qts.brokers.base import OrderRequest, OrderUpdate
from qts.brokers.sim import SimBroker, SimConfig
from qts.brokers.sim.bar_quotes import BarBook
from qts.core.clock import SimulatedClock
from qts.core.time import KST
from qts.feeds.synthetic_codes import SyntheticCatalog
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.fees import FeeModel, KrxFees
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill
from qts.model.frame import BarFrame
from qts.model.instrument import Instrument

# Kiwoom's widely quoted online commission (0.015 %, exchange fees included) [obs]; the sell
# tax comes from QTS's dated table.
KIWOOM_ONLINE_RATE = Decimal("0.00015")


def kiwoom_fees() -> KrxFees:
    return KrxFees(commission_rate=KIWOOM_ONLINE_RATE, etf_commission_rate=KIWOOM_ONLINE_RATE)


class Kind(StrEnum):
    NEW = "NEW"
    MODIFY = "MODIFY"
    CANCEL = "CANCEL"


@dataclass(slots=True)
class KwOrder:
    """One Kiwoom order number: a new order, a modify (trades from then on) or a cancel."""

    ord_no: str
    kind: Kind
    orig_ord_no: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    qty: int  # ord_qty of this number
    price: int  # ord_uv; 0 for market
    sim_coid: str  # the simulator order this number trades ("" for a cancel)
    at: datetime
    open_qty: int = 0  # still working under this number
    filled: int = 0
    amount: int = 0
    commission: int = 0
    tax: int = 0
    confirmed: int = 0  # 확인수량: qty moved away by a modify, or cancelled
    state: str = "접수"  # 접수 | 체결 | 확인 | 거부
    reason: str = ""
    last_cntr: str = ""
    last_fill_at: datetime | None = None

    @property
    def avg_price(self) -> int:
        return self.amount // self.filled if self.filled else 0


@dataclass(frozen=True, slots=True)
class KwFill:
    cntr_no: str
    ord_no: str
    symbol: str
    side: OrderSide
    qty: int
    price: int
    at: datetime
    commission: int
    tax: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the fake refused an order request: a QTS reject code and Kiwoom-like text."""

    code: str
    text: str
    detail: int | None = None


@dataclass(slots=True)
class Position:
    qty: int = 0
    cost: int = 0  # purchase amount of the shares held (pur_amt), commission excluded
    bought_today: int = 0
    sold_today: int = 0


@dataclass(slots=True)
class _Counters:
    ord_no: int = 0
    cntr_no: int = 0
    sim: int = 0
    by_day: dict[str, int] = field(default_factory=dict)


class FakeVenue:
    """The market and the account the fake server serves."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        clock: SimulatedClock,
        *,
        initial_cash: int,
        holdings: Mapping[str, int] | None = None,
        sim_config: SimConfig | None = None,
        fees: FeeModel | None = None,
        calendar: KrxCalendar | None = None,
        reference_prices: Mapping[str, int] | None = None,
        names: Mapping[str, str] | None = None,
        first_ord_no: int = 1,
        order_book: bool = False,
    ) -> None:
        self.clock = clock
        self.instruments = dict(instruments)
        self.names = {s: (names or {}).get(s) or i.name or s for s, i in instruments.items()}
        self.sim = sim = SimBroker(
            instruments,
            clock,
            initial_cash=initial_cash,
            holdings=holdings,
            config=sim_config or SimConfig(allow_reservation=False),
            fees=fees if fees is not None else kiwoom_fees(),
            calendar=calendar,
            reference_prices=reference_prices,
        )
        # quotes and prints for the simulated exchange's order book; off: bar fills
        self.book = BarBook(sim, instruments) if order_book else None
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # notified on every order or fill
        self.orders: dict[str, KwOrder] = {}
        self.fills: list[KwFill] = []
        self._live: dict[str, str] = {}  # sim order id -> its current Kiwoom number
        self._n = _Counters(ord_no=first_ord_no - 1)
        self.positions: dict[str, Position] = {}
        for symbol, qty in (holdings or {}).items():
            ref = (reference_prices or {}).get(symbol, 0)
            self.positions[symbol] = Position(qty, qty * ref)
        self.last_bar: dict[str, tuple[int, int, int, int, int]] = {}
        # called with every frame after it matched (the fake's real-time pushes, charts)
        self.frame_listeners: list[Callable[[BarFrame], None]] = []
        # with a catalog, every valid KRX code is served (listed on first sight)
        self.catalog: SyntheticCatalog | None = None
        # index levels: what a test set wins over the replay's synthetic series
        self.indices: dict[str, float] = {}
        self.index_source: Callable[[datetime], float | None] | None = None

    def index_level(self, code: str) -> float:
        """Index ``code`` now: what a test set, else the replay's synthetic VKOSPI, else 18."""
        with self.lock:
            if code in self.indices:
                return self.indices[code]
            source = self.index_source
        level = source(self.clock.now()) if source is not None else None
        return level if level is not None else 18.0

    def list_symbol(self, symbol: str) -> bool:
        """``symbol`` is served; a valid code new to the catalog is listed on first sight."""
        with self.lock:
            if symbol in self.instruments:
                return True
            sym = self.catalog.add(symbol) if self.catalog is not None else None
            if sym is None:
                return False
            self.instruments[symbol] = sym.instrument
            self.names[symbol] = sym.name
            self.sim.add_instrument(sym.instrument, sym.base_price)
            return True

    # ------------------------------------------------------------------ market data

    def advance(self, frame: BarFrame) -> None:
        """One frame of market data: time moves to its start, orders match, time moves to
        its end (so an order sent after ``advance`` returns can fill in the next frame)."""
        with self.lock:
            if frame.start > self.clock.now():
                self.clock.advance_to(frame.start)
            fresh = self.book.fresh(frame) if self.book is not None else False
            self.sim.on_frame(frame)
            self._absorb()
            for i, symbol in enumerate(frame.universe.symbols):
                if frame.active[i]:
                    self.last_bar[symbol] = (
                        int(frame.open[i]),
                        int(frame.high[i]),
                        int(frame.low[i]),
                        int(frame.close[i]),
                        int(frame.volume[i]),
                    )
            if frame.end > self.clock.now():
                self.clock.advance_to(frame.end)
            if self.book is not None:  # the bar's prints, then its order book
                self.book.feed(frame, prints=fresh)
                self._absorb()
            for listener in self.frame_listeners:
                listener(frame)

    def advance_time(self, ts: datetime) -> None:
        """Move the clock without market data (orders expire at the close)."""
        with self.lock:
            if ts > self.clock.now():
                self.clock.advance_to(ts)
            self.sim.open_orders()  # lets the simulator apply time (expiry)
            self._absorb()

    # ------------------------------------------------------------------ orders

    def place(
        self, side: OrderSide, symbol: str, qty: int, order_type: OrderType, price: int | None
    ) -> KwOrder | Refusal:
        with self.lock:
            self._n.sim += 1
            coid = f"KWSIM{self._n.sim:010d}"
            ack = self.sim.submit(OrderRequest(coid, symbol, side, order_type, qty, price))
            if not ack.accepted:
                self._absorb()
                return refusal(ack.code, ack.reason)
            order = KwOrder(
                ord_no=self._next_ord_no(),
                kind=Kind.NEW,
                orig_ord_no="",
                symbol=symbol,
                side=side,
                order_type=order_type,
                qty=qty,
                price=price or 0,
                sim_coid=coid,
                at=self.clock.now(),
                open_qty=qty,
            )
            self.orders[order.ord_no] = order
            self._live[coid] = order.ord_no
            self._absorb()  # on the order book it may have traded at once
            self.changed.notify_all()
            return order

    def modify(self, orig: str, symbol: str, qty: int, price: int) -> KwOrder | Refusal:
        """kt10002: ``qty`` of the open quantity moves to ``price`` under a new number.

        Only a modify of the whole open quantity is supported (the broker never sends a
        partial one; it cancels the excess first)."""
        with self.lock:
            old = self._working(orig, symbol)
            if isinstance(old, Refusal):
                return old
            if old.order_type is OrderType.MARKET:
                return Refusal("INVALID_PRICE", "시장가 주문은 정정할 수 없습니다")
            if qty <= 0 or qty > old.open_qty:
                return Refusal("INVALID_QTY", "정정수량이 정정가능수량을 초과합니다")
            if qty != old.open_qty:
                return Refusal("INVALID_QTY", "일부정정은 지원하지 않습니다(전량 정정만 가능)")
            sim_order = self.sim.order(old.sim_coid)
            assert sim_order is not None
            ack = self.sim.replace(old.sim_coid, sim_order.filled_qty + qty, price)
            if not ack.accepted:
                self._absorb()
                return refusal(ack.code, ack.reason)
            new = KwOrder(
                ord_no=self._next_ord_no(),
                kind=Kind.MODIFY,
                orig_ord_no=old.ord_no,
                symbol=symbol,
                side=old.side,
                order_type=old.order_type,
                qty=qty,
                price=price,
                sim_coid=old.sim_coid,
                at=self.clock.now(),
                open_qty=qty,
            )
            old.confirmed += qty
            old.open_qty = 0
            old.state = "확인"
            self.orders[new.ord_no] = new
            self._live[old.sim_coid] = new.ord_no
            self._absorb()  # a marketable new price trades at once on the order book
            self.changed.notify_all()
            return new

    def cancel(self, orig: str, symbol: str, qty: int) -> KwOrder | Refusal:
        """kt10003: cancel ``qty`` of the open quantity (0: all of it)."""
        with self.lock:
            target = self._working(orig, symbol)
            if isinstance(target, Refusal):
                return target
            if qty < 0 or qty > target.open_qty:
                return Refusal("INVALID_QTY", "취소수량이 취소가능수량을 초과합니다")
            amount = qty or target.open_qty
            sim_order = self.sim.order(target.sim_coid)
            assert sim_order is not None
            if amount == target.open_qty:
                ack = self.sim.cancel(target.sim_coid)
            else:
                ack = self.sim.replace(target.sim_coid, sim_order.qty - amount, None)
            self._absorb()
            if not ack.accepted:
                return refusal(ack.code, ack.reason)
            row = KwOrder(
                ord_no=self._next_ord_no(),
                kind=Kind.CANCEL,
                orig_ord_no=target.ord_no,
                symbol=symbol,
                side=target.side,
                order_type=target.order_type,
                qty=amount,
                price=0,
                sim_coid="",
                at=self.clock.now(),
                confirmed=amount,
                state="확인",
            )
            target.open_qty -= amount
            target.confirmed += amount
            self.orders[row.ord_no] = row
            self.changed.notify_all()
            return row

    def _working(self, orig: str, symbol: str) -> KwOrder | Refusal:
        self.sim.open_orders()  # apply time first: an expired order cannot be changed
        self._absorb()
        order = self.orders.get(orig.zfill(7)) if orig.strip().isdigit() else None
        if order is None or order.symbol != symbol or order.kind is Kind.CANCEL:
            return Refusal("UNKNOWN_ORDER", "원주문번호가 존재하지 않습니다")
        if order.open_qty <= 0:
            return Refusal("UNKNOWN_ORDER", "정정/취소가능수량이 없습니다")
        return order

    def _next_ord_no(self) -> str:
        self._n.ord_no += 1
        return f"{self._n.ord_no:07d}"

    # ------------------------------------------------------------------ simulator events

    def _absorb(self) -> None:
        for event in self.sim.drain_events():
            if isinstance(event, Fill):
                self._on_fill(event)
            else:
                self._on_update(event)
        self.changed.notify_all()

    def wait_for(self, predicate: Callable[[FakeVenue], bool], timeout: float = 10.0) -> bool:
        """Block until ``predicate(self)`` holds (checked on every change); False on timeout."""
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self), timeout)

    def _on_fill(self, fill: Fill) -> None:
        order = self.orders[self._live[fill.client_order_id]]
        self._n.cntr_no += 1
        cntr = f"{self._n.cntr_no:07d}"
        self.fills.append(
            KwFill(
                cntr,
                order.ord_no,
                fill.symbol,
                fill.side,
                fill.qty,
                fill.price,
                fill.ts,
                fill.commission,
                fill.tax,
            )
        )
        order.filled += fill.qty
        order.amount += fill.amount
        order.commission += fill.commission
        order.tax += fill.tax
        order.open_qty -= fill.qty
        order.state = "체결"
        order.last_cntr = cntr
        order.last_fill_at = fill.ts
        pos = self.positions.setdefault(fill.symbol, Position())
        if fill.side is OrderSide.BUY:
            pos.cost += fill.amount
            pos.qty += fill.qty
            pos.bought_today += fill.qty
        else:
            pos.cost -= pos.cost * fill.qty // pos.qty if pos.qty else 0
            pos.qty -= fill.qty
            pos.sold_today += fill.qty
            if pos.qty == 0:
                pos.cost = 0

    def _on_update(self, update: OrderUpdate) -> None:
        ord_no = self._live.get(update.client_order_id)
        if ord_no is None:
            return
        order = self.orders[ord_no]
        if update.status is OrderStatus.REJECTED:
            order.state = "거부"
            order.reason = update.reason
            order.open_qty = 0
        elif update.status is OrderStatus.EXPIRED:
            order.open_qty = 0
        # CANCELED is booked by cancel() itself

    # ------------------------------------------------------------------ views

    def open_orders(self) -> list[KwOrder]:
        with self.lock:
            self.sim.open_orders()
            self._absorb()
            return [o for o in self.orders.values() if o.kind is not Kind.CANCEL and o.open_qty]

    def all_orders(self) -> list[KwOrder]:
        with self.lock:
            self.sim.open_orders()
            self._absorb()
            return list(self.orders.values())

    def executions(self) -> list[KwFill]:
        with self.lock:
            return list(self.fills)

    def cash(self) -> tuple[int, int]:
        """(cash, free cash)."""
        with self.lock:
            self.sim.open_orders()
            self._absorb()
            acct = self.sim.account
            return acct.cash, acct.free_cash

    def holdings(self) -> list[tuple[str, Position, int]]:
        """(symbol, position, sellable qty) of every holding."""
        with self.lock:
            acct = self.sim.account
            out = []
            for symbol, qty in sorted(acct.holdings.items()):
                pos = self.positions.setdefault(symbol, Position(qty))
                pos.qty = qty
                out.append((symbol, pos, acct.sellable(symbol)))
            return out

    def price(self, symbol: str) -> int:
        with self.lock:
            bar = self.last_bar.get(symbol)
            if bar is not None:
                return bar[3]
            return self.sim.exchange.last_close(symbol)

    def reference(self, symbol: str) -> int:
        """The day's base price (previous close), or the latest close when unknown."""
        with self.lock:
            limits = self.sim.exchange.price_limits(symbol, self.clock.now().astimezone(KST).date())
            return limits.base if limits is not None else self.sim.exchange.last_close(symbol)

    def now(self) -> datetime:
        return self.clock.now()


_REFUSAL_TEXT = {
    "UNKNOWN_SYMBOL": ("종목코드가 존재하지 않습니다", 1902),
    "INVALID_QTY": ("주문수량이 올바르지 않습니다", None),
    "INVALID_PRICE": ("주문단가가 올바르지 않습니다", None),
    "MARKET_CLOSED": ("장운영시간이 아닙니다", None),
    "OFF_TICK": ("주문가격의 호가단위가 올바르지 않습니다", None),
    "OUTSIDE_PRICE_LIMIT": ("주문가격이 상한가/하한가 범위를 벗어났습니다", None),
    "NO_REFERENCE_PRICE": ("기준가가 없어 시장가주문을 처리할 수 없습니다", None),
    "INSUFFICIENT_CASH": ("주문가능금액을 초과합니다", None),
    "INSUFFICIENT_HOLDINGS": ("매도가능수량이 부족합니다", None),
    "UNKNOWN_ORDER": ("원주문번호가 존재하지 않거나 정정/취소가능수량이 없습니다", None),
}


def refusal(code: str, reason: str) -> Refusal:
    text, detail = _REFUSAL_TEXT.get(code, ("주문이 거부되었습니다", None))
    return Refusal(code, text, detail)
