"""Orders and their state machine.

NEW → SUBMITTED → PARTIALLY_FILLED → FILLED. A SUBMITTED order may be CANCELED, REJECTED or
EXPIRED; a PARTIALLY_FILLED one may be CANCELED or EXPIRED (the venue accepted it, so it can no
longer be rejected). A NEW order may also be REJECTED (pre-trade) or CANCELED (never sent). Any
other move raises :class:`IllegalTransition`; the state is checked before the fill's quantity, so
a fill on a closed order is an illegal transition, not a quantity error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from qts.core.errors import IllegalTransition
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track

S = OrderStatus
_ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.NEW: frozenset({S.SUBMITTED, S.REJECTED, S.CANCELED}),
    S.SUBMITTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return target in _ALLOWED[current]


@dataclass(slots=True)
class Order:
    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    qty: int
    created_at: datetime
    limit_price: int | None = None
    strategy: str = ""
    track: Track = Track.SWING
    status: OrderStatus = OrderStatus.NEW
    filled_qty: int = 0
    filled_amount: int = 0
    venue_order_id: str | None = None
    reason: str = ""
    updated_at: datetime | None = None
    fill_ids: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError(f"order {self.client_order_id}: qty must be positive, got {self.qty}")
        if self.order_type is OrderType.LIMIT:
            if self.limit_price is None or self.limit_price <= 0:
                raise ValueError(
                    f"order {self.client_order_id}: a LIMIT order needs a positive limit_price"
                )
        elif self.limit_price is not None:
            raise ValueError(f"order {self.client_order_id}: a MARKET order takes no limit_price")

    @property
    def remaining(self) -> int:
        return self.qty - self.filled_qty

    @property
    def avg_fill_price(self) -> float | None:
        return self.filled_amount / self.filled_qty if self.filled_qty else None

    def _move(self, target: OrderStatus, ts: datetime | None) -> None:
        if not can_transition(self.status, target):
            raise IllegalTransition("order", self.client_order_id, self.status, target)
        self.status = target
        self.updated_at = ts or self.updated_at

    def submit(self, venue_order_id: str, ts: datetime | None = None) -> None:
        self._move(OrderStatus.SUBMITTED, ts)
        self.venue_order_id = venue_order_id

    def apply_fill(self, fill_id: str, qty: int, price: int, ts: datetime | None = None) -> bool:
        """Apply one execution; returns False if this fill was already applied."""
        if fill_id in self.fill_ids:
            return False
        target = OrderStatus.FILLED if qty >= self.remaining else OrderStatus.PARTIALLY_FILLED
        if not can_transition(self.status, target):
            raise IllegalTransition("order", self.client_order_id, self.status, target)
        if qty <= 0 or qty > self.remaining:
            raise ValueError(
                f"order {self.client_order_id}: fill {fill_id} qty {qty} does not fit "
                f"remaining {self.remaining}"
            )
        if price <= 0:
            raise ValueError(
                f"order {self.client_order_id}: fill {fill_id} price must be positive, got {price}"
            )
        self._move(target, ts)
        self.fill_ids.add(fill_id)
        self.filled_qty += qty
        self.filled_amount += qty * price
        return True

    def cancel(self, reason: str = "", ts: datetime | None = None) -> None:
        self._move(OrderStatus.CANCELED, ts)
        self.reason = reason or self.reason

    def reject(self, reason: str, ts: datetime | None = None) -> None:
        self._move(OrderStatus.REJECTED, ts)
        self.reason = reason

    def expire(self, reason: str = "session end", ts: datetime | None = None) -> None:
        self._move(OrderStatus.EXPIRED, ts)
        self.reason = reason
