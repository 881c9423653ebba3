"""Rule 4 — trailing stop: lock in profit once a position has been up ≥ 1 %.

Activation: the unrealized gain reached +1.0 % — judged on the highest price since entry, so a
spike between two loop cycles still counts (the shadow records every tick's extreme).
Stop = highest − max(highest × 0.5 %, 500 KRW), floored to the KRX tick (decisions.md C20: the
500 KRW is a *minimum* distance). The stop only ratchets up. Exit when price ≤ stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from qts.market.krx.tick_size import ETF_TICK, round_down
from qts.risk.actions import ActionType, ExitReason, MicroRiskAction, RiskCode
from qts.risk.rules.base import BPS, EMPTY, LocalUpdate, RuleResult, to_bps
from qts.risk.shadow import PositionShadow


@dataclass(frozen=True, slots=True)
class TrailingStopConfig:
    activation_pct: Decimal = Decimal("0.01")
    distance_pct: Decimal = Decimal("0.005")
    min_distance: int = 500
    activation_bps: int = field(init=False, repr=False, compare=False)
    distance_bps: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.min_distance < 0:
            raise ValueError(f"trailing.min_distance: cannot be negative, got {self.min_distance}")
        object.__setattr__(
            self, "activation_bps", to_bps(self.activation_pct, "trailing.activation_pct")
        )
        object.__setattr__(self, "distance_bps", to_bps(self.distance_pct, "trailing.distance_pct"))


def stop_price(highest: int, config: TrailingStopConfig, etf: bool = False) -> int:
    """The stop for a given (on-grid) high: never above it, always on the grid, at least the
    lowest grid price (1 won; 5 for an ETF)."""
    pct = -(-highest * config.distance_bps // BPS)  # ceil: the stop is floored, not rounded
    raw = max(highest - max(pct, config.min_distance), 1)
    return max(round_down(raw, etf), ETF_TICK if etf else 1)


def exit_action(symbol: str, qty: int, stop: int, price: int) -> MicroRiskAction:
    return MicroRiskAction(
        ActionType.FULL_EXIT,
        symbol,
        qty,
        ExitReason.TRAILING,
        RiskCode.FS102,
        {"stop": stop, "price": price},
    )


def adjust_action(symbol: str, old_stop: int, new_stop: int) -> MicroRiskAction:
    return MicroRiskAction(
        ActionType.TRAILING_STOP_ADJUST,
        symbol,
        0,
        "TRAILING_STOP_ADJUST",
        None,
        {"old_stop": old_stop, "new_stop": new_stop},
    )


def evaluate_trailing(
    shadow: PositionShadow, now: datetime, config: TrailingStopConfig
) -> RuleResult:
    active = shadow.trailing_stop_active or (
        (shadow.highest * shadow.qty - shadow.cost_basis) * BPS
        >= config.activation_bps * shadow.cost_basis
    )
    if not active:
        return EMPTY
    old = shadow.trailing_stop_price
    new = max(old, stop_price(shadow.highest, config, shadow.etf))
    update = LocalUpdate(trailing_stop_active=True, trailing_stop_price=new)
    if shadow.current_price <= new:
        return RuleResult(
            (exit_action(shadow.symbol, shadow.qty, new, shadow.current_price),), (), update
        )
    if new != old:
        return RuleResult((adjust_action(shadow.symbol, old, new),), (), update)
    return RuleResult((), (), update) if not shadow.trailing_stop_active else EMPTY
