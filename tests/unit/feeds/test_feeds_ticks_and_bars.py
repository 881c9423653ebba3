"""Vectorised tick helpers agree with the scalar KRX rules; BarSeries guards its invariants."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qts.core.errors import DataError
from qts.core.time import kst
from qts.feeds.bars import BarSeries, LevelSeries, daily_epoch, from_epoch, to_epoch
from qts.feeds.ticks import off_grid, round_nearest_array, tick_sizes
from qts.market.krx.tick_size import STOCK_BANDS, is_on_tick, round_nearest, tick_size
from qts.model.bar import Bar

BOUNDARIES = [lo for lo, _ in STOCK_BANDS if lo > 0]
# floats near every band boundary, where a rounding bug would show, plus the whole range
near_boundary = st.sampled_from(BOUNDARIES).flatmap(
    lambda b: st.floats(min_value=b - 30.0, max_value=b + 30.0)
)
any_price = st.floats(min_value=0.0, max_value=3_000_000.0)
float_prices = st.one_of(near_boundary, any_price)


@given(st.lists(float_prices, min_size=1, max_size=50), st.booleans())
def test_round_nearest_array_matches_scalar(values: list[float], etf: bool) -> None:
    got = round_nearest_array(np.array(values), etf)
    assert got.tolist() == [round_nearest(v, etf) for v in values]


@given(float_prices, float_prices, st.booleans())
def test_round_nearest_array_is_monotone(a: float, b: float, etf: bool) -> None:
    lo, hi = sorted((a, b))
    r = round_nearest_array(np.array([lo, hi]), etf)
    assert r[0] <= r[1]


@given(st.lists(st.integers(1, 3_000_000), min_size=1, max_size=50), st.booleans())
def test_tick_sizes_and_off_grid_match_scalar(prices: list[int], etf: bool) -> None:
    arr = np.array(prices, dtype=np.int64)
    assert tick_sizes(arr, etf).tolist() == [tick_size(p, etf) for p in prices]
    assert off_grid(arr, etf).tolist() == [not is_on_tick(p, etf) for p in prices]


def _series(**over: list[int]) -> BarSeries:
    start = to_epoch(kst(2024, 3, 4, 9, 0))
    cols: dict[str, list[int]] = {
        "ts": [start, start + 60, start + 120],
        "open": [10_000, 10_050, 10_100],
        "high": [10_100, 10_150, 10_200],
        "low": [9_990, 10_000, 10_050],
        "close": [10_050, 10_100, 10_150],
        "volume": [10, 0, 5],
    }
    cols.update(over)
    return _build(*(np.array(cols[k], dtype=np.int64) for k in cols))


def _build(*cols: np.ndarray) -> BarSeries:
    ts, o, h, lo, c, v = cols
    return BarSeries("005930", ts, o, h, lo, c, v)


def test_valid_series_passes_and_is_read_only() -> None:
    s = _series()
    s.validate()
    with pytest.raises(ValueError, match="read-only"):
        s.close[0] = 1


def test_construction_copies_the_callers_array() -> None:
    base = _series()
    close = np.array([10_050, 10_100, 10_150], dtype=np.int64)
    s = BarSeries("005930", base.ts, base.open, base.high, base.low, close, base.volume)
    close[0] = 1
    assert s.close[0] == 10_050 and close.flags.writeable


def test_float_columns_are_refused_not_truncated() -> None:
    with pytest.raises(TypeError, match="integers"):
        _build(*(np.array([v]) for v in (1, 1.5, 2, 1, 1, 1)))


def test_columns_must_have_equal_length() -> None:
    with pytest.raises(ValueError, match="close has 2 values"):
        cols = [np.array(c) for c in ([1, 2, 3], [1] * 3, [1] * 3, [1] * 3, [1, 1], [1] * 3)]
        _build(*cols)


@pytest.mark.parametrize(
    ("over", "bar", "field", "reason"),
    [
        ({"close": [10_050, 10_105, 10_150]}, 1, "close", "10,105 is not on the KRX tick grid"),
        ({"open": [10_000, 0, 10_100]}, 1, "open", "0 is not a positive price"),
        ({"high": [10_100, 10_050, 10_200]}, 1, "high", "below max(open, close) 10,100"),
        ({"low": [9_990, 10_000, 10_110]}, 2, "low", "above min(open, close) 10,100"),
        ({"volume": [10, 0, -1]}, 2, "volume", "-1 is negative"),
    ],
)
def test_validate_names_bar_field_and_reason(
    over: dict[str, list[int]], bar: int, field: str, reason: str
) -> None:
    with pytest.raises(DataError) as info:
        _series(**over).validate()
    assert info.value.source == f"005930 bar {bar}"
    assert info.value.field == field
    assert reason in info.value.reason


def test_validate_reports_the_earliest_bar() -> None:
    s = _series(close=[10_050, 10_100, 10_155], open=[10_000, 10_055, 10_100])
    with pytest.raises(DataError) as info:
        s.validate()
    assert (info.value.source, info.value.field) == ("005930 bar 1", "open")


def test_validate_refuses_repeated_timestamps() -> None:
    start = to_epoch(kst(2024, 3, 4, 9, 0))
    with pytest.raises(DataError, match="bar 2: date"):
        _series(ts=[start, start + 60, start + 60]).validate()


def test_etf_grid_is_flat_five() -> None:
    s = _series(close=[10_055, 10_105, 10_155])
    with pytest.raises(DataError):
        s.validate()
    BarSeries(s.symbol, s.ts, s.open, s.high, s.low, s.close, s.volume, etf=True).validate()


def test_slices_between_concat_and_bars_roundtrip() -> None:
    s = _series()
    assert len(s[1:]) == 2 and s[1:].close.tolist() == [10_100, 10_150]
    part = s.between(kst(2024, 3, 4, 9, 1), kst(2024, 3, 4, 9, 2))
    assert part.time_at(0) == kst(2024, 3, 4, 9, 1) and len(part) == 1
    assert BarSeries.concat([s[:1], s[1:]]) == s
    rebuilt = BarSeries.from_bars("005930", list(s.bars()))
    assert rebuilt == s
    assert s.bar(0) == Bar("005930", kst(2024, 3, 4, 9, 0), 10_000, 10_100, 9_990, 10_050, 10)


def test_daily_epoch_follows_korean_summer_time() -> None:
    # Korea kept summer time (UTC+10) in 1987: 09:00 local was 23:00 UTC the day before
    assert kst(1987, 7, 1, 9).utcoffset() == timedelta(hours=10)
    assert daily_epoch(date(1987, 7, 1)) == calendar.timegm((1987, 6, 30, 23, 0, 0))
    assert daily_epoch(date(2024, 7, 1)) == calendar.timegm((2024, 7, 1, 0, 0, 0))
    assert from_epoch(daily_epoch(date(1987, 7, 1))) == kst(1987, 7, 1, 9, 0)


def test_level_series_checks_lengths() -> None:
    with pytest.raises(ValueError, match="2 values for 3 times"):
        LevelSeries("VKOSPI", np.array([1, 2, 3]), np.array([18.0, 19.0]))
