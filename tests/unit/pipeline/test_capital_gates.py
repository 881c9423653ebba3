"""Evaluate and Decide under the operating state and the pools (§12.7 oracles 52, 56; GR080–082)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from pipeline_kit import T0, Fixed, Market, decision, evaluation, result

from qts.engines.capital.gates import DEFENSIVE_BLOCK, scaled_limits, size_in_pool
from qts.engines.capital.pool import PoolSnapshot, PoolState
from qts.engines.capital.view import CapitalView
from qts.engines.contracts import CalcData, EvaluationResult
from qts.engines.risk import RiskGate, RiskLimits
from qts.engines.state.profile import OperatingState
from qts.model.enums import OrderSide, Signal, Track
from qts.model.frame import Universe
from qts.pipeline.decide import DecidePolicy, decide
from qts.pipeline.evaluate import evaluate

A, B, D = OperatingState.AGGRESSIVE, OperatingState.BALANCED, OperatingState.DEFENSIVE
CLOSES = {"A": 10_000, "B": 20_000, "C": 5_000}


def view(
    state: OperatingState = B,
    swing: int = 3_500_000,
    reserved: int = 0,
    locked: bool = False,
    pending: bool = False,
) -> CapitalView:
    def pool(t: Track, total: int, res: int = 0) -> PoolSnapshot:
        st = PoolState.LOCKED if locked and t is Track.SWING else PoolState.ACTIVE
        return PoolSnapshot(t, T0, total, 0, res, pool_state=st)

    return CapitalView(
        state,
        {
            Track.SCALP: pool(Track.SCALP, 4_000_000),
            Track.SWING: pool(Track.SWING, swing, reserved),
            Track.PORTFOLIO: pool(Track.PORTFOLIO, 2_500_000),
        },
        pending,
    )


def with_view(calc: CalcData, v: CapitalView) -> CalcData:
    return replace(calc, raw=replace(calc.raw, capital=v))


def run(market: Market, v: CapitalView, *results: EvaluationResult):  # type: ignore[no-untyped-def]
    ev = evaluation(market, results)
    return decide(replace(ev, calc=with_view(ev.calc, v)), DecidePolicy())


def test_defensive_blocks_buys_and_lets_exits_through() -> None:
    d = run(
        Market(CLOSES, held={"B": 5}),
        view(D),
        result("A", Signal.BUY, 10),
        result("B", Signal.SELL, 5),
    )
    assert [(o.symbol, o.action) for o in d.orders] == [("B", OrderSide.SELL)]
    (blocked,) = d.blocked
    assert blocked.symbol == "A" and blocked.action is None and blocked.reason == DEFENSIVE_BLOCK


def test_balanced_lets_the_same_buy_through() -> None:
    d = run(Market(CLOSES), view(B), result("A", Signal.BUY, 10))
    assert [o.action for o in d.orders] == [OrderSide.BUY]


def _conf(r: EvaluationResult, c: float) -> EvaluationResult:
    return replace(r, decision=replace(r.decision, confidence=c))


def test_entry_threshold_per_state() -> None:
    r = _conf(result("A", Signal.BUY, 10), 0.65)
    assert run(Market(CLOSES), view(B), r).blocked[0].reason.startswith("BELOW_STATE_THRESHOLD")
    assert run(Market(CLOSES), view(A), r).orders  # 0.65 ≥ 0.6 in AGGRESSIVE
    r = _conf(r, 0.7)
    assert run(Market(CLOSES), view(B), r).orders  # at the threshold


def test_daily_trade_limit_per_state_gr080() -> None:
    r = result("A", Signal.BUY, 10)
    assert run(Market(CLOSES, entries_today=29), view(B), r).orders
    d = run(Market(CLOSES, entries_today=30), view(B), r)
    assert d.blocked[0].reason == "DAILY_TRADE_LIMIT (BALANCED: 30)"
    assert run(Market(CLOSES, entries_today=49), view(A), r).orders


def test_max_positions_per_state() -> None:
    symbols = tuple(f"S{i:02d}" for i in range(16))
    closes = dict.fromkeys(symbols, 1_000)
    held = dict.fromkeys(symbols[:15], 1)
    m = Market(closes, held=held, universe=Universe(symbols))
    d = run(m, view(B), result("S15", Signal.BUY, 1, price=1_000))
    assert d.blocked[0].reason == "MAX_POSITIONS (BALANCED: 15)"
    assert run(m, view(A), result("S15", Signal.BUY, 1, price=1_000)).orders
    assert run(m, view(B), result("S00", Signal.BUY, 1, price=1_000)).orders  # adds to a holding


def test_a_locked_pool_buys_nothing() -> None:
    d = run(Market(CLOSES), view(B, locked=True), result("A", Signal.BUY, 10))
    assert d.blocked[0].reason == "POOL_LOCKED (SWING)"


def test_evaluate_sizes_inside_the_pool_and_pending_rebalancing_pre_empts_entries() -> None:
    calc = Market(CLOSES, cash=100_000_000).calc()
    gate = RiskGate(RiskLimits())
    buy = Fixed(decision("A", Signal.BUY, qty=1_000))
    ev = evaluate(with_view(calc, view(B, swing=3_500_000)), [buy], gate)
    (r,) = ev.results
    assert r.final_qty == 350  # 3,500,000 available / 10,000, not the 1,000 asked
    assert "POOL_CAPITAL" in r.portfolio_reason
    # the swing pool's money waits for a rebalance transfer: no room for entries
    ev = evaluate(with_view(calc, view(B, reserved=3_500_000, pending=True)), [buy], gate)
    (r,) = ev.results
    assert r.final_qty == 0 and not r.risk.approved
    d = decide(ev, DecidePolicy())
    assert d.orders == ()


def test_weights_are_shares_of_the_pool_under_the_multiplier() -> None:
    d = decision("A", Signal.BUY, weight=0.5)
    assert size_in_pool(view(B), d, 0, 10_000, 0) == (175, "")  # 3,500,000 × 0.5 / 10,000
    assert size_in_pool(view(A), d, 0, 10_000, 0) == (210, "")  # × 1.2
    assert size_in_pool(view(D), d, 0, 10_000, 0) == (87, "")  # × 0.5, floored
    fixed = decision("A", Signal.BUY, qty=10)
    assert size_in_pool(view(A), fixed, 10, 10_000, 0) == (12, "")
    assert size_in_pool(view(B), fixed, 10, 10_000, 0) == (10, "")


def test_risk_limits_scale_with_the_state_multiplier() -> None:
    lim = RiskLimits(max_exposure=0.8, daily_loss_limit=0.03, max_position_qty=100)
    assert scaled_limits(lim, Decimal("1.0")) is lim
    half = scaled_limits(lim, Decimal("0.5"))
    assert (half.max_exposure, half.daily_loss_limit, half.max_position_qty) == (0.4, 0.015, 50)
    more = scaled_limits(lim, Decimal("1.2"))
    assert more.max_exposure == 0.96 and more.max_position_qty == 120
