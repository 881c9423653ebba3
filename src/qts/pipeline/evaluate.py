"""Evaluate: Strategy → Risk → Portfolio on the snapshot alone.

Opposite signals for one symbol from two strategies cancel out (the conservative answer); of
several decisions in the same direction only the first is kept: one order per symbol per cycle.
With capital flow on, a buy is sized inside its strategy's pool (``engines.capital.gates``).
"""

from __future__ import annotations

from collections.abc import Sequence

from qts.engines import portfolio
from qts.engines.capital.gates import size_in_pool
from qts.engines.contracts import CalcData, Evaluation, EvaluationResult, RiskDecision
from qts.engines.contracts import StrategyDecision as SD
from qts.engines.risk import RiskGate
from qts.engines.strategy.base import Strategy
from qts.engines.strategy.failure import StrategyFailed
from qts.model.enums import Signal


def evaluate(calc: CalcData, strategies: Sequence[Strategy], gate: RiskGate) -> Evaluation:
    by_symbol: dict[str, list[SD]] = {}
    for strategy in strategies:
        try:
            found = list(strategy.evaluate(calc))
        except Exception as exc:  # the strategy's own bug: named with its line, not a traceback
            raise StrategyFailed(strategy, exc) from exc
        for d in found:
            if d.signal is not Signal.HOLD:
                by_symbol.setdefault(d.symbol, []).append(d)
    gate.start_cycle(calc)
    capital = calc.raw.capital
    results: list[EvaluationResult] = []
    close = calc.raw.frame.close
    universe = calc.raw.universe
    # sells first: they free exposure room for the buys of the same cycle
    ordered = sorted(by_symbol.items(), key=lambda kv: kv[1][0].signal is Signal.BUY)
    # sizing reads the snapshot only, so every decision is sized first and the gate's hot
    # inputs are read for all of them at once; the checks then run in order
    sized: list[tuple[SD, int, int, str] | EvaluationResult] = []
    for symbol, decisions in ordered:
        signals = {d.signal for d in decisions}
        price = int(close[universe.index(symbol)]) if symbol in universe else 0
        if len(signals) > 1:
            d = decisions[0]
            sized.append(
                EvaluationResult(
                    d, price, 0, RiskDecision(False, 0, "SIGNAL_CONFLICT"), "conflicting strategies"
                )
            )
            continue
        d = decisions[0]
        proposed, why = portfolio.size(calc, d, price)
        if capital is not None and symbol in universe:
            held = int(calc.exposure_value[universe.index(symbol)])
            proposed, cut = size_in_pool(
                capital, d, proposed, price, held, gate.limits.buying_power_buffer
            )
            why = f"{why}; {cut}" if cut else why
        sized.append((d, price, proposed, why))
    gate.prefetch(
        calc, [(s[0].symbol, s[2], s[1]) for s in sized if not isinstance(s, EvaluationResult)]
    )
    for s in sized:
        if isinstance(s, EvaluationResult):
            results.append(s)
            continue
        d, price, proposed, why = s
        risk = gate.check(calc, d, proposed, price)
        final = min(proposed, risk.allowed_qty) if risk.approved else 0
        results.append(EvaluationResult(d, price, final, risk, why))
    return Evaluation(calc, tuple(results))
