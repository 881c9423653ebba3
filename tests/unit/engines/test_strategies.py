"""Strategies on CalcData built from real frames run through a real IndicatorBank."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest
from calc_kit import Book, Feed, Holding, Price
from hypothesis import given, settings
from hypothesis import strategies as st

from qts.core.errors import ConfigError
from qts.engines.contracts import StrategyDecision
from qts.engines.strategy import available, create
from qts.engines.strategy.registry import params_model
from qts.engines.strategy.scalp_reversion import ScalpParams, ScalpReversion
from qts.engines.strategy.sma_cross import SmaCross, SmaCrossParams
from qts.engines.strategy.swing_breakout import SwingBreakout, SwingParams
from qts.model.enums import Signal, Track, Urgency


def signals(decisions: list[StrategyDecision]) -> list[tuple[str, Signal]]:
    return [(d.symbol, d.signal) for d in decisions]


# --- sma_cross ---------------------------------------------------------------------------------


def sma_feed(strategy: SmaCross, symbols: tuple[str, ...] = ("A",)) -> Feed:
    return Feed(symbols, strategy.indicators())


def run_sma(
    closes: list[int], held: int = 0, fast: int = 2, slow: int = 3, qty: int = 5
) -> list[list[StrategyDecision]]:
    """Decisions of every bar for one symbol A, holding ``held`` shares throughout."""
    strategy = SmaCross(SmaCrossParams(fast=fast, slow=slow, qty=qty))
    feed = sma_feed(strategy)
    book = Book(holdings={"A": Holding(held, 100, "sma_cross")} if held else {})
    return [strategy.evaluate(feed.push([c], book)) for c in closes]


def test_sma_cross_buys_on_an_up_cross_when_flat() -> None:
    # fast(2)/slow(3): bar 3 equal (10 = 10), bar 4 fast 11.5 > slow 11 → cross up
    out = run_sma([10, 10, 10, 13])
    assert out[:3] == [[], [], []]
    assert len(out[3]) == 1
    d = out[3][0]
    assert (d.symbol, d.signal, d.recommended_qty) == ("A", Signal.BUY, 5)
    assert (d.strategy, d.track) == ("sma_cross", Track.SWING)


def test_sma_cross_does_not_buy_while_holding_or_sell_while_flat() -> None:
    assert run_sma([10, 10, 10, 13], held=7)[3] == []  # up-cross while held
    assert run_sma([10, 10, 10, 7])[3] == []  # down-cross while flat


def test_sma_cross_sells_everything_on_a_down_cross_when_held() -> None:
    out = run_sma([10, 10, 10, 7], held=7)
    assert out[:3] == [[], [], []]
    assert len(out[3]) == 1
    assert (out[3][0].signal, out[3][0].recommended_qty) == (Signal.SELL, 7)


def test_sma_cross_sells_only_its_own_positions_and_never_buys_a_held_symbol() -> None:
    strategy = SmaCross(SmaCrossParams(fast=2, slow=3, qty=5))
    book = Book(holdings={"A": Holding(7, 100, "swing_breakout")})
    feed = sma_feed(strategy)
    assert [strategy.evaluate(feed.push([c], book)) for c in (10, 10, 10, 7)][3] == []
    feed = sma_feed(strategy)
    assert [strategy.evaluate(feed.push([c], book)) for c in (10, 10, 10, 13)][3] == []


def test_sma_cross_ties_count_as_the_previous_side_only() -> None:
    """fast[t-1] == slow[t-1] counts as "<=" and ">=", but fast[t] == slow[t] is no cross."""
    # closes 12, 12, 12, 15, 9: bar 4 fast 13.5 > slow 13, bar 5 fast 12 == slow 12
    assert run_sma([12, 12, 12, 15, 9], held=3)[4] == []
    # closes 12, 12, 12, 9, 15: bar 4 fast 10.5 < slow 11 (flat: no sell), bar 5 fast 12 == slow 12
    out = run_sma([12, 12, 12, 9, 15])
    assert out[3] == [] and out[4] == []
    # from equal (bar 3) to above: a cross (before <= 0)
    assert signals(run_sma([12, 12, 12, 13])[3]) == [("A", Signal.BUY)]
    # from equal (bar 3) to below, held: a cross (before >= 0)
    assert signals(run_sma([12, 12, 12, 11], held=1)[3]) == [("A", Signal.SELL)]


def test_sma_cross_is_silent_while_the_previous_slow_sma_is_not_ready() -> None:
    """fast 1 / slow 3 on 30, 10, 40: the partial sums before bar 3 read as fast below slow
    (10·3 − 40·1 < 0) and bar 3 has fast above slow, but the previous slow SMA was not ready."""
    out = run_sma([30, 10, 40, 40], fast=1, slow=3)
    assert out == [[], [], [], []]


def test_sma_cross_ignores_a_symbol_without_a_bar() -> None:
    strategy = SmaCross(SmaCrossParams(fast=2, slow=3, qty=1))
    feed = sma_feed(strategy, ("A", "B"))
    for _ in range(3):
        feed.push([10, 10])
    c = feed.push([None, 13])
    assert signals(strategy.evaluate(c)) == [("B", Signal.BUY)]
    # A's cross happens on its next active bar, judged against its own previous active bar
    c = feed.push([13, 13])
    assert signals(strategy.evaluate(c)) == [("A", Signal.BUY)]


def test_sma_cross_params_require_fast_shorter_than_slow() -> None:
    with pytest.raises(ValueError, match="must be shorter"):
        SmaCrossParams(fast=5, slow=5)


@settings(max_examples=100, deadline=None)
@given(
    fast=st.integers(1, 4),
    extra=st.integers(1, 4),
    held=st.lists(st.booleans(), min_size=3, max_size=3),
    rows=st.lists(
        st.lists(st.one_of(st.none(), st.integers(95, 105)), min_size=3, max_size=3),
        min_size=1,
        max_size=40,
    ),
)
def test_sma_cross_matches_the_exact_definition(
    fast: int, extra: int, held: list[bool], rows: list[list[int | None]]
) -> None:
    slow = fast + extra
    strategy = SmaCross(SmaCrossParams(fast=fast, slow=slow, qty=2))
    symbols = ("A", "B", "C")
    feed = sma_feed(strategy, symbols)
    book = Book(
        holdings={s: Holding(4, 100, "sma_cross") for s, h in zip(symbols, held, strict=True) if h}
    )
    history: list[list[int]] = [[], [], []]
    for row in rows:
        prices: list[Price] = list(row)
        got = sorted(signals(strategy.evaluate(feed.push(prices, book))))
        expected = []
        for j, c in enumerate(row):
            if c is None:
                continue
            history[j].append(c)
            h = history[j]
            if len(h) < slow + 1:
                continue

            def diff(bars: list[int]) -> Fraction:
                return Fraction(sum(bars[-fast:]), fast) - Fraction(sum(bars[-slow:]), slow)

            now, before = diff(h), diff(h[:-1])
            if now > 0 and before <= 0 and not held[j]:
                expected.append((symbols[j], Signal.BUY))
            if now < 0 and before >= 0 and held[j]:
                expected.append((symbols[j], Signal.SELL))
        assert got == sorted(expected)


# --- scalp_reversion ---------------------------------------------------------------------------

SCALP = ScalpParams(
    rsi_window=3,
    rsi_oversold=30,
    rsi_exit=55,
    bb_window=4,
    bb_k=1.0,
    take_profit_pct=1.0,
    max_loss_pct=0.5,
    max_hold_minutes=30,
    flatten_minutes_before_close=10,
    position_weight=0.1,
    max_positions=2,
)

# Three dips to 900 from 1000; RSI(3): A 0, B 100·10/120 ≈ 8.3, C 100·20/140 ≈ 14.3.
# Each close is under its lower band (mean − 1·σ over 4 closes ≈ 932).
DIPS: list[list[Price]] = [
    [1000, 1000, 1000],
    [1020, 1010, 1000],
    [1000, 1000, 1000],
    [900, 900, 900],
]


def scalp_feed(symbols: tuple[str, ...] = ("C", "B", "A"), p: ScalpParams = SCALP) -> Feed:
    return Feed(symbols, ScalpReversion(p).indicators())


def test_scalp_enters_the_lowest_rsi_dips_up_to_max_positions() -> None:
    strategy = ScalpReversion(SCALP)
    feed = scalp_feed()
    c = feed.run(DIPS)
    rsi = c.ind("rsi:3")
    assert [round(float(x), 1) for x in rsi.value] == [14.3, 8.3, 0.0]
    out = strategy.evaluate(c)
    assert signals(out) == [("A", Signal.BUY), ("B", Signal.BUY)]
    assert all(d.target_weight == 0.1 and d.track is Track.SCALP for d in out)


def test_scalp_free_slots_count_only_its_own_positions() -> None:
    strategy = ScalpReversion(SCALP)
    feed = Feed(("C", "B", "A", "D"), strategy.indicators())
    rows = [[*r, 500] for r in DIPS]
    mine = Book(holdings={"D": Holding(10, 500, "scalp_reversion", track=Track.SCALP)})
    other = Book(holdings={"D": Holding(10, 500, "swing_breakout")})
    c_mine = feed.run(rows, mine)
    assert signals(strategy.evaluate(c_mine)) == [("A", Signal.BUY)]
    feed = Feed(("C", "B", "A", "D"), strategy.indicators())
    c_other = feed.run(rows, other)
    assert signals(strategy.evaluate(c_other)) == [("A", Signal.BUY), ("B", Signal.BUY)]


def test_scalp_needs_both_oversold_rsi_and_a_close_under_the_band() -> None:
    # RSI 0 but the close sits above the band: 1000, 990, 990, 990 → mean 992.5, σ ≈ 4.33
    strategy = ScalpReversion(SCALP)
    feed = scalp_feed(("A",))
    c = feed.run([[1000], [1000], [990], [990], [990]])
    assert float(c.ind("rsi:3").value[0]) == 0.0
    lower = float(c.ind("sma:4").value[0]) - float(c.ind("stdev:4").value[0])
    assert lower < 990
    assert strategy.evaluate(c) == []
    # under the band but RSI not below the (lowered) threshold
    strict = ScalpReversion(SCALP.model_copy(update={"rsi_oversold": 0.0}))
    c = scalp_feed(("C", "B", "A"), strict.params).run(DIPS)
    assert strict.evaluate(c) == []


def test_scalp_does_not_enter_a_symbol_already_held() -> None:
    strategy = ScalpReversion(SCALP)
    feed = scalp_feed()
    book = Book(holdings={"A": Holding(1, 2_000, "swing_breakout")})
    c = feed.run(DIPS, book)
    assert signals(strategy.evaluate(c)) == [("B", Signal.BUY), ("C", Signal.BUY)]


@pytest.mark.parametrize(
    ("session_open", "minutes_to_close"), [(False, 300.0), (True, 10.0), (True, 5.0)]
)
def test_scalp_never_enters_when_closed_or_near_the_close(
    session_open: bool, minutes_to_close: float
) -> None:
    strategy = ScalpReversion(SCALP)
    feed = scalp_feed()
    for row in DIPS[:-1]:
        feed.push(row)
    c = feed.push(DIPS[-1], session_open=session_open, minutes_to_close=minutes_to_close)
    assert strategy.evaluate(c) == []
    # the same bar with 10.5 minutes left and the session open does enter
    feed = scalp_feed()
    for row in DIPS[:-1]:
        feed.push(row)
    assert strategy.evaluate(feed.push(DIPS[-1], minutes_to_close=10.5))


def scalp_exit(
    closes: list[int],
    avg: int = 1000,
    opened_minutes_ago: float | None = 1,
    minutes_to_close: float = 300.0,
    strategy_name: str = "scalp_reversion",
) -> list[StrategyDecision]:
    """Hold 10 A at ``avg`` and feed A's closes; the decisions at the last bar."""
    strategy = ScalpReversion(SCALP)
    feed = scalp_feed(("A",))
    last = None
    for k, close in enumerate(closes):
        opened = None
        if opened_minutes_ago is not None:
            opened = feed.t + timedelta(minutes=1) - timedelta(minutes=opened_minutes_ago)
        book = Book(holdings={"A": Holding(10, avg, strategy_name, opened, track=Track.SCALP)})
        mtc = minutes_to_close if k == len(closes) - 1 else 300.0
        last = feed.push([close], book, minutes_to_close=mtc)
    assert last is not None
    return strategy.evaluate(last)


