"""The daily limit in force on a date, per market, and limits computed by hand on that date's grid.

KOSPI ±15 % from 1998-12-07, ±30 % from 2015-06-15 (MBN 2015-06-15); KOSDAQ ±12 % until
2005-03-27, ±15 % from 2005-03-28 (Hankyung 2005-02-22; Seoul Economic Daily on the first day),
±30 % from 2015-06-15; KONEX ±15 %, kept when the others widened (etoday 2015-06-14).
"""

from __future__ import annotations

from datetime import date

import pytest

from qts.market.krx.price_limit import daily_limits, limit_rate_percent
from qts.market.krx.rules import rules_on
from qts.model.instrument import Market

KOSPI, KOSDAQ, KONEX = Market.KOSPI, Market.KOSDAQ, Market.KONEX


@pytest.mark.parametrize(
    ("day", "market", "rate"),
    [
        (date(1999, 1, 4), KOSPI, 15),
        (date(2008, 10, 24), KOSPI, 15),
        (date(2015, 6, 12), KOSPI, 15),
        (date(2015, 6, 15), KOSPI, 30),
        (date(2026, 1, 5), KOSPI, 30),
        (None, KOSPI, 30),
        (date(2001, 9, 17), KOSDAQ, 12),
        (date(2005, 3, 25), KOSDAQ, 12),
        (date(2005, 3, 28), KOSDAQ, 15),
        (date(2015, 6, 12), KOSDAQ, 15),
        (date(2015, 6, 15), KOSDAQ, 30),
        (date(2014, 1, 2), KONEX, 15),
        (date(2020, 3, 2), KONEX, 15),
        (None, KONEX, 15),
    ],
)
def test_rate_by_date_and_market(day: date | None, market: Market, rate: int) -> None:
    assert limit_rate_percent(day, market) == rate
    assert rules_on(day, market).limit_percent == rate


def test_limits_of_each_era_by_hand() -> None:
    # base 10,000 (tick 10): ±15 % = 1,500 -> 8,500 / 11,500; ±30 % = 3,000 -> 7,000 / 13,000
    old = daily_limits(10_000, rate_percent=limit_rate_percent(date(2010, 3, 2)))
    assert (old.lower, old.upper) == (8_500, 11_500)
    new = daily_limits(10_000, rate_percent=limit_rate_percent(date(2020, 3, 2)))
    assert (new.lower, new.upper) == (7_000, 13_000)


@pytest.mark.parametrize(
    ("day", "market", "base", "lower", "upper"),
    [
        # KRX's KOSDAQ page (±30 %, the 2010-2023 KOSDAQ grid): 9,940 × 0.3 = 2,982 -> 2,980;
        # 12,920 -> tick 50 -> 12,900; 6,960
        (date(2016, 5, 2), KOSDAQ, 9_940, 6_960, 12_900),
        # the same base in 2004: ±12 %: 1,192.8 -> 1,192 -> tick 10 -> 1,190; 11,130 -> 11,100
        (date(2004, 5, 3), KOSDAQ, 9_940, 8_750, 11_100),
        # KOSPI 1999, ±15 %: 9,980 × 0.15 = 1,497 -> 1,490; 11,470 -> tick 50 -> 11,450; 8,490
        (date(1999, 6, 1), KOSPI, 9_980, 8_490, 11_450),
        # KOSPI 2012, ±15 %, 150,000 (tick 500): 22,500; 172,500 / 127,500 (both on 500)
        (date(2012, 6, 1), KOSPI, 150_000, 127_500, 172_500),
        # KOSPI 2022 ±30 %, 150,000 (tick 500 then): 45,000; 195,000 / 105,000
        (date(2022, 6, 2), KOSPI, 150_000, 105_000, 195_000),
        # KOSPI 2009, ±15 %, base 995 on the 5-won grid: 149.25 -> 149 -> 145; 1,140 / 850
        (date(2009, 6, 1), KOSPI, 995, 850, 1_140),
    ],
)
def test_limits_on_the_grid_of_their_date(
    day: date, market: Market, base: int, lower: int, upper: int
) -> None:
    lim = rules_on(day, market).limits(base)
    assert (lim.lower, lim.upper) == (lower, upper)
