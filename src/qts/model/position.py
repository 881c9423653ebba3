"""A holding in one symbol, kept at cost in exact won (average-cost method)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from qts.model.enums import Track


@dataclass(slots=True)
class Position:
    """``cost_basis`` is the won paid for the shares still held; the average price derives from it.

    Selling k of q shares removes ``cost_basis * k // q`` won of cost (all of it when the position
    closes), so realized PnL plus the remaining cost always add up to what was paid.
    """

    symbol: str
    qty: int = 0
    cost_basis: int = 0
    realized_pnl: int = 0
    last_price: int = 0
    opened_at: datetime | None = None
    track: Track = Track.SWING
    strategy: str = ""
    high_since_open: int = 0
    low_since_open: int = 0

    @property
    def is_open(self) -> bool:
        return self.qty > 0

    @property
    def avg_price(self) -> Decimal:
        return Decimal(self.cost_basis) / self.qty if self.qty else Decimal(0)

    @property
    def market_value(self) -> int:
        return self.qty * self.last_price

    @property
    def unrealized_pnl(self) -> int:
        return self.market_value - self.cost_basis if self.qty else 0

    @property
    def max_favorable_excursion(self) -> int:
        """Best unrealized gain seen since open, in won."""
        return max(0, self.high_since_open * self.qty - self.cost_basis) if self.qty else 0

    @property
    def max_adverse_excursion(self) -> int:
        """Worst unrealized loss seen since open, in won (a positive number)."""
        return max(0, self.cost_basis - self.low_since_open * self.qty) if self.qty else 0

    def mark(self, price: int) -> bool:
        """Value the holding at ``price``; True if it set a new high or low since open."""
        if price <= 0:
            raise ValueError(f"position {self.symbol}: cannot mark at price {price}")
        self.last_price = price
        if not self.qty:
            return False
        if price > self.high_since_open:
            self.high_since_open = price
        elif self.low_since_open and price >= self.low_since_open:
            return False
        else:
            self.low_since_open = price
        return True

    def buy(self, qty: int, price: int, ts: datetime, track: Track, strategy: str) -> None:
        if qty <= 0:
            raise ValueError(f"position {self.symbol}: buy qty must be positive, got {qty}")
        if self.qty == 0:
            self.opened_at = ts
            self.track = track
            self.strategy = strategy
            self.high_since_open = price
            self.low_since_open = price
        self.qty += qty
        self.cost_basis += qty * price
        self.mark(price)

    def sell(self, qty: int, price: int) -> int:
        """Reduce the holding; returns the gross realized PnL of this sale."""
        if qty <= 0 or qty > self.qty:
            raise ValueError(
                f"position {self.symbol}: cannot sell {qty} shares, holding {self.qty}"
            )
        self.mark(price)  # the sale price was seen while the position was open
        removed = self.cost_basis if qty == self.qty else self.cost_basis * qty // self.qty
        realized = qty * price - removed
        self.qty -= qty
        self.cost_basis -= removed
        self.realized_pnl += realized
        if self.qty == 0:
            self.opened_at = None
            self.high_since_open = 0
            self.low_since_open = 0
        return realized