def test_scalp_exit_take_profit_at_the_threshold() -> None:
    out = scalp_exit([1000, 1000, 1010])  # +1.00 %
    assert signals(out) == [("A", Signal.SELL)]
    assert out[0].reason.startswith("take profit") and out[0].recommended_qty == 10
    assert out[0].urgency is Urgency.NORMAL  # may wait behind a resting sell
    assert scalp_exit([1000, 1000, 1009]) == []  # +0.9 %, RSI not ready


def test_scalp_exit_stop_loss_at_the_threshold() -> None:
    out = scalp_exit([1000, 1000, 995])  # −0.50 %
    assert signals(out) == [("A", Signal.SELL)]
    assert out[0].reason.startswith("stop loss")
    assert out[0].urgency is Urgency.FORCED  # replaces a resting sell above the market
    assert scalp_exit([1000, 1000, 996]) == []


def test_scalp_exit_on_rsi_recovery() -> None:
    # RSI(3) over 1000, 996, 998, 1003: gains 2 + 5, loss 4 → 63.6 ≥ 55; +0.3 %
    out = scalp_exit([1000, 996, 998, 1003])
    assert signals(out) == [("A", Signal.SELL)]
    assert out[0].reason.startswith("RSI recovered")
    assert out[0].urgency is Urgency.NORMAL
    # 1004, 998, 996, 1003: gains 7, losses 6 + 2 → RSI 46.7 < 55; +0.3 % → hold
    assert scalp_exit([1004, 998, 996, 1003]) == []


