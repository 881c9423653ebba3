"""How resting orders trade in a bar: their price-time priority and the price each fills at."""

from __future__ import annotations

from collections.abc import Iterable

from qts.brokers.sim.records import SimOrder
from qts.market.krx.price_limit import PriceLimits
from qts.market.krx.tick_size import TickTable, tick_table
from qts.model.enums import OrderSide, OrderType

_BUY = OrderSide.BUY
_MARKET = OrderType.MARKET


def priority(orders: Iterable[SimOrder]) -> list[SimOrder]:
    """Price-time priority of one symbol's orders in a bar.

    MARKET orders first, by arrival. Then LIMIT orders: within a side the better price first
    (higher buy, lower sell), then arrival; the two sides are interleaved by arrival of the
    order at the head of each side.
    """
    market: list[SimOrder] = []
    buys: list[SimOrder] = []
    sells: list[SimOrder] = []
    for o in orders:
        if o.order_type is _MARKET:
            market.append(o)
        elif o.side is _BUY:
            buys.append(o)
        else:
            sells.append(o)
    market.sort(key=lambda o: o.seq)
    buys.sort(key=lambda o: (-(o.limit_price or 0), o.seq))
    sells.sort(key=lambda o: (o.limit_price or 0, o.seq))
    out = market
    b = s = 0
    while b < len(buys) and s < len(sells):
        if buys[b].seq < sells[s].seq:
            out.append(buys[b])
            b += 1
        else:
            out.append(sells[s])
            s += 1
    out.extend(buys[b:])
    out.extend(sells[s:])
    return out


def fill_price(
    order: SimOrder,
    op: int,
    hi: int,
    lo: int,
    limits: PriceLimits | None,
    grid: TickTable | bool = False,
) -> int | None:
    """The price ``order`` trades at in a bar (open, high, low), or None if it does not trade."""
    buy = order.side is _BUY
    limit = order.limit_price
    if limit is None:
        price = op
    elif buy:
        if op <= limit:
            price = op
        elif lo <= limit:
            price = limit
        else:
            return None
    elif op >= limit:
        price = op
    elif hi >= limit:
        price = limit
    else:
        return None
    if limits is not None and not limits.lower <= price <= limits.upper:
        clipped = min(max(price, limits.lower), limits.upper)
        if lo <= clipped <= hi:  # else the bar contradicts the band: trust the bar
            price = clipped
    g = grid if isinstance(grid, TickTable) else tick_table(None, etf=grid)
    if price % g.tick(price):
        price = _onto_grid(price, buy, hi, lo, limit, g)
    return price


def _onto_grid(price: int, buy: bool, hi: int, lo: int, limit: int | None, grid: TickTable) -> int:
    """Move an off-grid bar price (adjusted data) onto the grid, the trader's worse way first."""
    up, down = grid.round_up(price), grid.round_down(price)
    for candidate in (up, down) if buy else (down, up):
        within_limit = limit is None or (candidate <= limit if buy else candidate >= limit)
        if lo <= candidate <= hi and within_limit and candidate > 0:
            return candidate
    return price
