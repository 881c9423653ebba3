"""Performance engine: round trips from the ledger and statistics from the equity curve."""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qts.core.errors import DataError
from qts.core.time import kst
from qts.data.ports import EquityPoint
from qts.engines.performance import (
    PerformanceReport,
    Trade,
    compute,
    drawdowns,
    round_trips,
)
from qts.model.account import Account
from qts.model.enums import OrderSide
from qts.model.fill import Fill
from qts.model.ledger import LedgerEntry

BUY, SELL = OrderSide.BUY, OrderSide.SELL
T0 = kst(2024, 3, 4, 9, 0)


class Book:
    """Books fills through the real account so ledger rows are what production writes."""

    def __init__(self, cash: int = 100_000_000) -> None:
        self.account = Account(cash)
        self.n = 0

    def fill(
        self,
        symbol: str,
        side: OrderSide,
        qty: int,
        price: int,
        commission: int = 0,
        tax: int = 0,
        ts: datetime | None = None,
        strategy: str = "s1",
    ) -> LedgerEntry:
        self.n += 1
        when = ts or T0 + timedelta(minutes=self.n)
        f = Fill(f"F{self.n}", f"C{self.n}", symbol, side, qty, price, when, commission, tax)
        return self.account.apply_fill(f, when.date() + timedelta(days=2), strategy=strategy)

    @property
    def entries(self) -> list[LedgerEntry]:
        return self.account.ledger.entries


def curve(values: list[int], start: datetime = T0, step: timedelta = timedelta(days=1)) -> list:
    return [EquityPoint(start + i * step, v, 0, v, 0, 0, 0) for i, v in enumerate(values)]


# --- round trips ------------------------------------------------------------------------------


def test_two_buys_one_sell_is_one_trade_at_average_prices_with_fees_in_pnl() -> None:
    b = Book()
    b.fill("005930", BUY, 10, 100, commission=15)
    b.fill("005930", BUY, 10, 110, commission=16)
    b.fill("005930", SELL, 20, 120, commission=36, tax=43)
    trades, still_open = round_trips(b.entries)
    assert still_open == {}
    assert len(trades) == 1
    t = trades[0]
    assert t.entry_price == Decimal(105)
    assert t.exit_price == Decimal(120)
    assert t.qty == 20
    # proceeds 2,400 - cost 2,100 - fees (15 + 16 + 36 + 43 = 110)
    assert t.pnl == 190
    assert t.fees == 110
    assert t.cost == 2_100
    assert t.fills == 3
    assert t.pnl == sum(e.net_amount for e in b.entries)
    assert t.entry_time == b.entries[0].ts
    assert t.exit_time == b.entries[-1].ts
    assert t.holding == timedelta(minutes=2)
    assert t.strategy == "s1"
    assert t.return_pct == pytest.approx(190 / 2_100)


def test_partial_sells_aggregate_and_non_integral_averages_stay_exact() -> None:
    b = Book()
    b.fill("A", BUY, 3, 100)
    b.fill("A", SELL, 1, 101, commission=1)
    b.fill("A", BUY, 1, 103)
    b.fill("A", SELL, 3, 110, tax=2)
    trades, _ = round_trips(b.entries)
    (t,) = trades
    assert t.qty == 4
    assert t.entry_price == Decimal(403) / 4
    assert t.exit_price == Decimal(431) / 4
    assert t.pnl == 431 - 403 - 3


def test_each_return_to_flat_closes_a_trade_and_symbols_are_independent() -> None:
    b = Book()
    b.fill("A", BUY, 5, 1_000)
    b.fill("B", BUY, 2, 5_000, commission=10)
    b.fill("A", SELL, 5, 900, commission=5, tax=9)  # A: loss
    b.fill("A", BUY, 1, 950)
    b.fill("B", SELL, 2, 6_000, commission=12, tax=24)  # B: win
    b.fill("A", SELL, 1, 1_000)  # A again: win
    trades, still_open = round_trips(b.entries)
    assert [(t.symbol, t.pnl) for t in trades] == [
        ("A", 4_500 - 5_000 - 14),
        ("B", 12_000 - 10_000 - 46),
        ("A", 50),
    ]
    assert still_open == {}