def test_scalp_exit_on_time_in_trade() -> None:
    out = scalp_exit([1000, 1000, 1000], opened_minutes_ago=30)
    assert signals(out) == [("A", Signal.SELL)]
    assert out[0].reason.startswith("time in trade")
    assert out[0].urgency is Urgency.FORCED
    assert scalp_exit([1000, 1000, 1000], opened_minutes_ago=29) == []
    assert scalp_exit([1000, 1000, 1000], opened_minutes_ago=None) == []


def test_scalp_flattens_before_the_close_whatever_the_pnl() -> None:
    out = scalp_exit([1000, 1000, 1003], minutes_to_close=10)
    assert signals(out) == [("A", Signal.SELL)]
    assert out[0].reason == "flatten before the close"
    assert out[0].urgency is Urgency.FLATTEN  # replaces any resting limit sell: never overnight
    assert scalp_exit([1000, 1000, 1003], minutes_to_close=10.5) == []


def test_scalp_leaves_other_strategies_positions_and_inactive_symbols_alone() -> None:
    assert scalp_exit([1000, 1000, 900], strategy_name="swing_breakout") == []
    strategy = ScalpReversion(SCALP)
    feed = scalp_feed(("A", "B"))
    book = Book(holdings={"A": Holding(10, 1000, "scalp_reversion", track=Track.SCALP)})
    feed.push([1000, 1000], book)
    c = feed.push([None, 1000], book, minutes_to_close=0)
    assert strategy.evaluate(c) == []


