"""RiskGate (may we?) and portfolio sizing (how much?) on hand-built CalcData."""

from __future__ import annotations

import pytest
from calc_kit import Book, Holding, calc, frame
from hypothesis import given, settings
from hypothesis import strategies as st

from qts.engines import portfolio
from qts.engines.contracts import CalcData, StrategyDecision
from qts.engines.risk import RiskGate, RiskLimits
from qts.model.enums import Signal, Track
from qts.model.frame import Universe

UNI = Universe(("A", "B", "C"))
PRICES = {"A": 10_000, "B": 20_000, "C": 5_000}


def make_calc(
    cash: int = 10_000_000,
    holdings: dict[str, int] | None = None,
    buying_power: int | None = None,
    day_start_equity: int | None = None,
) -> CalcData:
    book = Book(
        cash=cash,
        buying_power=buying_power,
        holdings={s: Holding(q, PRICES[s], "s") for s, q in (holdings or {}).items()},
        day_start_equity=day_start_equity,
    )
    return calc(frame(UNI, [PRICES[s] for s in UNI.symbols]), book)


def buy(symbol: str, qty: int = 0, weight: float = 0.0) -> StrategyDecision:
    return StrategyDecision(symbol, "s", Track.SWING, Signal.BUY, "test", qty, weight)


def sell(symbol: str, qty: int) -> StrategyDecision:
    return StrategyDecision(symbol, "s", Track.SWING, Signal.SELL, "test", qty)


def gate(c: CalcData, **limits: object) -> RiskGate:
    g = RiskGate(RiskLimits.model_validate(limits))
    g.start_cycle(c)
    return g


def check(g: RiskGate, c: CalcData, d: StrategyDecision, qty: int) -> tuple[bool, int, str]:
    r = g.check(c, d, qty, PRICES.get(d.symbol, 1))
    return r.approved, r.allowed_qty, r.reason


# --- caps and their reasons --------------------------------------------------------------------


def test_buy_that_fits_every_cap_is_approved_in_full() -> None:
    c = make_calc()
    assert check(gate(c), c, buy("A"), 100) == (True, 100, "OK")


def test_max_exposure_caps_the_buy() -> None:
    c = make_calc()  # equity 10 M, nothing held: room 5 M = 500 A
    assert check(gate(c, max_exposure=0.5), c, buy("A"), 1_000) == (True, 500, "MAX_EXPOSURE")


def test_max_exposure_counts_what_is_already_held() -> None:
    c = make_calc(cash=6_000_000, holdings={"B": 200})  # 4 M in B, equity 10 M
    assert c.total_equity == 10_000_000
    assert check(gate(c, max_exposure=0.5), c, buy("A"), 1_000) == (True, 100, "MAX_EXPOSURE")
    full = make_calc(cash=5_000_000, holdings={"B": 250})
    assert check(gate(full, max_exposure=0.5), full, buy("A"), 1) == (False, 0, "MAX_EXPOSURE")


def test_max_symbol_weight_counts_the_symbols_holding() -> None:
    c = make_calc(cash=9_700_000, holdings={"A": 30})  # 1 M max in A, 300 k held
    assert check(gate(c, max_symbol_weight=0.1), c, buy("A"), 1_000) == (
        True,
        70,
        "MAX_SYMBOL_WEIGHT",
    )
    assert check(gate(c, max_symbol_weight=0.1), c, buy("C"), 1_000) == (
        True,
        200,
        "MAX_SYMBOL_WEIGHT",
    )


def test_max_position_qty_counts_the_shares_held() -> None:
    c = make_calc(holdings={"A": 20})
    assert check(gate(c, max_position_qty=50), c, buy("A"), 100) == (True, 30, "MAX_POSITION_QTY")
    capped = make_calc(holdings={"A": 50})
    assert check(gate(capped, max_position_qty=50), capped, buy("A"), 1) == (
        False,
        0,
        "MAX_POSITION_QTY",
    )


def test_buying_power_and_its_buffer_cap_the_buy() -> None:
    c = make_calc(buying_power=1_000_000)
    assert check(gate(c), c, buy("A"), 1_000) == (True, 100, "INSUFFICIENT_BUYING_POWER")
    # a 25 % buffer: each share needs 12,500 of buying power → 80 shares
    assert check(gate(c, buying_power_buffer=0.25), c, buy("A"), 1_000) == (
        True,
        80,
        "INSUFFICIENT_BUYING_POWER",
    )
    broke = make_calc(buying_power=9_999)
    assert check(gate(broke), broke, buy("A"), 1) == (False, 0, "INSUFFICIENT_BUYING_POWER")


def test_the_tightest_cap_names_the_reason() -> None:
    c = make_calc(buying_power=3_000_000)
    g = gate(c, max_exposure=0.5, max_symbol_weight=0.2, max_position_qty=250)
    # exposure 500, weight 200, position 250, buying power 300 → 200, by weight
    assert check(g, c, buy("A"), 1_000) == (True, 200, "MAX_SYMBOL_WEIGHT")


