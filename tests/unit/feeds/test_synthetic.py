"""Synthetic KRX market: reproducible, on the grid, inside the limits, and shaped like a market."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta

import numpy as np
import pytest

from qts.core.time import kst
from qts.feeds.bars import BarSeries
from qts.feeds.synthetic import (
    DEFAULT_UNIVERSE,
    VOL_INDEX_BOUNDS,
    MarketState,
    RegularSessions,
    SyntheticMarket,
    SyntheticSymbol,
)
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.price_limit import daily_limits
from qts.market.krx.tick_size import is_on_tick, tick_size
from qts.model.instrument import Market

CAL = KrxCalendar()
DAYS = CAL.trading_days(date(2024, 3, 4), date(2024, 5, 31))  # no special sessions inside
REGULAR_SLOTS = 381  # 09:00 ... 15:19 plus the 15:20 closing auction


def weekdays(start: date, n: int) -> list[date]:
    out: list[date] = []
    d = start
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


@pytest.fixture(scope="module")
def run() -> list[tuple[MarketState, dict[str, BarSeries]]]:
    """(state before the day, the day's bars) for every day of DAYS, chained."""
    m = SyntheticMarket(11)
    out = []
    state = m.start_state()
    for day in m.days(DAYS):
        out.append((state, dict(day.bars)))
        state = day.end_state
    return out


# --- reproducibility ---------------------------------------------------------------------------


def test_same_seed_same_bars_different_seed_different_bars() -> None:
    day = DAYS[3]
    a, b, c = SyntheticMarket(5).day(day), SyntheticMarket(5).day(day), SyntheticMarket(6).day(day)
    assert dict(a.bars) == dict(b.bars) and a.vol_index == b.vol_index
    for sym in a.bars:
        assert not np.array_equal(a.bars[sym].close, c.bars[sym].close)
    assert not np.array_equal(a.vol_index.value, c.vol_index.value)


def test_a_day_does_not_depend_on_what_was_generated_before() -> None:
    state = MarketState({"263750": 3_000, "051930": 700_000}, 25.0)
    fresh = SyntheticMarket(9).day(DAYS[10], state)
    used = SyntheticMarket(9)
    for d in reversed(DAYS[:12]):  # other days, out of order, then the day itself
        used.day(d)
    assert dict(used.day(DAYS[10], state).bars) == dict(fresh.bars)


def test_a_symbol_does_not_depend_on_the_rest_of_the_universe() -> None:
    alone = SyntheticMarket(3, symbols=[DEFAULT_UNIVERSE[4]]).day(DAYS[0])
    full = SyntheticMarket(3).day(DAYS[0])
    sym = DEFAULT_UNIVERSE[4].symbol
    assert alone.bars[sym] == full.bars[sym]


def test_streams_do_not_depend_on_the_python_hash_seed() -> None:
    code = (
        "from datetime import date; from qts.feeds.synthetic import *;"
        "d = SyntheticMarket(4, sessions=RegularSessions()).day(date(2024, 3, 5));"
        "print(sum(int(b.close.sum()) for b in d.bars.values()))"
    )
    expected = SyntheticMarket(4, sessions=RegularSessions()).day(date(2024, 3, 5))
    total = sum(int(b.close.sum()) for b in expected.bars.values())
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert int(out.stdout) == total


def test_daily_bars_restart_mid_way_gives_the_same_tail() -> None:
    m = SyntheticMarket(21)
    days = DAYS[:30]
    whole = m.daily_bars(days)
    k = 17
    level = float(m.vol_index(days[:k]).value[-1])
    closes = {s: int(b.close[k - 1]) for s, b in whole.items()}
    tail = SyntheticMarket(21).daily_bars(days[k:], closes, level)
    for sym, series in whole.items():
        assert series[k:] == tail[sym]


def test_daily_bars_aggregate_the_intraday_bars(
    run: list[tuple[MarketState, dict[str, BarSeries]]],
) -> None:
    daily = SyntheticMarket(11).daily_bars(DAYS)
    for i, (_, bars) in enumerate(run):
        for sym, b in bars.items():
            d = daily[sym]
            assert d.bar(i).ts == kst(DAYS[i].year, DAYS[i].month, DAYS[i].day, 9, 0)
            assert int(d.open[i]) == int(b.open[0])
            assert int(d.high[i]) == int(b.high.max()) and int(d.low[i]) == int(b.low.min())
            assert int(d.close[i]) == int(b.close[-1])
            assert int(d.volume[i]) == int(b.volume.sum())
    for d in daily.values():
        d.validate()


# --- KRX rules ---------------------------------------------------------------------------------


def test_prices_on_grid_inside_limits_and_consistent(
    run: list[tuple[MarketState, dict[str, BarSeries]]],
) -> None:
    etf = {s.symbol: s.etf for s in DEFAULT_UNIVERSE}
    for state, bars in run:
        assert set(bars) == {s.symbol for s in DEFAULT_UNIVERSE}
        for sym, b in bars.items():
            assert len(b) == REGULAR_SLOTS
            limits = daily_limits(state.closes[sym], etf[sym])  # the scalar rules, not the code's
            prices = np.concatenate((b.open, b.high, b.low, b.close))
            assert prices.min() >= limits.lower and prices.max() <= limits.upper
            assert all(is_on_tick(int(p), etf[sym]) for p in np.unique(prices))
            assert np.all(b.high >= np.maximum(b.open, b.close))
            assert np.all(b.low <= np.minimum(b.open, b.close))
            assert np.all(b.volume > 0)
            assert np.all(b.open[1:-1] == b.close[:-2])  # continuous trading has no gaps
            last = b.bar(len(b) - 1)
            assert last.open == last.high == last.low == last.close  # the closing auction
            b.validate()


def test_bar_times_cover_the_continuous_session_then_the_auction(
    run: list[tuple[MarketState, dict[str, BarSeries]]],
) -> None:
    _, bars = run[0]
    d = DAYS[0]
    b = next(iter(bars.values()))
    assert b.time_at(0) == kst(d.year, d.month, d.day, 9, 0)
    assert b.time_at(379) == kst(d.year, d.month, d.day, 15, 19)
    assert b.time_at(380) == kst(d.year, d.month, d.day, 15, 20)
    assert np.all(np.diff(b.ts[:-1]) == 60)


def test_wild_symbol_sticks_at_the_limits_without_crossing() -> None:
    wild = SyntheticSymbol("900001", "Wild", 10_000, idio_vol=0.4, jumps_per_day=3, jump_vol=0.2)
    m = SyntheticMarket(2, symbols=[wild], sessions=RegularSessions())
    hits = 0
    for day in m.days(weekdays(date(2024, 1, 1), 20)):
        b = day.bars["900001"]
        lim = day.limits["900001"]
        assert lim == daily_limits(lim.base)
        assert b.low.min() >= lim.lower and b.high.max() <= lim.upper
        hits += int(b.high.max() == lim.upper) + int(b.low.min() == lim.lower)
    assert hits >= 3  # the limits were actually exercised


def test_etf_trades_on_five_won_and_stocks_cover_every_band() -> None:
    day = SyntheticMarket(1).day(DAYS[0])
    etf = day.bars["139260"]
    assert etf.etf and np.any(etf.close % 50 != 0) and np.all(etf.close % 5 == 0)
    stock_ticks = {tick_size(s.base_price) for s in DEFAULT_UNIVERSE if not s.etf}
    assert stock_ticks == {1, 5, 10, 50, 100, 500, 1000}
    assert [s.market for s in DEFAULT_UNIVERSE].count(Market.KOSDAQ) == 1
    assert all(len(s.symbol) == 6 and s.symbol.isdigit() for s in DEFAULT_UNIVERSE)


def test_calendar_sessions_shorten_special_days_and_refuse_holidays() -> None:
    m = SyntheticMarket(1)
    first = m.day(date(2024, 1, 2))  # opening ceremony: continuous trading from 10:00
    b = first.bars["047310"]
    assert len(b) == 321 and b.time_at(0) == kst(2024, 1, 2, 10, 0)
    csat = m.day(date(2024, 11, 14))  # CSAT: 10:00 - 16:20, then the closing auction
    b = csat.bars["047310"]
    assert len(b) == REGULAR_SLOTS and b.time_at(380) == kst(2024, 11, 14, 16, 20)
    with pytest.raises(ValueError, match="not a KRX trading day"):
        m.day(date(2024, 5, 1))


def test_minutes_give_every_symbol_each_slot() -> None:
    day = SyntheticMarket(8).day(DAYS[2])
    slots = list(day.minutes())
    assert len(slots) == REGULAR_SLOTS
    assert [s.closing_auction for s in slots].count(True) == 1 and slots[-1].closing_auction
    for i in (0, 200, 380):
        assert set(slots[i].bars) == set(day.bars)
        for sym, bar in slots[i].bars.items():
            assert bar == day.bars[sym].bar(i) and bar.ts == slots[i].ts
        assert slots[i].vol_index == day.vol_index.value[i]


# --- market shape ------------------------------------------------------------------------------


def test_volume_is_u_shaped(run: list[tuple[MarketState, dict[str, BarSeries]]]) -> None:
    for sym in run[0][1]:
        vol = np.array([bars[sym].volume[:-1] for _, bars in run], dtype=np.float64)
        profile = vol.mean(axis=0)  # per minute of the continuous session, over ~60 days
        first, last, midday = profile[:30].mean(), profile[-30:].mean(), profile[150:270].mean()
        assert first > 1.5 * midday and last > 1.5 * midday, sym


def test_per_symbol_volatility_is_respected(
    run: list[tuple[MarketState, dict[str, BarSeries]]],
) -> None:
    def daily_vol(sym: str) -> float:
        closes = np.array([bars[sym].close[-1] for _, bars in run], dtype=np.float64)
        return float(np.std(np.diff(np.log(closes))))

    # KOSDAQ biotech (3.5 % idio, beta 1.2) moves far more than the index ETF (0.2 %, beta 1)
    assert daily_vol("263750") > 1.5 * daily_vol("139260")


def test_vol_index_mean_reverts_near_18_and_sometimes_spikes() -> None:
    days = weekdays(date(2000, 1, 3), 252 * 20)
    spiked = 0
    for seed in range(4):
        v = SyntheticMarket(seed, symbols=DEFAULT_UNIVERSE[:1], sessions=RegularSessions())
        level = v.vol_index(days).value
        closes = level[REGULAR_SLOTS - 1 :: REGULAR_SLOTS]
        assert len(closes) == len(days)
        assert VOL_INDEX_BOUNDS[0] <= level.min() and level.max() <= VOL_INDEX_BOUNDS[1]
        assert 15.5 < level.mean() < 20.5, level.mean()
        assert np.mean(closes > 40) < 0.03  # spikes are rare ...
        spiked += int(closes.max() > 40)
    assert spiked >= 3  # ... but happen in most 20-year histories


def test_vol_index_rises_when_the_market_falls() -> None:
    m = SyntheticMarket(13, sessions=RegularSessions())
    days = weekdays(date(2023, 1, 2), 250)
    etf = m.daily_bars(days)["139260"]
    level = m.vol_index(days).value[REGULAR_SLOTS - 1 :: REGULAR_SLOTS]
    market = np.diff(np.log(etf.close.astype(np.float64)))
    index = np.diff(np.log(level))
    assert np.corrcoef(market, index)[0, 1] < -0.4


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="seed"):
        SyntheticMarket(-1)
    with pytest.raises(ValueError, match="unique"):
        SyntheticMarket(1, symbols=[DEFAULT_UNIVERSE[0], DEFAULT_UNIVERSE[0]])
    with pytest.raises(ValueError, match="off the tick grid"):
        SyntheticSymbol("900002", "Off", 12_345, 0.02)
    with pytest.raises(ValueError, match="increasing"):
        SyntheticMarket(1).daily_bars([DAYS[1], DAYS[0]])