# --- swing_breakout ----------------------------------------------------------------------------

SWING = SwingParams(
    breakout_window=2,
    exit_window=2,
    trend_fast=2,
    trend_slow=4,
    atr_window=2,
    atr_stop_mult=2.0,
    stop_loss_pct=7.0,
    position_weight=0.15,
    max_positions=4,
)


def bar(close: int, spread: int = 1) -> tuple[int, int, int]:
    return (close + spread, close - spread, close)


def swing_run(
    closes: list[int], book: Book | None = None, session_open: bool = True
) -> list[StrategyDecision]:
    strategy = SwingBreakout(SWING)
    feed = Feed(("A",), strategy.indicators())
    last = None
    for k, c in enumerate(closes):
        is_last = k == len(closes) - 1
        last = feed.push([bar(c)], book, session_open=session_open or not is_last)
    assert last is not None
    return strategy.evaluate(last)


UP_TREND = [90, 95, 100, 100, 105]  # 105 > highest high 101 of the two bars before; 102.5 > 100
DOWN_TREND = [200, 190, 100, 100, 105]  # same breakout, fast 102.5 < slow 123.75


def test_swing_enters_a_breakout_in_an_up_trend() -> None:
    out = swing_run(UP_TREND)
    assert signals(out) == [("A", Signal.BUY)]
    assert out[0].target_weight == 0.15 and out[0].track is Track.SWING


def test_swing_ignores_a_breakout_in_a_down_trend() -> None:
    assert swing_run(DOWN_TREND) == []


def test_swing_needs_the_close_above_the_previous_highest_high() -> None:
    assert swing_run([90, 95, 100, 100, 101]) == []  # 101 is not above 101
    assert signals(swing_run([90, 95, 100, 100, 102])) == [("A", Signal.BUY)]


