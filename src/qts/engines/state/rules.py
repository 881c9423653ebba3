"""The transition rules of the operating state (next-generation §6.4) as pure functions.

Each function answers one question for the current state: which conditions of the rule hold
now. ``any`` rules fire on one reason, ``all`` rules only when every condition holds. Hysteresis
(minimum stay, cooldown, confirmations) is the machine's business, not the rules'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from qts.engines.state.profile import OperatingState


class TransitionRules(BaseModel):
    """Thresholds (fractions 0..1 for drawdown and loss; index points for the volatility index)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drawdown_to_balanced: float = Field(0.05, gt=0, lt=1)
    vix_to_balanced: float = Field(25.0, gt=0)
    consecutive_losses_to_balanced: int = Field(5, ge=1)
    daily_loss_to_balanced: float = Field(0.02, gt=0, lt=1)
    drawdown_to_defensive: float = Field(0.10, gt=0, lt=1)
    vix_to_defensive: float = Field(30.0, gt=0)
    recovery_drawdown: float = Field(0.05, gt=0, lt=1)
    recovery_vix: float = Field(20.0, gt=0)
    recovery_profitable_days: int = Field(3, ge=0)
    recovery_min_days: float = Field(5.0, ge=0)
    aggressive_target_cagr: float = Field(0.15, description="B→A needs CAGR above this")
    aggressive_vix: float = Field(15.0, gt=0)
    aggressive_growth: float = Field(0.10, description="capital growth since the start")
    aggressive_win_rate: float = Field(0.60, ge=0, le=1)
    aggressive_min_days: float = Field(10.0, ge=0)
    min_days_aggressive: float = Field(7.0, ge=0)
    min_days_balanced: float = Field(5.0, ge=0)
    min_days_defensive: float = Field(3.0, ge=0)
    cooldown_hours: float = Field(24.0, ge=0)
    confirmations: int = Field(2, ge=1)
    evaluation_minutes: float = Field(60.0, gt=0)
    max_override_days: float = Field(7.0, gt=0)

    def min_days(self, state: OperatingState) -> float:
        return {
            OperatingState.AGGRESSIVE: self.min_days_aggressive,
            OperatingState.BALANCED: self.min_days_balanced,
            OperatingState.DEFENSIVE: self.min_days_defensive,
        }[state]


@dataclass(frozen=True, slots=True)
class StateInputs:
    """What the rules look at, all measured by the caller at ``ts``.

    ``drawdown``: equity below its running peak, as a fraction. ``daily_loss``: the day's loss as a
    fraction of its starting equity (0 on a gain). ``profitable_days``: trading days in a row that
    ended without a loss. ``vol_index`` None means unknown: no rule fires on it and no rule that
    needs it calm can hold — unless ``has_vol_index`` is False: the run has no volatility index at
    all (a backtest without one), so the rules' index conditions are left out rather than never
    met (one safety warning would otherwise keep it DEFENSIVE for good). ``safety`` is the safety
    state's name.
    """

    ts: datetime
    drawdown: float = 0.0
    vol_index: float | None = None
    scalp_loss_streak: int = 0
    daily_loss: float = 0.0
    safety: str = "NORMAL"
    circuit_breaker: bool = False
    profitable_days: int = 0
    cagr: float | None = None
    growth: float = 0.0
    win_rate_30d: float | None = None
    has_vol_index: bool = True


def _calm(x: StateInputs, below: float) -> bool:
    """The volatility index is below ``below`` — or the run has none to look at."""
    return x.vol_index < below if x.vol_index is not None else not x.has_vol_index


def _index_text(x: StateInputs) -> str:
    return f"vol index {x.vol_index:g}" if x.vol_index is not None else "no vol index"