def test_daily_loss_limit_refuses_buys_but_not_sells() -> None:
    c = make_calc(cash=9_000_000, holdings={"A": 100}, day_start_equity=10_500_000)  # −4.76 %
    g = gate(c, daily_loss_limit=0.03)
    approved, qty, reason = check(g, c, buy("B"), 1)
    assert (approved, qty) == (False, 0)
    assert reason.startswith("DAILY_LOSS_LIMIT") and "4.76%" in reason
    assert check(g, c, sell("A", 100), 100) == (True, 100, "OK")
    small = make_calc(day_start_equity=10_300_000)  # −2.91 %
    assert check(gate(small, daily_loss_limit=0.03), small, buy("B"), 1) == (True, 1, "OK")
    exact = make_calc(day_start_equity=12_500_000)  # −20 % with a 20 % limit
    assert check(gate(exact, daily_loss_limit=0.2), exact, buy("B"), 1)[0] is False


def test_sells_are_capped_at_the_holding_and_refused_without_one() -> None:
    c = make_calc(holdings={"A": 30})
    g = gate(c, max_exposure=0.01, max_position_qty=1)  # buy caps never apply to sells
    assert check(g, c, sell("A", 50), 50) == (True, 30, "OK")
    assert check(g, c, sell("A", 10), 10) == (False, 0, "NOTHING_TO_SELL")  # all 30 sold
    assert check(g, c, sell("B", 10), 10) == (False, 0, "NOTHING_TO_SELL")


def test_malformed_requests_are_refused() -> None:
    c = make_calc()
    g = gate(c)
    assert check(g, c, buy("ZZZ"), 1) == (False, 0, "UNKNOWN_SYMBOL")
    assert check(g, c, buy("A"), 0) == (False, 0, "QTY_NOT_POSITIVE")
    assert g.check(c, buy("A"), 1, 0).reason == "NO_PRICE"


# --- state within one cycle --------------------------------------------------------------------


def test_several_buys_cannot_spend_the_same_exposure_room() -> None:
    c = make_calc()
    g = gate(c, max_exposure=0.5)  # 5 M of room
    assert check(g, c, buy("A"), 300) == (True, 300, "OK")  # 3 M
    assert check(g, c, buy("B"), 300) == (True, 100, "MAX_EXPOSURE")  # 2 M left
    assert check(g, c, buy("C"), 1) == (False, 0, "MAX_EXPOSURE")
    g.start_cycle(c)  # a new cycle starts from the snapshot again
    assert check(g, c, buy("B"), 300) == (True, 250, "MAX_EXPOSURE")


def test_several_buys_cannot_spend_the_same_buying_power() -> None:
    c = make_calc(buying_power=1_000_000)
    g = gate(c)
    assert check(g, c, buy("A"), 80) == (True, 80, "OK")
    assert check(g, c, buy("C"), 100) == (True, 40, "INSUFFICIENT_BUYING_POWER")
    assert check(g, c, buy("C"), 1) == (False, 0, "INSUFFICIENT_BUYING_POWER")
    g.start_cycle(c)
    assert check(g, c, buy("C"), 100) == (True, 100, "OK")


def test_two_buys_of_one_symbol_share_its_weight() -> None:
    c = make_calc()
    g = gate(c, max_symbol_weight=0.1)  # 100 A
    assert check(g, c, buy("A"), 60) == (True, 60, "OK")
    assert check(g, c, buy("A"), 60) == (True, 40, "MAX_SYMBOL_WEIGHT")
    assert check(g, c, buy("B"), 50) == (True, 50, "OK")  # other symbols keep their own room


def test_a_sell_frees_exposure_room_for_the_buys_of_its_cycle() -> None:
    c = make_calc(cash=5_000_000, holdings={"A": 250})  # 2.5 M held, equity 7.5 M
    g = gate(c, max_exposure=0.5)  # 3.75 M max → 1.25 M room, 3.75 M once A is sold
    assert check(g, c, sell("A", 250), 250) == (True, 250, "OK")
    assert check(g, c, sell("A", 250), 250) == (False, 0, "NOTHING_TO_SELL")  # sold already
    assert check(g, c, buy("B"), 100) == (True, 100, "OK")


