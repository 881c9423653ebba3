"""Portfolio engine: decides *how much* — turns a signal into a share count.

A strategy either names a quantity (``recommended_qty``) or a target weight of equity; weights
become ``floor(equity × weight / price)`` shares, less what is already held.
"""

from __future__ import annotations

from qts.engines.contracts import CalcData, StrategyDecision
from qts.model.enums import Signal


def size(calc: CalcData, decision: StrategyDecision, price: int) -> tuple[int, str]:
    """Proposed quantity and why."""
    if decision.signal is Signal.SELL:
        return decision.recommended_qty, "EXIT"
    if decision.recommended_qty > 0:
        return decision.recommended_qty, "NEW_ENTRY"
    if price <= 0 or calc.total_equity <= 0:
        return 0, "NO_PRICE_OR_EQUITY"
    i = calc.raw.universe.index(decision.symbol)
    target_value = int(calc.total_equity * decision.target_weight)
    qty = (target_value - int(calc.exposure_value[i])) // price
    return max(qty, 0), "REBALANCE" if calc.raw.account.qty[i] else "NEW_ENTRY"


def weights(calc: CalcData) -> dict[str, float]:
    """Current weight of every holding in equity."""
    eq = calc.total_equity
    if eq <= 0:
        return {}
    syms = calc.raw.universe.symbols
    return {syms[i]: float(v) / eq for i, v in enumerate(calc.exposure_value) if v}