def test_open_positions_are_returned_apart_and_are_not_trades() -> None:
    b = Book()
    b.fill("A", BUY, 10, 100, commission=3)
    b.fill("A", SELL, 10, 120)
    b.fill("A", BUY, 4, 200, commission=2)
    b.fill("A", SELL, 1, 210, commission=1, tax=1)
    b.fill("B", BUY, 7, 50)
    trades, still_open = round_trips(b.entries)
    assert [t.symbol for t in trades] == ["A"]
    assert set(still_open) == {"A", "B"}
    a = still_open["A"]
    assert (a.qty, a.bought_qty, a.sold_qty) == (3, 4, 1)
    assert a.entry_price == Decimal(200)
    assert a.net_cash == -800 - 2 + 210 - 2
    assert a.fees == 4
    assert a.fills == 2
    assert a.entry_time == b.entries[2].ts
    assert a.last_time == b.entries[3].ts
    assert still_open["B"].net_cash == -350
    # closed plus open adds up to the whole ledger
    total = sum(t.pnl for t in trades) + sum(o.net_cash for o in still_open.values())
    assert total == sum(e.net_amount for e in b.entries)


def test_entries_are_taken_in_seq_order() -> None:
    b = Book()
    b.fill("A", BUY, 1, 100)
    b.fill("A", SELL, 1, 150)
    trades, _ = round_trips(list(reversed(b.entries)))
    assert [t.pnl for t in trades] == [50]


def test_a_ledger_that_starts_mid_position_is_refused() -> None:
    b = Book()
    b.fill("A", BUY, 2, 100)
    b.fill("A", SELL, 1, 100)
    with pytest.raises(DataError, match="seq 2"):
        round_trips(b.entries[1:])


def test_a_position_after_that_disagrees_is_refused() -> None:
    b = Book()
    e = b.fill("A", BUY, 2, 100)
    bad = LedgerEntry(**{f.name: getattr(e, f.name) for f in fields(e)} | {"position_after": 3})
    with pytest.raises(DataError, match="ledger says 3"):
        round_trips([bad])


def test_no_entries_no_trades() -> None:
    assert round_trips([]) == ([], {})


# --- equity statistics ------------------------------------------------------------------------


def test_hand_computed_curve() -> None:
    eq = curve([100, 110, 99, 121])
    r = compute(eq, [], initial_cash=100)
    assert r.final_equity == 121
    assert r.total_return == pytest.approx(0.21)
    assert r.max_drawdown == pytest.approx(0.10)
    assert r.max_drawdown_amount == 11
    assert r.max_drawdown_peak == eq[1].ts
    assert r.max_drawdown_trough == eq[2].ts
    assert r.max_drawdown_duration == timedelta(days=2)  # peak day 2, back above on day 4
    assert r.max_drawdown_recovered is True
    rets = [0.0, 0.1, -0.1, 121 / 99 - 1]
    assert [x for _, x in r.daily_returns] == pytest.approx(rets)
    assert r.daily_pnl == [(eq[i].ts.date(), p) for i, p in enumerate([0, 10, -11, 22])]
    vol = statistics.stdev(rets) * math.sqrt(252)
    assert r.volatility == pytest.approx(vol)
    assert r.sharpe == pytest.approx(statistics.fmean(rets) * 252 / vol)
    assert r.days == 4
    assert r.daily_win_rate == pytest.approx(0.5)
    assert r.cagr == pytest.approx(1.21 ** (365.25 / 3) - 1)


def test_first_day_return_is_against_initial_cash_and_the_peak_starts_there() -> None:
    r = compute(curve([90, 95]), [], initial_cash=100)
    assert r.daily_returns[0][1] == pytest.approx(-0.1)
    assert r.daily_pnl[0][1] == -10
    assert r.max_drawdown == pytest.approx(0.1)
    assert r.max_drawdown_recovered is False
    assert r.max_drawdown_duration == timedelta(days=1)


def test_cagr_uses_calendar_time() -> None:
    one_year = curve([100, 121], step=timedelta(days=365.25))
    assert compute(one_year, [], 100).cagr == pytest.approx(0.21)
    two_years = curve([100, 121], step=timedelta(days=2 * 365.25))
    assert compute(two_years, [], 100).cagr == pytest.approx(0.10)
    assert compute(curve([100, 0]), [], 100).cagr == -1.0


def test_cagr_over_minutes_is_clamped_not_infinite() -> None:
    r = compute(curve([100, 1_000], step=timedelta(minutes=1)), [], 100)
    assert math.isfinite(r.cagr) and r.cagr > 1e300


