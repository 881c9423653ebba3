"""The MarketDataStore contract, run against every adapter in market_helpers.MARKET_KINDS.

Round trips in the store's zone, half-open ranges, the tick order and the bar rule (checked
against an independent Python computation on random ticks), all-or-none writes, value checks,
the reference tables' upserts and deletes, and retention as of an explicit ``now``.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from market_helpers import MARKET_KINDS, MarketKind, expected_bars, random_ticks, tick_order

from qts.core.errors import StorageError
from qts.core.time import kst
from qts.data.market_ports import (
    Bar,
    ExecutionLog,
    FeedbackRow,
    MarketDataStore,
    RiskConfig,
    StrategyParam,
    Tick,
)

T0 = kst(2024, 1, 2, 9, 0)
DAY = timedelta(days=1)
_fresh_symbols = (f"S{n:05d}" for n in itertools.count())


@pytest.fixture(params=MARKET_KINDS, ids=lambda kind: kind.name)
def market_kind(request: pytest.FixtureRequest) -> MarketKind:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def market(market_kind: MarketKind, tmp_path: Path) -> Iterator[MarketDataStore]:
    store = market_kind.open(tmp_path / "market")
    yield store
    store.close()


def assert_kst(ts: datetime) -> None:
    assert ts.utcoffset() == timedelta(hours=9)


# ---------------------------------------------------------------- ticks


def test_a_new_store_is_empty(market: MarketDataStore) -> None:
    assert isinstance(market, MarketDataStore)
    assert market.latest_ticks(["005930"]) == {}
    assert market.ticks("005930", T0, T0 + DAY) == []
    assert market.ohlcv_1m("005930", T0, T0 + DAY) == []
    assert market.ohlcv_1d("005930", T0 - 10 * DAY, T0) == []
    assert market.execution_logs(T0, T0 + DAY) == []
    assert market.feedback(T0, T0 + DAY) == []
    assert market.strategy_params() == []
    assert market.risk_configs() == {}
    assert market.ingest_ticks([]) == 0


def test_ticks_round_trip_in_tick_order_and_in_kst(market: MarketDataStore) -> None:
    rng = random.Random(7)
    ticks = random_ticks(rng, "005930", T0, 30, 400) + random_ticks(rng, "000660", T0, 30, 50)
    utc = [dataclasses.replace(t, time=t.time.astimezone(UTC)) for t in ticks[:100]]
    assert market.ingest_ticks(utc + ticks[100:]) == len(ticks)
    loaded = market.ticks("005930", T0, T0 + DAY)
    assert loaded == sorted((t for t in ticks if t.symbol == "005930"), key=tick_order)
    for t in loaded[:5]:
        assert_kst(t.time)
        assert type(t.price) is int and type(t.volume) is int


def test_tick_ranges_are_half_open(market: MarketDataStore) -> None:
    ticks = [Tick(T0 + timedelta(seconds=s), "005930", 70_000 + s, 1) for s in range(10)]
    market.ingest_ticks(ticks)
    assert (
        market.ticks("005930", T0 + timedelta(seconds=2), T0 + timedelta(seconds=5)) == (ticks[2:5])
    )
    assert market.ticks("005930", T0, T0) == []
    assert market.ticks("000660", T0, T0 + DAY) == []


def test_the_latest_tick_is_the_last_in_tick_order(market: MarketDataStore) -> None:
    t1 = T0 + timedelta(seconds=1)
    market.ingest_ticks(
        [
            Tick(t1, "005930", 70_100, 5, source="KIS"),
            Tick(T0, "005930", 70_900, 9),
            Tick(t1, "005930", 70_100, 5, source="KRX"),  # the last: same time/price/volume
            Tick(t1, "005930", 70_000, 99),
            Tick(T0, "000660", 130_000, 1, bid=129_900, ask=130_100),
        ]
    )
    latest = market.latest_ticks(["005930", "035420", "000660", "005930"])
    assert latest == {
        "005930": Tick(t1, "005930", 70_100, 5, source="KRX"),
        "000660": Tick(T0, "000660", 130_000, 1, bid=129_900, ask=130_100),
    }
    assert_kst(latest["005930"].time)
    assert market.latest_ticks([]) == {}


@pytest.mark.parametrize(
    "spoil",
    [
        {"price": 70_000.5},
        {"price": 0},
        {"volume": -1},
        {"time": datetime(2024, 1, 2, 9, 0)},
        {"symbol": None},
        {"bid": 1.5},
        {"price": 2**63},
    ],
    ids=[
        "float-price",
        "zero-price",
        "negative-volume",
        "naive",
        "null-symbol",
        "float-bid",
        "i64",
    ],
)
def test_a_batch_with_one_bad_tick_stores_none_of_it(
    market: MarketDataStore, spoil: dict[str, Any]
) -> None:
    good = [Tick(T0 + timedelta(seconds=i), "005930", 70_000, 1) for i in range(5)]
    bad = dataclasses.replace(good[0], **spoil)
    with pytest.raises(StorageError, match="ingest_ticks"):
        market.ingest_ticks([*good, bad])
    assert market.ticks("005930", T0 - DAY, T0 + DAY) == []
    assert market.latest_ticks(["005930"]) == {}


def test_integral_values_of_other_types_are_stored_as_int(market: MarketDataStore) -> None:
    market.ingest_ticks([Tick(T0, "005930", True, 2.0)])  # type: ignore[arg-type]
    (tick,) = market.ticks("005930", T0, T0 + DAY)
    assert (tick.price, tick.volume) == (1, 2)
    assert type(tick.price) is int and type(tick.volume) is int


def test_ranges_must_be_aware(market: MarketDataStore) -> None:
    naive = datetime(2024, 1, 2, 9, 0)
    with pytest.raises(StorageError, match="timezone-aware"):
        market.ticks("005930", naive, T0)
    with pytest.raises(StorageError, match="timezone-aware"):
        market.ohlcv_1m("005930", T0, naive)


# ---------------------------------------------------------------- bars


def test_one_minute_bars_equal_the_ticks_first_max_min_last_and_volume(
    market: MarketDataStore,
) -> None:
    rng = random.Random(20240102)
    ticks = random_ticks(rng, "005930", T0, 90, 3_000) + random_ticks(rng, "000660", T0, 90, 500)
    market.ingest_ticks(ticks)
    start, end = T0 + timedelta(minutes=10), T0 + timedelta(minutes=70)
    bars = market.ohlcv_1m("005930", start, end)
    assert bars == [b for b in expected_bars(ticks, start, end) if b.symbol == "005930"]
    assert len(bars) == 60
    for bar in bars:
        assert_kst(bar.time)
        assert all(type(v) is int for v in (bar.open, bar.high, bar.low, bar.close, bar.volume))


def test_a_bar_is_in_range_by_its_minute_and_keeps_all_its_ticks(
    market: MarketDataStore,
) -> None:
    ticks = [
        Tick(T0 + timedelta(seconds=10), "005930", 100, 1),
        Tick(T0 + timedelta(seconds=50), "005930", 300, 2),
        Tick(T0 + timedelta(minutes=1, seconds=5), "005930", 200, 4),
        Tick(T0 + timedelta(minutes=1, seconds=5), "005930", 150, 8),  # same instant
        Tick(T0 + timedelta(minutes=2), "005930", 400, 16),
    ]
    market.ingest_ticks(ticks)
    half = T0 + timedelta(seconds=30)
    # The 09:00 bar starts before `half`: out; 09:01 is in, whole; 09:02 starts at `end`: out.
    assert market.ohlcv_1m("005930", half, T0 + timedelta(minutes=2)) == [
        Bar(T0 + timedelta(minutes=1), "005930", 150, 200, 150, 200, 12)
    ]
    assert market.ohlcv_1m("005930", T0, T0 + timedelta(seconds=1)) == [
        Bar(T0, "005930", 100, 300, 100, 300, 3)
    ]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(1, 300),
    minutes=st.integers(1, 15),
    offset_s=st.integers(0, 59),
)
def test_bars_equal_an_independent_computation_on_random_ticks(
    market: MarketDataStore, seed: int, count: int, minutes: int, offset_s: int
) -> None:
    # One store for every example (the fixture's); each example has a symbol of its own.
    rng = random.Random(seed)
    symbol = next(_fresh_symbols)
    ticks = random_ticks(rng, symbol, T0 + timedelta(seconds=offset_s), minutes, count)
    market.ingest_ticks(ticks)
    lo, hi = T0 - DAY, T0 + DAY
    assert market.ohlcv_1m(symbol, lo, hi) == expected_bars(ticks, lo, hi)


def test_daily_bars_are_replaced_by_key_and_read_by_range(market: MarketDataStore) -> None:
    days = [kst(2024, 1, d) for d in (2, 3, 4)]
    bars = [Bar(d, "005930", 70_000, 71_000, 69_000, 70_500, 1_000 * i) for i, d in enumerate(days)]
    market.save_ohlcv_1d(bars)
    market.save_ohlcv_1d([dataclasses.replace(bars[1], close=70_900)])
    market.save_ohlcv_1d([Bar(days[0], "000660", 1, 1, 1, 1, 0)])
    assert market.ohlcv_1d("005930", days[0], days[2]) == [
        bars[0],
        dataclasses.replace(bars[1], close=70_900),
    ]
    with pytest.raises(StorageError, match="save_ohlcv_1d"):
        market.save_ohlcv_1d([Bar(days[2], "005930", 1, 1, 1, 1.5, 0)])  # type: ignore[arg-type]
    assert len(market.ohlcv_1d("005930", days[0], days[2] + DAY)) == 3


# ---------------------------------------------------------------- execution analytics


def test_execution_logs_round_trip_filter_and_order(market: MarketDataStore) -> None:
    rows = [
        ExecutionLog(T0 + timedelta(seconds=2), "O2", "005930", "Send", True, 12.5),
        ExecutionLog(T0, "O1", "005930", "PreCheck", True, 0.25),
        ExecutionLog(T0, "O1", "005930", "Monitor", False, None, "TIMEOUT"),
        ExecutionLog(T0 - DAY, "O0", "000660", "Send", True, 1.0),
    ]
    market.record_execution_logs(rows)
    assert market.execution_logs(T0, T0 + DAY) == [rows[2], rows[1], rows[0]]
    assert market.execution_logs(T0 - DAY, T0 + DAY, order_id="O1") == [rows[2], rows[1]]
    loaded = market.execution_logs(T0 - DAY, T0)[0]
    assert loaded == rows[3] and type(loaded.success) is bool
    assert_kst(loaded.time)
    with pytest.raises(StorageError, match="record_execution_logs"):
        market.record_execution_logs([rows[0], dataclasses.replace(rows[0], latency_ms="x")])
    with pytest.raises(StorageError, match="record_execution_logs"):
        market.record_execution_logs([dataclasses.replace(rows[0], success=1)])
    assert len(market.execution_logs(T0 - DAY, T0 + DAY)) == 4


def test_feedback_round_trip_filter_and_checks(market: MarketDataStore) -> None:
    rows = [
        FeedbackRow(T0, "005930", "O1", 8.5, 45.2, 1.0, 0.906, 1.58, "scalp"),
        FeedbackRow(T0 + timedelta(minutes=1), "000660", "O2", -3.0, 120.0, 0.5, 0.7, 0.0),
    ]
    market.record_feedback(rows)
    assert market.feedback(T0, T0 + DAY) == rows
    assert market.feedback(T0, T0 + DAY, symbol="000660") == rows[1:]
    for spoil in ({"fill_ratio": 1.5}, {"quality_score": float("nan")}, {"slippage_bps": None}):
        with pytest.raises(StorageError, match="record_feedback"):
            market.record_feedback([rows[0], dataclasses.replace(rows[1], **spoil)])
    assert market.feedback(T0 - DAY, T0 + DAY) == rows


# ---------------------------------------------------------------- reference tables


def test_strategy_params_upsert_list_and_delete(market: MarketDataStore) -> None:
    params = [
        StrategyParam("swing_ma", "fast", "5", T0, "int", "fast MA"),
        StrategyParam("swing_ma", "slow", "20", T0, "int"),
        StrategyParam("scalp_vwap", "band_bps", "12.5", T0, "float"),
    ]
    market.save_strategy_params(params)
    changed = dataclasses.replace(params[1], value="30", updated_at=T0 + DAY)
    market.save_strategy_params([changed])
    assert market.strategy_params() == [params[2], params[0], changed]
    assert market.strategy_params("swing_ma") == [params[0], changed]
    assert market.delete_strategy_params("swing_ma", "fast") == 1
    assert market.delete_strategy_params("swing_ma", "fast") == 0
    assert market.delete_strategy_params("scalp_vwap") == 1
    assert market.strategy_params() == [changed]
    with pytest.raises(StorageError, match="save_strategy_params"):
        market.save_strategy_params([dataclasses.replace(params[0], value=5)])
    assert market.strategy_params() == [changed]


def test_risk_configs_are_exact_decimals(market: MarketDataStore) -> None:
    configs = [
        RiskConfig("max_exposure_pct", Decimal("0.30"), T0, "of equity"),
        RiskConfig("daily_loss_limit", Decimal("-3000000"), T0),
        RiskConfig("tiny", Decimal("0.00000001"), T0),
    ]
    market.save_risk_configs(configs)
    market.save_risk_configs([dataclasses.replace(configs[0], value=Decimal("0.25"))])
    loaded = market.risk_configs()
    assert list(loaded) == ["daily_loss_limit", "max_exposure_pct", "tiny"]
    assert loaded["max_exposure_pct"].value == Decimal("0.25")
    assert loaded["tiny"] == configs[2] and isinstance(loaded["tiny"].value, Decimal)
    for bad in (Decimal("0.000000001"), Decimal("1e10"), 0.3, Decimal("NaN")):
        with pytest.raises(StorageError, match="save_risk_configs"):
            market.save_risk_configs([RiskConfig("bad", bad, T0)])  # type: ignore[arg-type]
    assert market.delete_risk_config("tiny") is True
    assert market.delete_risk_config("tiny") is False
    assert set(market.risk_configs()) == {"daily_loss_limit", "max_exposure_pct"}


# ---------------------------------------------------------------- retention and lifecycle


def test_maintenance_expires_rows_by_retention_as_of_now(market: MarketDataStore) -> None:
    now = kst(2024, 3, 1, 18, 0)
    ages = [timedelta(days=d) for d in (1, 6, 8, 30, 100, 200)]
    market.ingest_ticks([Tick(now - age, "005930", 70_000, 1) for age in ages])
    market.record_execution_logs([ExecutionLog(now - a, "O", "005930", "Send", True) for a in ages])
    market.record_feedback([FeedbackRow(now - a, "005930", "O", 1, 1, 1, 1, 1) for a in ages])
    market.run_maintenance(now)
    far = now - timedelta(days=400)
    assert [now - t.time for t in market.ticks("005930", far, now)] == ages[1::-1]
    assert [now - e.time for e in market.execution_logs(far, now)] == ages[3::-1]
    assert [now - f.time for f in market.feedback(far, now)] == ages[4::-1]
    with pytest.raises(StorageError, match="timezone-aware"):
        market.run_maintenance(datetime(2024, 3, 1))


def test_a_closed_store_refuses_work_and_closes_twice(market: MarketDataStore) -> None:
    market.close()
    market.close()
    with pytest.raises(StorageError, match="closed"):
        market.ticks("005930", T0, T0 + DAY)
    with pytest.raises(StorageError, match="closed"):
        market.ingest_ticks([Tick(T0, "005930", 1, 1)])
