"""KRX daily price limits: ±30 % of the base price since 2015-06-15, ±15 % before (back to
1998-12-07; older dates get ±15 % too, the table's horizon).

The limit width is base × 0.3 truncated to the tick of the *base* price; the resulting upper and
lower prices are then cut to the tick of their own band (KRX example: base 9,980 → 12,970 / 6,990).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from qts.market.krx.tick_size import round_down, round_up, tick_size

LIMIT_RATE_PERCENT = 30

# (effective from, percent): the limit in force on a trading day, as dated data.
LIMIT_RATE_TABLE: tuple[tuple[date, int], ...] = (
    (date(1998, 12, 7), 15),
    (date(2015, 6, 15), 30),
)


def limit_rate_percent(day: date | None) -> int:
    """The daily limit (percent) in force on ``day``; None means today's rule."""
    if day is None:
        return LIMIT_RATE_PERCENT
    rate = LIMIT_RATE_TABLE[0][1]
    for start, percent in LIMIT_RATE_TABLE:
        if start <= day:
            rate = percent
    return rate


@dataclass(frozen=True, slots=True)
class PriceLimits:
    base: int
    lower: int
    upper: int

    def contains(self, price: int) -> bool:
        return self.lower <= price <= self.upper


def daily_limits(
    base: int, etf: bool = False, rate_percent: int = LIMIT_RATE_PERCENT
) -> PriceLimits:
    if base <= 0:
        raise ValueError(f"base price must be positive, got {base}")
    base_tick = tick_size(base, etf)
    width = base * rate_percent // 100
    width -= width % base_tick
    upper = round_down(base + width, etf)
    lower_raw = base - width
    lower = round_up(lower_raw, etf) if lower_raw > 0 else tick_size(1, etf)
    return PriceLimits(base=base, lower=max(lower, 1), upper=upper)