def test_daily_resampling_takes_the_last_point_of_each_kst_day() -> None:
    # 15:30 UTC on 4 March is 00:30 KST on 5 March
    pts = [
        EquityPoint(datetime(2024, 3, 4, 1, 0, tzinfo=UTC), 0, 0, 105, 0, 0, 0),
        EquityPoint(datetime(2024, 3, 4, 6, 0, tzinfo=UTC), 0, 0, 110, 0, 0, 0),
        EquityPoint(datetime(2024, 3, 4, 15, 30, tzinfo=UTC), 0, 0, 99, 0, 0, 0),
        EquityPoint(datetime(2024, 3, 5, 6, 0, tzinfo=UTC), 0, 0, 121, 0, 0, 0),
    ]
    r = compute(pts, [], 100)
    assert [d.day for d in r.daily] == [date(2024, 3, 4), date(2024, 3, 5)]
    assert [d.equity for d in r.daily] == [110, 121]
    assert [d.pnl for d in r.daily] == [10, 11]
    assert r.daily_returns[1][1] == pytest.approx(0.1)


def test_drawdown_is_measured_on_every_point_not_daily_closes() -> None:
    step = timedelta(hours=1)
    r = compute(curve([100, 80, 100, 100], step=step), [], 100)
    assert [d.pnl for d in r.daily] == [0]  # one day, flat close to close
    assert r.max_drawdown == pytest.approx(0.2)
    assert r.max_drawdown_duration == timedelta(hours=2)


def test_risk_free_rate_is_configurable() -> None:
    eq = curve([100, 110, 99, 121])
    base = compute(eq, [], 100)
    rf = compute(eq, [], 100, risk_free=0.02)
    mean = statistics.fmean(x for _, x in base.daily_returns)
    assert rf.sharpe == pytest.approx((mean * 252 - 0.02) / base.volatility)
    assert rf.risk_free == 0.02


def test_periods_per_year_scales_volatility() -> None:
    eq = curve([100, 110, 99, 121])
    a, b = compute(eq, [], 100), compute(eq, [], 100, periods_per_year=365)
    assert b.volatility == pytest.approx(a.volatility * math.sqrt(365 / 252))
    with pytest.raises(ValueError, match="periods_per_year"):
        compute(eq, [], 100, periods_per_year=0)


def test_exposure_is_the_share_of_points_holding_stock() -> None:
    pts = [
        EquityPoint(T0 + timedelta(hours=i), 100, mv, 100 + mv, 0, 0, 0)
        for i, mv in enumerate([0, 5, 7, 0])
    ]
    assert compute(pts, [], 100).exposure == pytest.approx(0.5)


def test_drawdowns_series() -> None:
    assert drawdowns([100, 110, 99, 121], 100) == pytest.approx([0, 0, 0.1, 0])
    assert drawdowns([90], 100) == pytest.approx([0.1])
    assert drawdowns([]) == []


# --- trade statistics -------------------------------------------------------------------------


def trade(pnl: int, minutes: int = 10, symbol: str = "A") -> Trade:
    return Trade(
        symbol,
        T0,
        Decimal(100),
        T0 + timedelta(minutes=minutes),
        Decimal(100),
        1,
        pnl,
        0,
        1_000,
        "s",
        2,
    )


def test_trade_statistics_by_hand() -> None:
    ts = [trade(300), trade(-100), trade(0), trade(-50), trade(101), trade(-1)]
    r = compute(curve([100, 100]), ts, 100)
    assert r.trades == 6
    assert (r.winning_trades, r.losing_trades) == (2, 3)
    assert r.win_rate == pytest.approx(2 / 6)
    assert (r.gross_profit, r.gross_loss) == (401, 151)
    assert r.profit_factor == pytest.approx(401 / 151)
    assert r.avg_win == 200  # 401 / 2 = 200.5, half to even
    assert r.avg_loss == -50  # -151 / 3 = -50.33
    assert (r.largest_win, r.largest_loss) == (300, -100)
    assert r.net_trade_pnl == 250
    assert r.max_consecutive_losses == 1
    assert r.avg_holding == timedelta(minutes=10)


def test_profit_factor_edges() -> None:
    eq = curve([100])
    assert compute(eq, [], 100).profit_factor == 0.0
    assert compute(eq, [trade(0)], 100).profit_factor == 0.0
    assert compute(eq, [trade(-5)], 100).profit_factor == 0.0
    only_wins = compute(eq, [trade(5), trade(7)], 100)
    assert only_wins.profit_factor == math.inf
    d = only_wins.as_dict()
    assert d["profit_factor"] is None
    json.dumps(d, allow_nan=False)


def test_consecutive_losses() -> None:
    ts = [trade(p) for p in (-1, -1, 5, -1, -1, -1, 0, -1)]
    assert compute(curve([1]), ts, 1).max_consecutive_losses == 3


def finite_floats(r: PerformanceReport) -> None:
    for f in fields(r):
        v = getattr(r, f.name)
        if isinstance(v, float) and f.name != "profit_factor":
            assert math.isfinite(v), f.name
    for d in r.daily:
        assert math.isfinite(d.ret)
    json.dumps(r.as_dict(), allow_nan=False)


