"""Price rules of the venue for a new or replaced order: the refusals of a missing, off-tick or
out-of-band limit price (:class:`Refused` carries any refusal of a request), and the price a
market buy holds cash at."""

from __future__ import annotations

from datetime import date

from qts.brokers.sim.config import MarketBuyHold, RejectCode
from qts.market.krx.price_limit import PriceLimits
from qts.market.krx.rules import rules_for
from qts.market.krx.tick_size import TickTable
from qts.model.enums import OrderType
from qts.model.instrument import Instrument

_MARKET = OrderType.MARKET
_LIMIT = OrderType.LIMIT


class Refused(Exception):
    """A request breaks a venue rule; becomes a rejected Ack."""

    def __init__(self, code: RejectCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def check_price_given(order_type: OrderType, price: int | None) -> None:
    if order_type is _LIMIT and (price is None or price <= 0):
        raise Refused(
            RejectCode.INVALID_PRICE, f"a LIMIT order needs a positive limit price, got {price}"
        )
    if order_type is _MARKET and price is not None:
        raise Refused(RejectCode.INVALID_PRICE, f"a MARKET order takes no limit price, got {price}")


def check_price(price: int, limits: PriceLimits | None, grid: TickTable) -> None:
    if not grid.is_on_tick(price):
        raise Refused(
            RejectCode.OFF_TICK,
            f"limit price {price} is not on the {grid.tick(price)}-won tick grid ({grid.name})",
        )
    if limits is not None and not limits.contains(price):
        raise Refused(RejectCode.OUTSIDE_PRICE_LIMIT, outside_limits_reason(price, limits))


def outside_limits_reason(price: int, limits: PriceLimits) -> str:
    return (
        f"limit price {price} is outside the day's limits {limits.lower}..{limits.upper} "
        f"(base {limits.base})"
    )


def market_hold_price(
    symbol: str,
    close: int,
    hold: MarketBuyHold,
    limits: PriceLimits | None,
    inst: Instrument,
    day: date,
) -> int:
    """Per-share price a market buy holds cash at (``close``: the symbol's latest close, 0 if
    none); refuses when no price is known."""
    if hold is MarketBuyHold.LAST_CLOSE:
        price = close or (limits.base if limits is not None else 0)
    elif limits is not None:
        price = limits.upper
    else:
        price = rules_for(inst, day).limits(close).upper if close > 0 else 0
    if price <= 0:
        raise Refused(
            RejectCode.NO_REFERENCE_PRICE,
            f"no price known for {symbol} to hold cash for a market buy",
        )
    return price
