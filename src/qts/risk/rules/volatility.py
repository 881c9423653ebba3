"""Rule 1 — volatility (global, evaluated first): the VKOSPI level decides for every position.

VKOSPI ≥ 25 → WARNING (GR073, log only); ≥ 30 → CRITICAL: halve exposure — one REDUCE_EXPOSURE
signal per episode and one PARTIAL_EXIT of floor(qty × 50 %) per position, latched per
position; ≥ 40 → KILL: KILL_SWITCH + ETEDA_SUSPEND (indefinite) + BLOCK_ENTRIES once, and a
FULL_EXIT for every position (FS104). The kill switch stays latched until an operator releases it
(LOCKDOWN is released only by a recorded approval), whatever the index does afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import IntEnum

from qts.risk.actions import ALL, ActionType, ExitReason, MicroRiskAction, RiskCode
from qts.risk.rules.base import BPS, EMPTY, LocalUpdate, RuleResult, to_bps
from qts.risk.shadow import PositionShadow, to_us

_LATCH = LocalUpdate(vol_reduced=True)


class VolLevel(IntEnum):
    NORMAL = 0
    WARNING = 1
    CRITICAL = 2
    KILL = 3


@dataclass(frozen=True, slots=True)
class VolatilityConfig:
    warn_level: float = 25.0
    critical_level: float = 30.0
    kill_level: float = 40.0
    reduce_ratio: Decimal = Decimal("0.5")
    ratio_bps: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 < self.warn_level <= self.critical_level <= self.kill_level:
            raise ValueError("volatility: need 0 < warn_level <= critical_level <= kill_level")
        object.__setattr__(self, "ratio_bps", to_bps(self.reduce_ratio, "volatility.reduce_ratio"))


def volatility_level(value: float | None, config: VolatilityConfig) -> VolLevel:
    if value is None or math.isnan(value):
        return VolLevel.NORMAL
    if value >= config.kill_level:
        return VolLevel.KILL
    if value >= config.critical_level:
        return VolLevel.CRITICAL
    if value >= config.warn_level:
        return VolLevel.WARNING
    return VolLevel.NORMAL


def kill_exit(symbol: str, qty: int) -> MicroRiskAction:
    return MicroRiskAction(
        ActionType.FULL_EXIT, symbol, qty, ExitReason.KILL_SWITCH, RiskCode.FS104
    )


def reduce_exit(symbol: str, qty: int, config: VolatilityConfig) -> MicroRiskAction:
    return MicroRiskAction(
        ActionType.PARTIAL_EXIT,
        symbol,
        qty,
        ExitReason.VOLATILITY_REDUCE,
        RiskCode.FS102,
        {"ratio_bps": config.ratio_bps},
    )


def evaluate_volatility(
    shadow: PositionShadow, now: datetime, config: VolatilityConfig, level: VolLevel
) -> RuleResult:
    """The per-position half of the rule; ``level`` comes from :class:`VolatilityMonitor`."""
    if level is VolLevel.KILL:
        return RuleResult((kill_exit(shadow.symbol, shadow.qty),))
    if level is VolLevel.CRITICAL and not shadow.vol_reduced:
        qty = shadow.qty * config.ratio_bps // BPS
        if qty > 0:
            return RuleResult((reduce_exit(shadow.symbol, qty, config),), on_exit=_LATCH)
    return EMPTY


@dataclass(frozen=True, slots=True)
class VolStep:
    """The global half of one cycle: the level to apply and any book-wide actions/warnings."""

    level: VolLevel
    value: float | None
    actions: tuple[MicroRiskAction, ...] = ()
    warnings: tuple[RiskCode, ...] = ()


class VolatilityMonitor:
    """Holds the latest index value (pushed from any thread) and the loop-side episode state.

    ``push`` stores one tuple (a single atomic assignment), so the feed thread never blocks;
    ``step`` runs on the loop thread only.
    """

    def __init__(self, config: VolatilityConfig) -> None:
        self.config = config
        self._latest: tuple[float, int] | None = None
        self._killed = False
        self._critical = False
        self._release = False

    def push(self, value: float, ts: datetime) -> None:
        self._latest = (float(value), to_us(ts))

    @property
    def latest(self) -> tuple[float, int] | None:
        return self._latest

    @property
    def killed(self) -> bool:
        return self._killed

    def release_kill_switch(self) -> None:
        """Operator approval: the next step forgets the latched kill (and the index decides)."""
        self._release = True

    def step(self) -> VolStep:
        latest = self._latest
        value = latest[0] if latest is not None else None
        level = volatility_level(value, self.config)
        if self._release:
            self._release = False
            self._killed = False
        actions: list[MicroRiskAction] = []
        if level is VolLevel.KILL and not self._killed:
            self._killed = True
            payload = {"vkospi": value}
            actions += [
                MicroRiskAction(
                    ActionType.KILL_SWITCH, ALL, 0, "VOLATILITY_KILL", RiskCode.FS104, payload
                ),
                MicroRiskAction(
                    ActionType.ETEDA_SUSPEND,
                    ALL,
                    0,
                    "VOLATILITY_KILL",
                    RiskCode.FS103,
                    {"duration_ms": None},
                ),
                MicroRiskAction(
                    ActionType.BLOCK_ENTRIES, ALL, 0, "VOLATILITY_KILL", RiskCode.FS104, payload
                ),
            ]
        if self._killed:
            level = VolLevel.KILL
        if level is VolLevel.CRITICAL and not self._critical:
            actions.append(
                MicroRiskAction(
                    ActionType.REDUCE_EXPOSURE,
                    ALL,
                    0,
                    "VOLATILITY_CRITICAL",
                    RiskCode.GR073,
                    {"factor_bps": BPS - self.config.ratio_bps, "vkospi": value},
                )
            )
        self._critical = level >= VolLevel.CRITICAL
        warnings = (RiskCode.GR073,) if level >= VolLevel.WARNING else ()
        return VolStep(level, value, tuple(actions), warnings)