@pytest.mark.parametrize(
    ("values", "initial"),
    [([], 100), ([100], 100), ([100], 0), ([0, 0, 0], 0), ([0, 10, 0], 0), ([5, -3, 7], 10)],
)
def test_degenerate_inputs_stay_finite(values: list[int], initial: int) -> None:
    r = compute(curve(values), [], initial)
    finite_floats(r)
    assert 0.0 <= r.max_drawdown <= 1.0


def test_empty_curve() -> None:
    r = compute([], [], 1_000)
    assert r.final_equity == 1_000
    assert (r.start, r.end, r.days) == (None, None, 0)
    assert r.total_return == 0.0 and r.max_drawdown == 0.0
    assert r.as_dict()["daily"] == []


# --- properties -------------------------------------------------------------------------------

op = st.tuples(
    st.sampled_from(("005930", "000660", "0080G0")),
    st.booleans(),  # True: buy
    st.integers(1, 1_000),  # buy: shares; sell: per-mille of the holding (at least one share)
    st.integers(1, 2_000_000),  # price
    st.integers(0, 100_000),  # commission
    st.integers(0, 100_000),  # tax
    st.integers(0, 600),  # minutes since the previous fill
)


@settings(max_examples=200, deadline=None)
@given(st.lists(op, max_size=60))
def test_trades_plus_open_positions_add_up_to_the_ledger(ops: list) -> None:
    b = Book(cash=10**15)
    when = T0
    for symbol, is_buy, amount, price, commission, tax, gap in ops:
        when += timedelta(minutes=gap)
        held = b.account.held_qty(symbol)
        if is_buy:
            b.fill(symbol, BUY, amount, price, commission, tax, ts=when)
        elif held:
            qty = max(1, held * amount // 1_000)
            b.fill(symbol, SELL, qty, price, commission, tax, ts=when)
    entries = b.entries
    trades, still_open = round_trips(entries)

    total = sum(t.pnl for t in trades) + sum(o.net_cash for o in still_open.values())
    assert total == sum(e.net_amount for e in entries)
    per_symbol: dict[str, int] = defaultdict(int)
    for e in entries:
        per_symbol[e.symbol] += e.net_amount
    for symbol, net in per_symbol.items():
        closed = sum(t.pnl for t in trades if t.symbol == symbol)
        assert closed + (still_open[symbol].net_cash if symbol in still_open else 0) == net
    assert len(trades) == sum(1 for e in entries if e.position_after == 0)
    assert {s: o.qty for s, o in still_open.items()} == {
        p.symbol: p.qty for p in b.account.open_positions()
    }
    assert sum(t.fees for t in trades) + sum(o.fees for o in still_open.values()) == (
        b.account.ledger.total_fees()
    )
    # a trade's PnL is the ledger's realized PnL of its sells less the fees of its buys
    last_flat: dict[str, int] = {}
    for i, e in enumerate(entries):
        if e.position_after == 0:
            last_flat[e.symbol] = i
    closed_rows = [e for i, e in enumerate(entries) if i <= last_flat.get(e.symbol, -1)]
    buy_fees = sum(e.commission + e.tax for e in closed_rows if e.side is BUY)
    assert sum(t.pnl for t in trades) == sum(e.pnl for e in closed_rows) - buy_fees
    for t in trades:
        assert t.qty > 0 and t.entry_time <= t.exit_time
        assert float(t.qty * t.entry_price) == pytest.approx(t.cost)
        proceeds = t.qty * t.exit_price
        assert float(proceeds - t.cost - t.fees) == pytest.approx(t.pnl, abs=1e-6)


def reference_mdd(values: list[int], initial: int) -> float:
    """Brute force over every pair: the deepest fall from any earlier level (initial included)."""
    seq = [initial, *values]
    worst = 0.0
    for i, hi in enumerate(seq):
        for lo in seq[i + 1 :]:
            if hi > 0 and lo < hi:
                worst = max(worst, min(1.0, (hi - lo) / hi))
    return worst


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 10**12), max_size=40),
    st.integers(0, 10**12),
    st.integers(1, 3 * 86_400),
)
def test_mdd_is_a_fraction_and_matches_brute_force(
    values: list[int], initial: int, step_s: int
) -> None:
    r = compute(curve(values, step=timedelta(seconds=step_s)), [], initial)
    assert 0.0 <= r.max_drawdown <= 1.0
    assert r.max_drawdown == pytest.approx(reference_mdd(values, initial))
    assert r.max_drawdown_duration >= timedelta()
    finite_floats(r)
