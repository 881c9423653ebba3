"""Knobs of the simulated exchange, and the codes it answers with.

Every realism choice the simulator makes is a field here or a documented rule in docs/simulator.md,
so a backtest states its assumptions instead of hiding them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from fractions import Fraction


class RejectCode(StrEnum):
    """Why the venue refused a request (``Ack.code``; ``VenueOrder.reason`` starts with it)."""

    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    INVALID_QTY = "INVALID_QTY"
    INVALID_PRICE = "INVALID_PRICE"
    OFF_TICK = "OFF_TICK"
    OUTSIDE_PRICE_LIMIT = "OUTSIDE_PRICE_LIMIT"
    MARKET_CLOSED = "MARKET_CLOSED"
    NO_REFERENCE_PRICE = "NO_REFERENCE_PRICE"
    INSUFFICIENT_CASH = "INSUFFICIENT_CASH"
    INSUFFICIENT_HOLDINGS = "INSUFFICIENT_HOLDINGS"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"


class MarketBuyHold(StrEnum):
    """The price at which an open MARKET buy holds cash until it fills.

    Korean brokers compute the orderable amount of a market buy at the day's upper price limit;
    ``LAST_CLOSE`` is looser and lets a fill be cut down to what the cash can pay.
    """

    UPPER_LIMIT = "UPPER_LIMIT"
    LAST_CLOSE = "LAST_CLOSE"


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Realism settings. Defaults suit bar-driven backtests.

    * ``latency``: an order reaches the venue ``latency`` after submit; it can fill only in a bar
      that starts at or after that instant.
    * ``participation``: the share of a bar's volume all our orders in that symbol may take
      together (1.0 = the whole bar; below 1 large orders fill partially over several bars).
    * ``allow_reservation``: orders sent while the regular session is closed wait for the next
      session (a broker's reserved order); when False they are rejected with MARKET_CLOSED.
    * ``price_limits``: enforce the daily ±30 % band (reject limit prices outside it, clip fills).
    * ``market_buy_hold``: see :class:`MarketBuyHold`.
    * ``seed``: for any random choice the simulator makes; none today, kept so that adding one
      does not change the config's shape.
    """

    latency: timedelta = timedelta(0)
    participation: float = 1.0
    allow_reservation: bool = True
    price_limits: bool = True
    market_buy_hold: MarketBuyHold = MarketBuyHold.UPPER_LIMIT
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latency < timedelta(0):
            raise ValueError(f"sim config: latency cannot be negative, got {self.latency}")
        if not 0 < self.participation <= 1:
            raise ValueError(
                f"sim config: participation must be in (0, 1], got {self.participation}"
            )

    @property
    def participation_ratio(self) -> Fraction:
        """The participation rate as an exact fraction (0.29 is 29/100, not 0.28999…)."""
        return Fraction(repr(float(self.participation)))
