"""The daily limit in force on a date: ±15 % before 2015-06-15, ±30 % from then (KRX), checked
against limits computed by hand for both eras."""

from __future__ import annotations

from datetime import date

import pytest

from qts.market.krx.price_limit import daily_limits, limit_rate_percent


@pytest.mark.parametrize(
    ("day", "rate"),
    [
        (date(1999, 1, 4), 15),
        (date(2008, 10, 24), 15),
        (date(2015, 6, 12), 15),
        (date(2015, 6, 15), 30),
        (date(2026, 1, 5), 30),
        (None, 30),
    ],
)
def test_rate_by_date(day: date | None, rate: int) -> None:
    assert limit_rate_percent(day) == rate


def test_limits_of_each_era_by_hand() -> None:
    # base 10,000 (tick 10): ±15 % = 1,500 -> 8,500 / 11,500; ±30 % = 3,000 -> 7,000 / 13,000
    old = daily_limits(10_000, rate_percent=limit_rate_percent(date(2010, 3, 2)))
    assert (old.lower, old.upper) == (8_500, 11_500)
    new = daily_limits(10_000, rate_percent=limit_rate_percent(date(2020, 3, 2)))
    assert (new.lower, new.upper) == (7_000, 13_000)