# --- property ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    limits=st.builds(
        RiskLimits,
        max_exposure=st.floats(0.05, 1.0),
        max_symbol_weight=st.floats(0.05, 1.0),
        max_position_qty=st.none() | st.integers(1, 2_000),
        daily_loss_limit=st.none(),
        buying_power_buffer=st.floats(0.0, 0.5),
    ),
    cash=st.integers(1, 50_000_000),
    bp_share=st.floats(0.0, 1.0),
    held=st.tuples(*[st.integers(0, 500)] * 3),
    prices=st.tuples(*[st.integers(1_000, 100_000)] * 3),
    orders=st.lists(
        st.tuples(st.sampled_from(UNI.symbols), st.booleans(), st.integers(1, 3_000)),
        max_size=12,
    ),
)
def test_approved_buys_never_exceed_exposure_room_or_buying_power(
    limits: RiskLimits,
    cash: int,
    bp_share: float,
    held: tuple[int, int, int],
    prices: tuple[int, int, int],
    orders: list[tuple[str, bool, int]],
) -> None:
    price = dict(zip(UNI.symbols, prices, strict=True))
    bp = int(cash * bp_share)
    book = Book(
        cash=cash,
        buying_power=bp,
        holdings={
            s: Holding(q, price[s], "s") for s, q in zip(UNI.symbols, held, strict=True) if q
        },
    )
    c = calc(frame(UNI, list(prices)), book)
    g = RiskGate(limits)
    g.start_cycle(c)
    exposure = int(c.exposure_value.sum())
    bought = dict.fromkeys(UNI.symbols, 0)
    sold_value = 0
    sold_qty = dict.fromkeys(UNI.symbols, 0)
    for symbol, is_buy, qty in orders:
        d = buy(symbol) if is_buy else sell(symbol, qty)
        r = g.check(c, d, qty, price[symbol])
        assert 0 <= r.allowed_qty <= qty
        assert r.approved == (r.allowed_qty > 0)
        i = UNI.index(symbol)
        if not is_buy:
            sold_qty[symbol] += r.allowed_qty
            assert sold_qty[symbol] <= held[i] + bought[symbol] // price[symbol]
            sold_value += r.allowed_qty * price[symbol]
            continue
        bought[symbol] += r.allowed_qty * price[symbol]
        position = held[i] - sold_qty[symbol] + bought[symbol] // price[symbol]
        if limits.max_position_qty is not None:
            assert r.allowed_qty == 0 or position <= max(limits.max_position_qty, held[i])
    total = sum(bought.values())
    room = int(c.total_equity * limits.max_exposure) - exposure + sold_value
    assert total <= room or total == 0
    assert total * (1 + limits.buying_power_buffer) <= bp + len(orders)
    assert total <= bp
    for s in UNI.symbols:
        cap = int(c.total_equity * limits.max_symbol_weight)
        assert bought[s] == 0 or bought[s] + int(c.exposure_value[UNI.index(s)]) <= cap


# --- portfolio.size ----------------------------------------------------------------------------


def test_size_exit_sells_the_recommended_quantity() -> None:
    assert portfolio.size(make_calc(holdings={"A": 30}), sell("A", 30), 10_000) == (30, "EXIT")


def test_size_uses_a_named_quantity_first() -> None:
    assert portfolio.size(make_calc(), buy("A", qty=7, weight=0.5), 10_000) == (7, "NEW_ENTRY")


def test_size_by_weight_floors_to_whole_shares() -> None:
    c = make_calc()  # equity 10 M
    assert portfolio.size(c, buy("A", weight=0.15), 7_000) == (214, "NEW_ENTRY")  # 214.28…
    assert portfolio.size(c, buy("A", weight=0.15), 7_500) == (200, "NEW_ENTRY")  # exact


def test_size_by_weight_tops_up_an_existing_holding() -> None:
    c = make_calc(cash=9_300_000, holdings={"A": 70})  # 700 k held of 10 M
    assert portfolio.size(c, buy("A", weight=0.15), 10_000) == (80, "REBALANCE")
    assert portfolio.size(c, buy("A", weight=0.05), 10_000) == (0, "REBALANCE")  # over target


def test_size_without_price_is_zero() -> None:
    assert portfolio.size(make_calc(), buy("A", weight=0.1), 0) == (0, "NO_PRICE_OR_EQUITY")


@settings(max_examples=100, deadline=None)
@given(
    weight=st.floats(0.001, 1.0),
    price=st.integers(1, 500_000),
    held=st.integers(0, 300),
    cash=st.integers(1, 100_000_000),
)
def test_size_by_weight_is_the_floor_of_the_missing_value(
    weight: float, price: int, held: int, cash: int
) -> None:
    c = make_calc(cash=cash, holdings={"A": held} if held else None)
    qty, _ = portfolio.size(c, buy("A", weight=weight), price)
    missing = int(c.total_equity * weight) - held * PRICES["A"]
    assert qty >= 0
    if missing <= 0:
        assert qty == 0
    else:
        assert qty * price <= missing < (qty + 1) * price


def test_weights_of_holdings() -> None:
    c = make_calc(cash=7_000_000, holdings={"A": 100, "B": 100})  # 1 M + 2 M of 10 M
    assert portfolio.weights(c) == pytest.approx({"A": 0.1, "B": 0.2})
