"""Quote snapshots for the book when no recorded depth exists: a symmetric ladder around the last
price, one tick wide at the touch, deeper levels holding more (like the KIS fake's ladder)."""

from __future__ import annotations

from qts.brokers.sim.book import Level
from qts.market.krx.tick_size import tick_size


def synthetic_depth(
    last: int, unit: int, etf: bool = False, levels: int = 10
) -> tuple[list[Level], list[Level]]:
    """(bids, asks), best first: bid at ``last``, ask one tick above, ``unit × k`` shares at the
    k-th level (``unit`` ≥ 1)."""
    if last <= 0:
        return [], []
    unit = max(1, unit)
    asks: list[Level] = []
    bids: list[Level] = []
    price = last
    for k in range(levels):
        price += tick_size(price, etf)
        asks.append((price, unit * (k + 1)))
    price = last
    for k in range(levels):
        bids.append((price, unit * (k + 1)))
        if price <= tick_size(price, etf):
            break
        price -= tick_size(price - 1, etf)
    return bids, asks
