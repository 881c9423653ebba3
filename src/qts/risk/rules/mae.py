"""Rule 2 — maximum adverse excursion: cut a position whose worst drawdown since entry is too deep.

Adverse excursion = (cost − lowest since entry × qty) / cost, i.e. how far the low was under the
average price. ≥ 2.0 % → FULL_EXIT. ≥ 1.5 % → one PARTIAL_EXIT of floor(qty × 50 %), latched
so it fires once per position (the excursion is a running extreme, so without the latch the
condition would stay true every cycle). ≥ 1.0 % → GR071 warning (our number; the spec has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from qts.risk.actions import ActionType, ExitReason, MicroRiskAction, RiskCode
from qts.risk.rules.base import BPS, EMPTY, LocalUpdate, RuleResult, to_bps
from qts.risk.shadow import PositionShadow

_LATCH = LocalUpdate(partial_exit_done=True)


@dataclass(frozen=True, slots=True)
class MAEConfig:
    warn_pct: Decimal = Decimal("0.010")
    partial_pct: Decimal = Decimal("0.015")
    full_pct: Decimal = Decimal("0.020")
    partial_ratio: Decimal = Decimal("0.5")
    warn_bps: int = field(init=False, repr=False, compare=False)
    partial_bps: int = field(init=False, repr=False, compare=False)
    full_bps: int = field(init=False, repr=False, compare=False)
    ratio_bps: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        warn = to_bps(self.warn_pct, "mae.warn_pct")
        partial = to_bps(self.partial_pct, "mae.partial_pct")
        full = to_bps(self.full_pct, "mae.full_pct")
        if not warn <= partial <= full:
            raise ValueError("mae: need warn_pct <= partial_pct <= full_pct")
        object.__setattr__(self, "warn_bps", warn)
        object.__setattr__(self, "partial_bps", partial)
        object.__setattr__(self, "full_bps", full)
        object.__setattr__(self, "ratio_bps", to_bps(self.partial_ratio, "mae.partial_ratio"))


def full_exit(symbol: str, qty: int, lowest: int, config: MAEConfig) -> MicroRiskAction:
    return MicroRiskAction(
        ActionType.FULL_EXIT,
        symbol,
        qty,
        ExitReason.MAE_FULL,
        RiskCode.FS102,
        {"lowest": lowest, "threshold_bps": config.full_bps},
    )


def partial_exit(symbol: str, qty: int, lowest: int, config: MAEConfig) -> MicroRiskAction:
    return MicroRiskAction(
        ActionType.PARTIAL_EXIT,
        symbol,
        qty,
        ExitReason.MAE_PARTIAL,
        RiskCode.FS102,
        {"lowest": lowest, "threshold_bps": config.partial_bps},
    )


def evaluate_mae(shadow: PositionShadow, now: datetime, config: MAEConfig) -> RuleResult:
    cost = shadow.cost_basis
    adverse = (cost - shadow.lowest * shadow.qty) * BPS
    warnings = (RiskCode.GR071,) if adverse >= config.warn_bps * cost else ()
    if adverse >= config.full_bps * cost:
        action = full_exit(shadow.symbol, shadow.qty, shadow.lowest, config)
        return RuleResult((action,), warnings)
    if adverse >= config.partial_bps * cost and not shadow.partial_exit_done:
        qty = shadow.qty * config.ratio_bps // BPS
        if qty > 0:
            action = partial_exit(shadow.symbol, qty, shadow.lowest, config)
            return RuleResult((action,), warnings, on_exit=_LATCH)
    return RuleResult(warnings=warnings) if warnings else EMPTY
