"""Tick grid: the band table from krx-market-rules.md (since 2023-01-25) and its edges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qts.market.krx.tick_size import (
    is_on_tick,
    round_down,
    round_nearest,
    round_up,
    step,
    tick_size,
    ticks_between,
)

MAX_PRICE = 3_000_000
prices = st.integers(min_value=1, max_value=MAX_PRICE)


@pytest.mark.parametrize(
    ("price", "tick"),
    [
        (1, 1),
        (1_999, 1),
        (2_000, 5),
        (4_999, 5),
        (5_000, 10),
        (19_990, 10),
        (19_999, 10),
        (20_000, 50),
        (49_950, 50),
        (50_000, 100),
        (199_900, 100),
        (200_000, 500),
        (499_500, 500),
        (500_000, 1_000),
        (2_500_000, 1_000),
    ],
)
def test_stock_tick_by_band(price: int, tick: int) -> None:
    assert tick_size(price) == tick


@pytest.mark.parametrize("price", [1, 1_999, 2_000, 10_000, 50_000, 500_000, 1_000_000])
def test_etf_tick_is_flat_5(price: int) -> None:
    assert tick_size(price, etf=True) == 5


@pytest.mark.parametrize("price", [0, -5])
def test_non_positive_price_rejected(price: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        tick_size(price)


@pytest.mark.parametrize(
    ("price", "etf", "on"),
    [
        (1_999, False, True),
        (2_003, False, False),
        (2_005, False, True),
        (5_005, False, False),
        (20_025, False, False),
        (20_050, False, True),
        (499_500, False, True),
        (500_500, False, False),
        (10_005, True, True),
        (10_003, True, False),
        (0, False, False),
    ],
)
def test_is_on_tick(price: int, etf: bool, on: bool) -> None:
    assert is_on_tick(price, etf) is on


@pytest.mark.parametrize(
    ("price", "down", "up"),
    [
        (1_999, 1_999, 1_999),
        (2_001, 2_000, 2_005),
        (4_996, 4_995, 5_000),
        (4_999, 4_995, 5_000),
        (5_000, 5_000, 5_000),
        (5_009, 5_000, 5_010),
        (19_991, 19_990, 20_000),
        (20_001, 20_000, 20_050),
        (49_951, 49_950, 50_000),
        (199_901, 199_900, 200_000),
        (499_501, 499_500, 500_000),
        (500_999, 500_000, 501_000),
    ],
)
def test_round_down_and_up(price: int, down: int, up: int) -> None:
    assert round_down(price) == down
    assert round_up(price) == up


@pytest.mark.parametrize(
    ("price", "etf", "nearest"),
    [
        (2_002.4, False, 2_000),
        (2_002.5, False, 2_005),  # tie goes up
        (2_003, False, 2_005),
        (4_997.4, False, 4_995),
        (4_998, False, 5_000),
        (19_994.9, False, 19_990),
        (19_995, False, 20_000),  # 19,990 and 20,000 are equally far: up
        (1_999.6, False, 2_000),
        (0.3, False, 1),
        (10_002, True, 10_000),
        (10_003, True, 10_005),
    ],
)
def test_round_nearest(price: float, etf: bool, nearest: int) -> None:
    assert round_nearest(price, etf) == nearest


@pytest.mark.parametrize(
    ("price", "ticks", "expected"),
    [
        (1_000, 0, 1_000),
        (1_999, 1, 2_000),
        (2_000, -1, 1_999),
        (1_998, 3, 2_005),
        (4_995, 1, 5_000),
        (5_000, -1, 4_995),
        (19_990, 1, 20_000),
        (20_000, -1, 19_990),
        (49_950, 1, 50_000),
        (50_000, -2, 49_900),
        (199_900, 1, 200_000),
        (499_500, 1, 500_000),
        (500_000, -1, 499_500),
    ],
)
def test_step(price: int, ticks: int, expected: int) -> None:
    assert step(price, ticks) == expected


def test_step_etf() -> None:
    assert step(10_000, 3, etf=True) == 10_015
    assert step(10_000, -2, etf=True) == 9_990


@pytest.mark.parametrize(
    ("low", "high", "n"),
    [(1_998, 2_005, 3), (4_995, 5_010, 2), (19_950, 20_100, 7), (100, 100, 0)],
)
def test_ticks_between(low: int, high: int, n: int) -> None:
    # 19,950 -> 20,000 is 5 ticks of 10, then 20,050 and 20,100: 7
    assert ticks_between(low, high) == n


@given(prices)
def test_rounding_brackets_price_on_grid(p: int) -> None:
    down, up = round_down(p), round_up(p)
    assert down <= p <= up
    assert is_on_tick(down)
    assert is_on_tick(up)
    # tightest: the next grid price after `down` and the previous one before `up` bracket p
    assert step(down, 1) > p
    if up > 1:
        assert step(up, -1) < p


@given(prices)
def test_round_nearest_is_one_of_the_neighbours(p: int) -> None:
    n = round_nearest(p + 0.25)
    assert n in (round_down(p), round_up(p + 1))
    assert is_on_tick(n)


@given(st.integers(min_value=1, max_value=MAX_PRICE - 1))
def test_tick_size_monotone(p: int) -> None:
    assert tick_size(p) <= tick_size(p + 1)


@given(st.integers(min_value=100, max_value=MAX_PRICE), st.integers(min_value=-50, max_value=50))
def test_step_round_trip(p: int, n: int) -> None:
    # from >= 100, fifty ticks down stay positive (ticks below 2,000 are 1 KRW)
    start = round_up(p)
    moved = step(start, n)
    assert is_on_tick(moved)
    assert (moved > start) == (n > 0)
    assert step(moved, -n) == start


@given(prices, prices)
def test_ticks_between_matches_step(a: int, b: int) -> None:
    low, high = sorted((round_down(a), round_down(b)))
    assert step(low, ticks_between(low, high)) == high


@given(st.integers(min_value=5, max_value=MAX_PRICE))
def test_etf_rounding_on_5_grid(p: int) -> None:
    down, up = round_down(p, etf=True), round_up(p, etf=True)
    assert down <= p <= up
    assert down % 5 == 0
    assert up % 5 == 0
    assert up - down in (0, 5)
