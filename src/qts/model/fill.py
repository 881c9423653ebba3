"""An execution reported by the venue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from qts.model.enums import OrderSide


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``fill_id`` is unique per venue; replays of the same fill are ignored."""

    fill_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    qty: int
    price: int
    ts: datetime
    commission: int = 0
    tax: int = 0

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError(f"fill {self.fill_id}: qty must be positive, got {self.qty}")
        if self.price <= 0:
            raise ValueError(f"fill {self.fill_id}: price must be positive, got {self.price}")
        if self.commission < 0 or self.tax < 0:
            raise ValueError(f"fill {self.fill_id}: fees cannot be negative")

    @property
    def amount(self) -> int:
        return self.qty * self.price

    @property
    def fees(self) -> int:
        return self.commission + self.tax
