"""Small enumerations shared across the model."""

from __future__ import annotations

from enum import StrEnum


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class OrderStatus(StrEnum):
    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class Track(StrEnum):
    """The capital track a position belongs to."""

    SCALP = "SCALP"
    SWING = "SWING"
    PORTFOLIO = "PORTFOLIO"


class Signal(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


class Urgency(StrEnum):
    """How much an exit may wait behind a sell already resting at the venue.

    * ``NORMAL``: it waits (an order for the symbol is pending).
    * ``FORCED`` (stop-loss, time in trade): it replaces a resting limit sell that is not
      filling (its limit above the market); one at or under the market is left to fill.
    * ``FLATTEN`` (before the close, an emergency full exit): it replaces every resting limit
      sell, whatever its price: the position must be gone.
    """

    NORMAL = "NORMAL"
    FORCED = "FORCED"
    FLATTEN = "FLATTEN"
