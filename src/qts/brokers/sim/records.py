"""What the simulated exchange records: the venue's order record and its ids, what one call
changed (for the journal), and the state an exchange is rebuilt from after a restart."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from qts.brokers.base import Ack, OrderRequest, VenueOrder
from qts.core.time import KST
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill
from qts.model.frame import IntArray


def venue_order_id(seq: int) -> str:
    return f"S{seq:010d}"


def fill_id(seq: int) -> str:
    return f"F{seq:010d}"


@dataclass(slots=True, eq=False)
class SimOrder:
    """The venue's record of one order (accepted or rejected at submit)."""

    client_order_id: str
    venue_order_id: str  # "" when rejected at submit: the venue never numbered it
    symbol: str
    side: OrderSide
    order_type: OrderType
    qty: int
    limit_price: int | None
    submitted_at: datetime
    eligible_at: datetime  # submit + latency: at the venue from here
    activate_at: datetime  # may match in bars starting here or later
    expires_at: datetime  # session close of its trading day
    day: date  # its trading day
    seq: int  # time priority; a replace that loses priority takes a new one
    status: OrderStatus = OrderStatus.SUBMITTED
    filled_qty: int = 0
    active: bool = False  # in the book (limits rechecked against its day's base price)
    hold_price: int = 0  # per-share price the cash hold of a buy is computed at
    hold_cash: int = 0
    hold_qty: int = 0
    code: str = ""
    reason: str = ""
    updated_at: datetime | None = None

    @classmethod
    def rejected(cls, request: OrderRequest, now: datetime, code: str, reason: str) -> SimOrder:
        """The record of a request refused at submit (kept so a resubmission of its id gets the
        same answer)."""
        return cls(
            client_order_id=request.client_order_id,
            venue_order_id="",
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            qty=request.qty,
            limit_price=request.limit_price,
            submitted_at=now,
            eligible_at=now,
            activate_at=now,
            expires_at=now,
            day=now.astimezone(KST).date(),
            seq=0,
            status=OrderStatus.REJECTED,
            code=str(code),
            reason=reason,
            updated_at=now,
        )

    @property
    def remaining(self) -> int:
        return self.qty - self.filled_qty

    @property
    def accepted(self) -> bool:
        return bool(self.venue_order_id)

    def view(self) -> VenueOrder:
        return VenueOrder(
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            qty=self.qty,
            limit_price=self.limit_price,
            status=self.status,
            filled_qty=self.filled_qty,
            reason=with_code(self.code, self.reason),
        )

    def ack(self, duplicate: bool = False) -> Ack:
        """The answer ``submit`` gave for this order (again, for a duplicate id)."""
        if self.accepted:
            return Ack(self.client_order_id, True, self.venue_order_id, duplicate=duplicate)
        return Ack(self.client_order_id, False, None, self.reason, self.code, duplicate)


def with_code(code: str, reason: str) -> str:
    """A reason as clients see it: prefixed by its reject code when there is one."""
    return f"{code}: {reason}" if code else reason


@dataclass(slots=True)
class Changes:
    """What one call changed, for the journal (collected only when ``record_changes`` is on)."""

    orders: dict[str, SimOrder] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    holdings: set[str] = field(default_factory=set)
    market: bool = False

    def __bool__(self) -> bool:
        return bool(self.orders or self.fills or self.holdings or self.market)


@dataclass(slots=True)
class ExchangeState:
    """Everything needed to rebuild an exchange after a restart."""

    orders: list[SimOrder]
    fills: list[Fill]
    cash: int
    initial_cash: int
    holdings: dict[str, int]
    counters: dict[str, int]
    last_start: datetime | None
    day: date | None
    universe: tuple[str, ...] | None
    base: IntArray | None
    last_close: IntArray | None
    pre_close: dict[str, int]
    pre_base: dict[str, int]
