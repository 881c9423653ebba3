"""Rule 3 — time in trade: close scalps after 1 h and swings after 7 days (calendar time).

Warn (GR072) at 80 % of the limit. When the limit is reached while the position is in profit it
gets 30 more minutes, once (latched); at the (extended) limit it is closed whatever its PnL.
A track the config does not know raises KeyError: the loop reports FS100 for that position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from qts.model.enums import Track
from qts.risk.actions import ActionType, ExitReason, MicroRiskAction, RiskCode
from qts.risk.rules.base import BPS, EMPTY, NO_UPDATE, LocalUpdate, RuleResult, to_bps
from qts.risk.shadow import US_PER_S, PositionShadow, to_us

_EXTEND = LocalUpdate(time_extended=True)


@dataclass(frozen=True, slots=True)
class TimeInTradeConfig:
    scalp_s: int | None = 3_600
    swing_s: int | None = 604_800
    portfolio_s: int | None = None
    warn_fraction: Decimal = Decimal("0.8")
    extension_s: int = 1_800
    warn_bps: int = field(init=False, repr=False, compare=False)
    limits: dict[Track, int | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("scalp_s", "swing_s", "portfolio_s"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ValueError(f"time_in_trade.{name}: must be positive or None, got {v}")
        if self.extension_s < 0:
            raise ValueError(
                f"time_in_trade.extension_s: cannot be negative, got {self.extension_s}"
            )
        object.__setattr__(self, "warn_bps", to_bps(self.warn_fraction, "time.warn_fraction"))
        object.__setattr__(
            self,
            "limits",
            {
                Track.SCALP: self.scalp_s,
                Track.SWING: self.swing_s,
                Track.PORTFOLIO: self.portfolio_s,
            },
        )

    def limit_s(self, track: Track) -> int | None:
        return self.limits[track]


def exit_action(symbol: str, qty: int, elapsed_us: int, deadline_us: int) -> MicroRiskAction:
    return MicroRiskAction(
        ActionType.FULL_EXIT,
        symbol,
        qty,
        ExitReason.TIME,
        RiskCode.FS102,
        {"time_in_trade_s": elapsed_us // US_PER_S, "limit_s": deadline_us // US_PER_S},
    )


def evaluate_time_in_trade(
    shadow: PositionShadow, now: datetime, config: TimeInTradeConfig
) -> RuleResult:
    limit = config.limit_s(shadow.track)
    if limit is None:
        return EMPTY
    limit_us = limit * US_PER_S
    elapsed = to_us(now) - shadow.entry_us
    warnings = (RiskCode.GR072,) if elapsed * BPS >= config.warn_bps * limit_us else ()
    extend = not shadow.time_extended and elapsed >= limit_us and shadow.unrealized_pnl > 0
    update = _EXTEND if extend else NO_UPDATE
    extended = shadow.time_extended or extend
    deadline = limit_us + (config.extension_s * US_PER_S if extended else 0)
    if elapsed >= deadline:
        action = exit_action(shadow.symbol, shadow.qty, elapsed, deadline)
        return RuleResult((action,), warnings, update)
    if warnings or extend:
        return RuleResult((), warnings, update)
    return EMPTY
