"""Decide: the last yes/no gate, and limit prices on the KRX grid inside the daily limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_kit import Market, evaluation, result

from qts.core.time import kst
from qts.engines.contracts import (
    CancelDecision,
    Decisions,
    EvaluationResult,
    OrderDecision,
    PendingSell,
)
from qts.market.krx.price_limit import daily_limits
from qts.market.krx.tick_size import is_on_tick, round_down, round_up, tick_size, ticks_between
from qts.model.enums import OrderSide, OrderType, Signal, Urgency
from qts.model.instrument import Market as KrxMarket
from qts.pipeline.decide import DecidePolicy, decide

BUY, SELL = Signal.BUY, Signal.SELL
KOSPI, KOSDAQ = KrxMarket.KOSPI, KrxMarket.KOSDAQ
CLOSES = {"A": 10_000, "B": 20_000, "C": 5_000}
MARKET = DecidePolicy()
LIMIT = DecidePolicy(order_type=OrderType.LIMIT)


def run(market: Market, *results: EvaluationResult, policy: DecidePolicy = MARKET) -> Decisions:
    return decide(evaluation(market, results), policy)


def only(d: Decisions) -> OrderDecision:
    both = [*d.orders, *d.blocked]
    assert len(both) == 1
    return both[0]


def test_an_approved_decision_becomes_an_order() -> None:
    d = run(Market(CLOSES), result("A", BUY, 30))
    assert d.blocked == ()
    (o,) = d.orders
    assert (o.symbol, o.action, o.qty, o.order_type, o.limit_price) == (
        "A",
        OrderSide.BUY,
        30,
        OrderType.MARKET,
        None,
    )
    assert (o.strategy, o.price) == ("fixed", 10_000)
    assert "fixed says" in o.reason


@pytest.mark.parametrize("signal", [BUY, SELL])
def test_trading_disabled_forces_no_order(signal: Signal) -> None:
    d = run(Market(CLOSES, held={"A": 30}, trading_enabled=False), result("A", signal, 30))
    assert d.orders == ()
    o = only(d)
    assert (o.action, o.reason) == (None, "TRADING_DISABLED")


@pytest.mark.parametrize("state", ["FAIL", "LOCKDOWN"])
@pytest.mark.parametrize("signal", [BUY, SELL])
def test_a_safety_state_that_forbids_trading_forces_no_order(state: str, signal: Signal) -> None:
    d = run(Market(CLOSES, held={"A": 30}, safety_state=state), result("A", signal, 30))
    assert d.orders == ()
    assert (only(d).action, only(d).reason) == (None, f"SAFETY_{state}")


@pytest.mark.parametrize("state", ["NORMAL", "WARNING"])
def test_normal_and_warning_states_trade(state: str) -> None:
    d = run(Market(CLOSES, safety_state=state), result("A", BUY, 30))
    assert [o.action for o in d.orders] == [OrderSide.BUY]


def test_trading_disabled_is_named_before_any_other_reason() -> None:
    m = Market(CLOSES, trading_enabled=False, safety_state="FAIL", pending={"A": 5})
    assert only(run(m, result("A", BUY, 30, approved=False))).reason == "TRADING_DISABLED"
    m = Market(CLOSES, safety_state="LOCKDOWN", pending={"A": 5})
    assert only(run(m, result("A", BUY, 30, approved=False))).reason == "SAFETY_LOCKDOWN"


def test_risk_refusal_is_no_order_with_the_risk_reason() -> None:
    d = run(Market(CLOSES), result("A", BUY, 30, approved=False, risk_reason="MAX_EXPOSURE"))
    assert d.orders == ()
    assert (only(d).action, only(d).reason) == (None, "RISK: MAX_EXPOSURE")


def test_zero_quantity_is_no_order() -> None:
    d = run(Market(CLOSES), result("A", BUY, 0))
    assert d.orders == ()
    assert only(d).reason == "QTY_ZERO"


@pytest.mark.parametrize("signal", [BUY, SELL])
def test_an_open_order_for_the_symbol_blocks_a_new_one(signal: Signal) -> None:
    m = Market(CLOSES, held={"A": 30, "B": 10}, pending={"A": -30})
    d = run(m, result("A", signal, 30), result("B", signal, 10))
    assert [o.symbol for o in d.orders] == ["B"]
    assert [(o.symbol, o.reason) for o in d.blocked] == [("A", "ORDER_PENDING")]


def stale(qty: int, limit: int | None, kind: OrderType = OrderType.LIMIT) -> PendingSell:
    return PendingSell("rest-1", qty, kind, emergency=False, limit_price=limit)


@pytest.mark.parametrize("urgency", [Urgency.FORCED, Urgency.FLATTEN])
def test_a_forced_exit_replaces_a_resting_sell_above_the_market(urgency: Urgency) -> None:
    """The field case: a limit sell at 10,500 resting above the market (10,000) blocked every
    later exit as ORDER_PENDING, the stop-loss and the flatten before the close included."""
    m = Market(CLOSES, held={"A": 30}, pending={"A": -30}, sells={"A": (stale(30, 10_500),)})
    d = run(m, result("A", SELL, 30, urgency=urgency), policy=LIMIT)
    assert d.orders == ()  # nothing sold twice: the resting sell holds all 30 until cancelled
    assert only(d).reason.startswith("ORDER_PENDING (replacing")
    assert d.cancels == (CancelDecision("A", "rest-1", "replaced by fixed's exit: fixed says"),)
    # once the venue confirmed the cancel, the next cycle sells at market, even under LIMIT
    after = run(
        Market(CLOSES, held={"A": 30}), result("A", SELL, 30, urgency=urgency), policy=LIMIT
    )
    o = only(after)
    assert (o.action, o.qty, o.order_type, o.limit_price) == (
        OrderSide.SELL, 30, OrderType.MARKET, None,
    )  # fmt: skip
    assert after.cancels == ()


def test_a_forced_exit_sells_the_room_beside_a_partial_resting_sell() -> None:
    m = Market(CLOSES, held={"A": 30}, pending={"A": -10}, sells={"A": (stale(10, 10_500),)})
    d = run(m, result("A", SELL, 30, urgency=Urgency.FORCED))
    assert [(o.symbol, o.qty) for o in d.orders] == [("A", 20)]  # 20 + 10 resting = 30 held
    assert [c.client_order_id for c in d.cancels] == ["rest-1"]


@pytest.mark.parametrize(
    ("urgency", "resting"),
    [
        (Urgency.NORMAL, stale(30, 10_500)),  # a take-profit waits, as before
        (Urgency.FORCED, stale(30, 10_000)),  # at the market: it is filling
        (Urgency.FORCED, stale(30, 9_900)),
        (Urgency.FLATTEN, stale(30, None, OrderType.MARKET)),  # a market sell fills anyway
    ],
)
def test_an_exit_waits_behind_a_sell_that_is_filling(
    urgency: Urgency, resting: PendingSell
) -> None:
    m = Market(CLOSES, held={"A": 30}, pending={"A": -30}, sells={"A": (resting,)})
    d = run(m, result("A", SELL, 30, urgency=urgency))
    assert (only(d).reason, d.cancels) == ("ORDER_PENDING", ())


def test_a_forced_exit_waits_for_a_pending_buy() -> None:
    m = Market(CLOSES, held={"A": 30}, pending={"A": 20}, sells={"A": (stale(10, 10_500),)})
    d = run(m, result("A", SELL, 30, urgency=Urgency.FLATTEN))
    assert (only(d).reason, d.cancels) == ("ORDER_PENDING", ())


def test_daily_entry_limit_counts_todays_entries_and_this_cycles_buys() -> None:
    m = Market(CLOSES, entries_today=1)
    policy = DecidePolicy(max_trades_per_day=3)
    d = run(m, result("A", BUY, 1), result("B", BUY, 1), result("C", BUY, 1), policy=policy)
    assert [o.symbol for o in d.orders] == ["A", "B"]
    assert [(o.symbol, o.reason) for o in d.blocked] == [("C", "DAILY_TRADE_LIMIT")]


def test_refused_buys_do_not_count_as_entries() -> None:
    m = Market(CLOSES, entries_today=1)
    policy = DecidePolicy(max_trades_per_day=2)
    d = run(m, result("A", BUY, 1, approved=False), result("B", BUY, 1), policy=policy)
    assert [o.symbol for o in d.orders] == ["B"]


def test_exits_are_never_limited_by_the_daily_entry_limit() -> None:
    m = Market(CLOSES, held={"A": 5, "B": 5}, entries_today=9)
    policy = DecidePolicy(max_trades_per_day=3)
    d = run(m, result("A", SELL, 5), result("C", BUY, 1), result("B", SELL, 5), policy=policy)
    assert [(o.symbol, o.action) for o in d.orders] == [
        ("A", OrderSide.SELL),
        ("B", OrderSide.SELL),
    ]
    assert [(o.symbol, o.reason) for o in d.blocked] == [("C", "DAILY_TRADE_LIMIT")]


def test_no_daily_limit_when_unset() -> None:
    d = run(Market(CLOSES, entries_today=10_000), result("A", BUY, 1))
    assert len(d.orders) == 1


# --- limit prices ------------------------------------------------------------------------------


def limit_price(
    price: int,
    signal: Signal,
    offset: int = 0,
    base: int = 0,
    etf: bool = False,
) -> int | None:
    policy = DecidePolicy(
        order_type=OrderType.LIMIT,
        limit_offset_ticks=offset,
        etf_symbols=frozenset({"A"}) if etf else frozenset(),
    )
    m = Market(CLOSES, held={"A": 10}, base_price={"A": base} if base else {})
    (o,) = run(m, result("A", signal, 1, price=price), policy=policy).orders
    assert o.order_type is OrderType.LIMIT
    return o.limit_price


@pytest.mark.parametrize(
    ("price", "signal", "offset", "expected"),
    [
        (10_003, BUY, 0, 10_000),  # tick 10: buy rounds down
        (10_003, SELL, 0, 10_010),  # sell rounds up
        (10_000, BUY, 0, 10_000),  # already on the grid
        (10_000, SELL, 0, 10_000),
        (10_003, BUY, 2, 10_020),  # a buy pays up to two ticks more
        (10_003, SELL, 2, 9_990),  # a sell accepts two ticks less
        (2_001, BUY, 0, 2_000),  # tick 5 from 2,000
        (2_001, SELL, 0, 2_005),
        (1_999, SELL, 0, 1_999),  # tick 1 under 2,000
        (1_998, BUY, 3, 2_005),  # 1,999 → 2,000 → 2,005: each step on its own band's tick
        (2_000, SELL, 1, 1_999),
        (50_050, SELL, 0, 50_100),  # tick 100 from 50,000
    ],
)
def test_limit_price_on_the_tick_grid(
    price: int, signal: Signal, offset: int, expected: int
) -> None:
    assert limit_price(price, signal, offset) == expected


def test_etf_limit_prices_use_the_flat_five_won_tick() -> None:
    assert limit_price(10_003, BUY, etf=True) == 10_000
    assert limit_price(10_003, SELL, etf=True) == 10_005
    assert limit_price(10_003, BUY, 2, etf=True) == 10_010


def test_limit_prices_are_clipped_to_the_daily_limits() -> None:
    # base 10,000 → limits 7,000 .. 13,000
    assert limit_price(12_990, BUY, 5, base=10_000) == 13_000
    assert limit_price(7_010, SELL, 5, base=10_000) == 7_000
    assert limit_price(12_990, BUY, 1, base=10_000) == 13_000
    assert limit_price(12_980, BUY, 1, base=10_000) == 12_990  # inside: untouched
    assert limit_price(12_990, BUY, 5) == 13_040  # no base price yet: no clipping


def test_blocked_decisions_get_no_limit_price() -> None:
    d = run(Market(CLOSES, trading_enabled=False), result("A", BUY, 1), policy=LIMIT)
    assert only(d).limit_price is None


@settings(max_examples=300, deadline=None)
@given(
    price=st.integers(1_000, 900_000),
    is_buy=st.booleans(),
    offset=st.integers(0, 20),
    etf=st.booleans(),
    base=st.integers(1_000, 900_000),
)
def test_limit_prices_are_on_grid_offset_by_ticks_and_inside_the_limits(
    price: int, is_buy: bool, offset: int, etf: bool, base: int
) -> None:
    signal = BUY if is_buy else SELL
    free = limit_price(price, signal, offset, etf=etf)
    assert free is not None
    assert is_on_tick(free, etf)
    if is_buy:  # from the grid price at or under ``price``, ``offset`` ticks up
        anchor = round_down(price, etf)
        assert anchor <= price < anchor + tick_size(anchor, etf)
        assert free >= anchor and ticks_between(anchor, free, etf) == offset
    else:  # from the grid price at or over ``price``, ``offset`` ticks down
        anchor = round_up(price, etf)
        assert anchor >= price and round_down(anchor - 1, etf) < price
        assert free <= anchor and ticks_between(free, anchor, etf) == offset
    clipped = limit_price(price, signal, offset, base=base, etf=etf)
    lim = daily_limits(base, etf)
    assert clipped == min(max(free, lim.lower), lim.upper)
    assert clipped is not None and is_on_tick(clipped, etf)


@pytest.mark.parametrize(
    ("year", "market", "signal", "expected"),
    [
        # 150,320 in 2010: KOSPI ticked 500 from 100,000 (buy rounds down, sell up); KOSDAQ 100
        (2010, KOSPI, BUY, 150_000),
        (2010, KOSPI, SELL, 150_500),
        (2010, KOSDAQ, BUY, 150_300),
        # today's table: 100 from 50,000 to 200,000 on every market
        (2024, KOSPI, BUY, 150_300),
        (2024, KOSPI, SELL, 150_400),
    ],
)
def test_limit_prices_use_the_grid_of_the_bars_date_and_market(
    year: int, market: KrxMarket, signal: Signal, expected: int
) -> None:
    policy = DecidePolicy(order_type=OrderType.LIMIT, markets={"A": market})
    m = Market(CLOSES, held={"A": 10}, ts=kst(year, 6, 8, 10, 0))
    (o,) = run(m, result("A", signal, 1, price=150_320), policy=policy).orders
    assert o.limit_price == expected
