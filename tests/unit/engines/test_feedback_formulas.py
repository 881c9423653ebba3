"""§12.8 oracles of the feedback formulas, and the summary's defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qts.engines.feedback import (
    ExecutionMeasure,
    expected_entry_price,
    fill_ratio,
    market_impact_bps,
    measure,
    quality_score,
    size_cap,
    slippage_bps,
    summarise,
)
from qts.engines.feedback.formulas import raw_entry_price
from qts.model.enums import OrderSide

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def test_slippage_oracle_75000_to_75050_is_6_67_bps() -> None:
    assert slippage_bps(75_050, 75_000, OrderSide.BUY) == pytest.approx(6.6667, abs=1e-3)


def test_slippage_is_signed_against_the_trader_for_sells() -> None:
    assert slippage_bps(74_950, 75_000, OrderSide.SELL) == pytest.approx(6.6667, abs=1e-3)
    assert slippage_bps(75_050, 75_000, OrderSide.SELL) < 0


def test_quality_oracle_is_0_906() -> None:
    assert quality_score(8.5, 0.0, 45.2) == pytest.approx(0.906, abs=5e-4)


def test_quality_saturates_at_50_bps_and_1000_ms() -> None:
    assert quality_score(50.0, 0.0, 0.0) == pytest.approx(0.5)
    assert quality_score(500.0, 1.0, 5_000.0) == 0.0
    assert quality_score(0.0, 0.0, 1_000.0) == pytest.approx(0.8)


@given(
    st.floats(-1e4, 1e4, allow_nan=False),
    st.floats(-2.0, 2.0, allow_nan=False),
    st.floats(-1e6, 1e6, allow_nan=False),
)
def test_quality_always_in_unit_interval(slip: float, ratio: float, lat: float) -> None:
    assert 0.0 <= quality_score(slip, ratio, lat) <= 1.0


def test_impact_oracle_1000_of_1000000_with_5_bps_spread() -> None:
    assert market_impact_bps(1_000, 1_000_000, 5.0) == pytest.approx(1.58, abs=5e-3)


def test_size_cap_oracle_1000_at_50_bps_capped_at_20_is_400() -> None:
    assert size_cap(1_000, 50.0, 20.0) == 400
    assert size_cap(1_000, 15.0, 20.0) == 1_000


def test_entry_oracle_75000_buy_with_10_bps() -> None:
    assert raw_entry_price(75_000, OrderSide.BUY, 10.0) == pytest.approx(75_075)
    # on the KRX grid (100 won in the 50,000–199,999 band) the buy limit rounds up
    assert expected_entry_price(75_000, OrderSide.BUY, 10.0) == 75_100
    assert expected_entry_price(75_000, OrderSide.SELL, 10.0) == 74_900
    assert expected_entry_price(1_500, OrderSide.BUY, 0.0) == 1_500


def test_fill_ratio_is_filled_over_ordered() -> None:
    assert fill_ratio(75, 100) == 0.75
    with pytest.raises(ValueError):
        fill_ratio(1, 0)


def test_no_data_gives_the_defaults() -> None:
    s = summarise([])
    assert (s.avg_slippage_bps, s.avg_market_impact_bps, s.avg_quality_score) == (10.0, 15.0, 0.75)
    assert s.samples == 0


def test_measure_of_one_execution() -> None:
    fills = [
        (50, 75_100, T0 + timedelta(milliseconds=20)),
        (50, 75_000, T0 + timedelta(milliseconds=60)),
    ]
    m = measure(
        time=T0,
        symbol="005930",
        order_id="o1",
        strategy="scalp_reversion",
        side=OrderSide.BUY,
        decision_price=75_000,
        ordered_qty=100,
        fills=fills,
        started_at=T0,
        spread_bps=5.0,
        avg_daily_volume=1_000_000,
    )
    assert m.slippage_bps == pytest.approx(6.6667, abs=1e-3)
    assert m.fill_latency_ms == pytest.approx(40.0)
    assert m.fill_ratio == 1.0
    assert m.quality_score == pytest.approx(quality_score(m.slippage_bps, 0.0, 40.0))
    rows = [m, ExecutionMeasure(T0, "005930", "o2", "s", 0.0, 0.0, 0.5, 0.5, 3.0)]
    s = summarise(rows)
    assert s.samples == 2
    assert s.avg_fill_ratio == 0.75
