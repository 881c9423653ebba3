"""KRX tick sizes by price band (since 2023-01-25; identical on KOSPI, KOSDAQ and KONEX).

ETF/ETN/ELW trade on a flat 5 KRW tick.
"""

from __future__ import annotations

from bisect import bisect_right

# (lower bound of the band, tick) — ascending
STOCK_BANDS: tuple[tuple[int, int], ...] = (
    (0, 1),
    (2_000, 5),
    (5_000, 10),
    (20_000, 50),
    (50_000, 100),
    (200_000, 500),
    (500_000, 1_000),
)
ETF_TICK = 5
_LOWERS = [lo for lo, _ in STOCK_BANDS]


def tick_size(price: int, etf: bool = False) -> int:
    """The tick of the band ``price`` lies in."""
    if price <= 0:
        raise ValueError(f"price must be positive, got {price}")
    if etf:
        return ETF_TICK
    return STOCK_BANDS[bisect_right(_LOWERS, price) - 1][1]


def is_on_tick(price: int, etf: bool = False) -> bool:
    return price > 0 and price % tick_size(price, etf) == 0


def round_down(price: int, etf: bool = False) -> int:
    """Largest price on the grid that is <= ``price`` (a buy limit rounds down)."""
    tick = tick_size(price, etf)
    return price - price % tick


def round_up(price: int, etf: bool = False) -> int:
    """Smallest price on the grid that is >= ``price`` (a sell limit rounds up)."""
    tick = tick_size(price, etf)
    rem = price % tick
    if rem == 0:
        return price
    up = price - rem + tick
    # crossing into a coarser band keeps the price on that band's grid
    return up if is_on_tick(up, etf) else round_up(up, etf)


def round_nearest(price: float, etf: bool = False) -> int:
    """Nearest grid price (ties go up); used to bring scaled float data onto the grid."""
    p = max(1, int(price + 0.5)) if price >= 1 else 1
    down = round_down(p, etf)
    up = round_up(p, etf)
    return up if (up - price) <= (price - down) else down


def ticks_between(low: int, high: int, etf: bool = False) -> int:
    """Number of ticks from ``low`` up to ``high`` walking the grid."""
    n, p = 0, low
    while p < high:
        p += tick_size(p, etf)
        n += 1
    return n


def step(price: int, ticks: int, etf: bool = False) -> int:
    """Move ``ticks`` grid steps up (positive) or down (negative) from an on-grid price.

    Moving down stops at the lowest price on the grid (1 KRW, or one tick for an ETF)."""
    p = price
    floor = ETF_TICK if etf else 1
    for _ in range(abs(ticks)):
        if ticks > 0:
            p += tick_size(p, etf)
        elif p - 1 >= floor:
            p = round_down(p - 1, etf)
    return p
