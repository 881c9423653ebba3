"""Daily ±30 % limits: width = base × 0.3 cut to the base's tick, then each limit cut to its band.

Each table row shows its hand arithmetic.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qts.market.krx.price_limit import PriceLimits, daily_limits
from qts.market.krx.tick_size import is_on_tick, round_down


@pytest.mark.parametrize(
    ("base", "lower", "upper"),
    [
        # KRX's own example: 9,980 × 0.3 = 2,994 → tick 10 → 2,990; 12,970 / 6,990
        (9_980, 6_990, 12_970),
        # 1,000 × 0.3 = 300 (tick 1); 1,300 / 700
        (1_000, 700, 1_300),
        # 1,999 × 0.3 = 599.7 → 599 (tick 1); 2,598 lies in the 5-won band → 2,595; 1,400
        (1_999, 1_400, 2_595),
        # 4,995 × 0.3 = 1,498.5 → 1,498 → tick 5 → 1,495; 6,490 (10-won band, on grid) / 3,500
        (4_995, 3_500, 6_490),
        # 6,660 × 0.3 = 1,998 → tick 10 → 1,990; 8,650 / 4,670 (5-won band, on grid)
        (6_660, 4_670, 8_650),
        # 16,990 × 0.3 = 5,097 → tick 10 → 5,090; 22,080 → 50-won band → 22,050; 11,900
        (16_990, 11_900, 22_050),
        # 38,650 × 0.3 = 11,595 → tick 50 → 11,550; 50,200 (100-won band, on grid) / 27,100
        (38_650, 27_100, 50_200),
        # 50,000 × 0.3 = 15,000; 65,000 / 35,000
        (50_000, 35_000, 65_000),
        # 183,700 × 0.3 = 55,110 → tick 100 → 55,100; 238,800 → 500-won band → 238,500; 128,600
        (183_700, 128_600, 238_500),
        # 412,500 × 0.3 = 123,750 → tick 500 → 123,500; 536,000 / 289,000
        (412_500, 289_000, 536_000),
        # 1,000,000 × 0.3 = 300,000; 1,300,000 / 700,000
        (1_000_000, 700_000, 1_300_000),
        # 4 × 0.3 = 1.2 → 1; 5 / 3
        (4, 3, 5),
        # 3 × 0.3 = 0.9 → 0: no room either way
        (3, 3, 3),
    ],
)
def test_stock_limits(base: int, lower: int, upper: int) -> None:
    assert daily_limits(base) == PriceLimits(base=base, lower=lower, upper=upper)


@pytest.mark.parametrize(
    ("base", "lower", "upper"),
    [
        # 10,000 × 0.3 = 3,000 (tick 5); 13,000 / 7,000
        (10_000, 7_000, 13_000),
        # 9,985 × 0.3 = 2,995.5 → 2,995 (tick 5); 12,980 / 6,990
        (9_985, 6_990, 12_980),
    ],
)
def test_etf_limits(base: int, lower: int, upper: int) -> None:
    assert daily_limits(base, etf=True) == PriceLimits(base=base, lower=lower, upper=upper)


def test_contains_is_inclusive() -> None:
    limits = daily_limits(9_980)
    assert limits.contains(12_970)
    assert limits.contains(6_990)
    assert not limits.contains(12_980)
    assert not limits.contains(6_980)


@pytest.mark.parametrize("base", [0, -100])
def test_non_positive_base_rejected(base: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        daily_limits(base)


@given(st.integers(min_value=1, max_value=3_000_000))
def test_limits_on_grid_and_within_30_percent(raw: int) -> None:
    base = round_down(raw)
    limits = daily_limits(base)
    assert is_on_tick(limits.lower)
    assert is_on_tick(limits.upper)
    # integer form of 0.7 × base <= lower <= base <= upper <= 1.3 × base
    assert limits.lower * 10 >= base * 7
    assert limits.upper * 10 <= base * 13
    assert limits.lower <= base <= limits.upper


@given(st.integers(min_value=5, max_value=3_000_000))
def test_etf_limits_on_5_grid_and_within_30_percent(raw: int) -> None:
    base = round_down(raw, etf=True)
    limits = daily_limits(base, etf=True)
    assert limits.lower % 5 == 0
    assert limits.upper % 5 == 0
    assert limits.lower * 10 >= base * 7
    assert limits.upper * 10 <= base * 13
