"""Evaluate: Strategy → Risk → Portfolio for each symbol, conflicts cancelled, sells first."""

from __future__ import annotations

from pipeline_kit import Alpha, Beta, Market, decision

from qts.engines.risk import RiskGate, RiskLimits
from qts.model.enums import Signal
from qts.pipeline.decide import DecidePolicy, decide
from qts.pipeline.evaluate import evaluate

BUY, SELL, HOLD = Signal.BUY, Signal.SELL, Signal.HOLD
CLOSES = {"A": 10_000, "B": 20_000, "C": 5_000}


def gate(**limits: object) -> RiskGate:
    return RiskGate(RiskLimits.model_validate(limits))


def test_opposite_signals_for_one_symbol_cancel_out() -> None:
    m = Market(CLOSES, held={"A": 10})
    alpha = Alpha(decision("A", BUY, qty=5), decision("B", BUY, qty=3))
    beta = Beta(decision("A", SELL, qty=10))
    ev = evaluate(m.calc(), [alpha, beta], gate())
    by_symbol = {r.decision.symbol: r for r in ev.results}
    assert set(by_symbol) == {"A", "B"}
    a = by_symbol["A"]
    assert (a.final_qty, a.risk.approved, a.risk.reason) == (0, False, "SIGNAL_CONFLICT")
    assert a.portfolio_reason == "conflicting strategies"
    assert by_symbol["B"].final_qty == 3  # the other symbol is not affected
    d = decide(ev, DecidePolicy())
    assert [o.symbol for o in d.orders] == ["B"]
    assert [(o.symbol, o.action, o.reason) for o in d.blocked] == [
        ("A", None, "RISK: SIGNAL_CONFLICT")
    ]


def test_sells_are_evaluated_before_buys() -> None:
    m = Market(CLOSES, held={"A": 10, "B": 4})
    alpha = Alpha(decision("C", BUY, qty=1), decision("A", BUY, qty=1))
    beta = Beta(decision("B", SELL, qty=4))
    ev = evaluate(m.calc(), [alpha, beta], gate())
    assert [(r.decision.symbol, r.decision.signal) for r in ev.results] == [
        ("B", SELL),
        ("C", BUY),
        ("A", BUY),
    ]
    d = decide(ev, DecidePolicy())
    assert [o.symbol for o in d.orders] == ["B", "C", "A"]


def test_one_decision_per_symbol_and_direction_the_first_strategy_wins() -> None:
    m = Market(CLOSES)
    ev = evaluate(
        m.calc(), [Alpha(decision("A", BUY, qty=5)), Beta(decision("A", BUY, qty=7))], gate()
    )
    assert len(ev.results) == 1
    assert (ev.results[0].decision.strategy, ev.results[0].final_qty) == ("alpha", 5)


def test_hold_is_silence() -> None:
    ev = evaluate(Market(CLOSES).calc(), [Alpha(decision("A", HOLD, qty=5))], gate())
    assert ev.results == ()


def test_weights_are_sized_then_capped_by_risk() -> None:
    m = Market(CLOSES)  # equity 10 M
    ev = evaluate(m.calc(), [Alpha(decision("A", BUY, weight=0.5))], gate(max_symbol_weight=0.2))
    (r,) = ev.results
    assert r.price == 10_000
    assert r.portfolio_reason == "NEW_ENTRY"
    assert (r.risk.approved, r.risk.allowed_qty, r.risk.reason) == (True, 200, "MAX_SYMBOL_WEIGHT")
    assert r.final_qty == 200  # 500 proposed, 200 allowed


def test_buys_of_one_cycle_share_the_exposure_room() -> None:
    m = Market(CLOSES)
    alpha = Alpha(decision("A", BUY, weight=0.2), decision("B", BUY, weight=0.2))
    g = gate(max_exposure=0.3)
    ev = evaluate(m.calc(), [alpha], g)
    assert [(r.decision.symbol, r.final_qty) for r in ev.results] == [("A", 200), ("B", 50)]
    # the next cycle starts afresh from its own snapshot
    again = evaluate(m.calc(), [alpha], g)
    assert [r.final_qty for r in again.results] == [200, 50]


def test_a_sell_without_a_holding_is_refused() -> None:
    ev = evaluate(Market(CLOSES).calc(), [Alpha(decision("A", SELL, qty=3))], gate())
    (r,) = ev.results
    assert (r.final_qty, r.risk.reason, r.portfolio_reason) == (0, "NOTHING_TO_SELL", "EXIT")