def to_balanced_from_aggressive(x: StateInputs, r: TransitionRules) -> list[str]:
    """AGGRESSIVE → BALANCED on any of: drawdown, volatility, scalp loss streak, daily loss."""
    out = []
    if x.drawdown > r.drawdown_to_balanced:
        out.append(f"DRAWDOWN {x.drawdown:.2%} > {r.drawdown_to_balanced:.0%}")
    if x.vol_index is not None and x.vol_index > r.vix_to_balanced:
        out.append(f"VOL_INDEX {x.vol_index:g} > {r.vix_to_balanced:g}")
    if x.scalp_loss_streak > r.consecutive_losses_to_balanced:
        out.append(f"SCALP_LOSS_STREAK {x.scalp_loss_streak} > {r.consecutive_losses_to_balanced}")
    if x.daily_loss > r.daily_loss_to_balanced:
        out.append(f"DAILY_LOSS {x.daily_loss:.2%} > {r.daily_loss_to_balanced:.0%}")
    return out


def to_defensive_from_balanced(x: StateInputs, r: TransitionRules) -> list[str]:
    """BALANCED → DEFENSIVE on any of: drawdown, volatility, circuit breaker, Safety WARN/FAIL."""
    out = []
    if x.drawdown > r.drawdown_to_defensive:
        out.append(f"DRAWDOWN {x.drawdown:.2%} > {r.drawdown_to_defensive:.0%}")
    if x.vol_index is not None and x.vol_index > r.vix_to_defensive:
        out.append(f"VOL_INDEX {x.vol_index:g} > {r.vix_to_defensive:g}")
    if x.circuit_breaker:
        out.append("MARKET_CIRCUIT_BREAKER")
    if x.safety in ("WARNING", "FAIL"):
        out.append(f"SAFETY_{x.safety}")
    return out


def to_balanced_from_defensive(
    x: StateInputs, r: TransitionRules, days_in_state: float
) -> list[str]:
    """DEFENSIVE → BALANCED when all hold; returns the reasons, or [] when any fails."""
    ok = (
        x.drawdown < r.recovery_drawdown
        and _calm(x, r.recovery_vix)
        and x.profitable_days >= r.recovery_profitable_days
        and x.safety == "NORMAL"
        and days_in_state >= r.recovery_min_days
    )
    if not ok:
        return []
    return [
        f"RECOVERY drawdown {x.drawdown:.2%}, {_index_text(x)}, "
        f"{x.profitable_days} days without loss, {days_in_state:.1f} d in DEFENSIVE"
    ]


def to_aggressive_from_balanced(
    x: StateInputs, r: TransitionRules, days_in_state: float
) -> list[str]:
    """BALANCED → AGGRESSIVE when all hold."""
    ok = (
        x.cagr is not None
        and x.cagr > r.aggressive_target_cagr
        and _calm(x, r.aggressive_vix)
        and x.growth > r.aggressive_growth
        and x.win_rate_30d is not None
        and x.win_rate_30d > r.aggressive_win_rate
        and days_in_state >= r.aggressive_min_days
    )
    if not ok:
        return []
    return [
        f"STRONG_PERFORMANCE CAGR {x.cagr:.1%}, growth {x.growth:.1%}, "
        f"win rate {x.win_rate_30d:.0%}, {_index_text(x)}"
    ]


def candidate(
    state: OperatingState, x: StateInputs, r: TransitionRules, days_in_state: float
) -> tuple[OperatingState, list[str]] | None:
    """Where the rules would move ``state`` now, and why (None: stay)."""
    S = OperatingState
    if state is S.AGGRESSIVE:
        why = to_balanced_from_aggressive(x, r)
        return (S.BALANCED, why) if why else None
    if state is S.BALANCED:
        why = to_defensive_from_balanced(x, r)
        if why:
            return S.DEFENSIVE, why
        why = to_aggressive_from_balanced(x, r, days_in_state)
        return (S.AGGRESSIVE, why) if why else None
    why = to_balanced_from_defensive(x, r, days_in_state)
    return (S.BALANCED, why) if why else None
