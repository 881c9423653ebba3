"""KRX daily price limits, as a dated table per market.

The limit width is base × rate truncated to the tick of the *base* price; the resulting upper and
lower prices are then cut to the tick of their own band (KRX example: base 9,980 → 12,970 / 6,990
at ±30 %). Both ticks come from the grid in force that day.

History (``LIMIT_HISTORY``; ETFs follow the market they are listed on):

* KOSPI ±15 % from 1998-12-07 (±12 % before, from March 1998 — MBN 2015-06-15 "가격제한폭
  1998년 3월 ±8%에서 ±12%로 … 1998년 12월 ±12%에서 ±15%로"); ±30 % from 2015-06-15.
* KOSDAQ ±12 % from April 1998 (Hankyung 2005-02-22: "96년 11월부터 8% 정률제 … 98년 4월에
  12%로"), ±15 % from 2005-03-28 (Seoul Economic Daily: "7년만에 12%에서 15%로 확대 … 28일"),
  ±30 % from 2015-06-15.
* KONEX (opened 2013-07-01) ±15 %, kept at ±15 % when the others went to ±30 % (etoday
  2015-06-14: "코넥스시장은 현재 가격제한폭인 ±15%가 유지된다").

The first row (1998-12-07) is the table's horizon: older days get its rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from qts.market.krx.dated import check_rows, in_force
from qts.market.krx.tick_size import ETF_TABLE, TickTable, tick_table
from qts.model.instrument import Market

LIMIT_RATE_PERCENT = 30


@dataclass(frozen=True, slots=True)
class LimitRow:
    """Daily limit (percent of the base price) per market for days on or after the date."""

    effective_from: date
    percent: Mapping[Market, int]


LIMIT_HISTORY: tuple[LimitRow, ...] = check_rows(
    (
        LimitRow(date(1998, 12, 7), {Market.KOSPI: 15, Market.KOSDAQ: 12, Market.KONEX: 15}),
        LimitRow(date(2005, 3, 28), {Market.KOSPI: 15, Market.KOSDAQ: 15, Market.KONEX: 15}),
        LimitRow(date(2015, 6, 15), {Market.KOSPI: 30, Market.KOSDAQ: 30, Market.KONEX: 15}),
    ),
    "price limit table",
)


def limit_rate_percent(day: date | None, market: Market = Market.KOSPI) -> int:
    """The daily limit (percent) in force on ``day`` for ``market``; None means today's rule."""
    row = LIMIT_HISTORY[-1] if day is None else in_force(LIMIT_HISTORY, day)
    return row.percent[market]


@dataclass(frozen=True, slots=True)
class PriceLimits:
    base: int
    lower: int
    upper: int

    def contains(self, price: int) -> bool:
        return self.lower <= price <= self.upper


def daily_limits(
    base: int,
    etf: bool = False,
    rate_percent: int = LIMIT_RATE_PERCENT,
    grid: TickTable | None = None,
) -> PriceLimits:
    """Limits around ``base`` on ``grid`` (default: today's grid for a stock or an ETF)."""
    if base <= 0:
        raise ValueError(f"base price must be positive, got {base}")
    g = grid if grid is not None else (ETF_TABLE if etf else tick_table(None))
    base_tick = g.tick(base)
    width = base * rate_percent // 100
    width -= width % base_tick
    upper = g.round_down(base + width)
    lower_raw = base - width
    lower = g.round_up(lower_raw) if lower_raw > 0 else g.lowest
    return PriceLimits(base=base, lower=max(lower, 1), upper=upper)