def test_swing_no_entry_when_closed_held_or_out_of_slots() -> None:
    assert swing_run(UP_TREND, session_open=False) == []
    held_by_other = Book(holdings={"A": Holding(1, 100, "scalp_reversion")})
    assert swing_run(UP_TREND, held_by_other) == []
    strategy = SwingBreakout(SWING.model_copy(update={"max_positions": 1}))
    feed = Feed(("A", "Z"), strategy.indicators())
    book = Book(holdings={"Z": Holding(1, 100, "swing_breakout")})
    last = None
    for c in UP_TREND:
        last = feed.push([bar(c), bar(100)], book)
    assert last is not None
    assert strategy.evaluate(last) == []


def test_swing_ranks_entries_by_breakout_strength_in_atr() -> None:
    strategy = SwingBreakout(SWING.model_copy(update={"max_positions": 1}))
    feed = Feed(("A", "B"), strategy.indicators())
    last = None
    for a, b in zip(UP_TREND, [90, 95, 100, 100, 110], strict=True):
        last = feed.push([bar(a), bar(b)], Book())
    assert last is not None
    assert signals(strategy.evaluate(last)) == [("B", Signal.BUY)]


def swing_exit(bars: list[tuple[int, int, int]], high_since_open: int) -> list[StrategyDecision]:
    strategy = SwingBreakout(SWING)
    feed = Feed(("A",), strategy.indicators())
    book = Book(holdings={"A": Holding(10, 1000, "swing_breakout", None, high_since_open)})
    last = None
    for b in bars:
        last = feed.push([b], book)
    assert last is not None
    return strategy.evaluate(last)


FLAT = [(1005, 995, 1000)] * 3  # true range 10 each bar: ATR(2) 10, lowest low 995


def test_swing_exit_stop_loss_first() -> None:
    out = swing_exit([*FLAT, (925, 915, 920)], 1000)  # under 930 and the channel low
    assert signals(out) == [("A", Signal.SELL)]
    assert out[0].reason.startswith("stop loss") and out[0].recommended_qty == 10


def test_swing_exit_under_the_channel_low() -> None:
    out = swing_exit([*FLAT, (1000, 985, 990)], 1000)  # 990 < 995, far above the stop
    assert signals(out) == [("A", Signal.SELL)]
    assert out[0].reason == "close under the 2-bar low"
    assert swing_exit([*FLAT, (1000, 985, 995)], 1000) == []  # 995 is not under 995


def test_swing_exit_trailing_atr_stop() -> None:
    # last TR max(1000,1000) − min(995,1000) = 5 → ATR 7.5; 996 < 1050 − 2·7.5 = 1035
    out = swing_exit([*FLAT, (1000, 995, 996)], 1050)
    assert signals(out) == [("A", Signal.SELL)]
    assert out[0].reason == "trailing ATR stop"
    assert swing_exit([*FLAT, (1000, 995, 996)], 1010) == []  # 996 ≥ 1010 − 15


# --- registry ----------------------------------------------------------------------------------


def test_registry_lists_and_creates_strategies() -> None:
    assert available() == ["scalp_reversion", "sma_cross", "swing_breakout"]
    s = create("sma_cross", {"fast": 3, "slow": 7})
    assert isinstance(s, SmaCross)
    assert s.params == SmaCrossParams(fast=3, slow=7)
    assert isinstance(create("swing_breakout", {}), SwingBreakout)
    assert params_model("scalp_reversion") is ScalpParams


def test_registry_unknown_strategy_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        create("moon_shot", {})
    assert info.value.field == "moon_shot"
    assert "unknown strategy" in str(info.value)
    assert "sma_cross" in str(info.value)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"fsat": 3}, "fsat"),
        ({"fast": 0}, "fast"),
        ({"fast": "quick"}, "fast"),
        ({"fast": 30, "slow": 10}, "must be shorter"),
    ],
)
def test_registry_bad_params_are_named(params: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        create("sma_cross", params, source="Config_Local")
    assert info.value.source == "Config_Local"
    assert info.value.field == "sma_cross"
    assert named in info.value.reason


def test_registry_names_every_bad_key_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        create("scalp_reversion", {"rsi_windw": 3, "bb_k": -1})
    assert "rsi_windw" in info.value.reason and "bb_k" in info.value.reason
