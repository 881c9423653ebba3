"""What each operating state means for capital, entries and risk (next-generation §6.2).

Ratios are exact decimals: they turn into won by ``floor(total × ratio)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from qts.model.enums import Track


class OperatingState(StrEnum):
    AGGRESSIVE = "AGGRESSIVE"
    BALANCED = "BALANCED"
    DEFENSIVE = "DEFENSIVE"


@dataclass(frozen=True, slots=True)
class Range:
    lo: Decimal
    hi: Decimal

    @property
    def mid(self) -> Decimal:
        return (self.lo + self.hi) / 2

    def __contains__(self, x: object) -> bool:
        return isinstance(x, Decimal) and self.lo <= x <= self.hi


def _r(lo: str, hi: str) -> Range:
    return Range(Decimal(lo), Decimal(hi))


@dataclass(frozen=True, slots=True)
class StateProfile:
    state: OperatingState
    allocation: dict[Track, Range]
    risk_multiplier: Decimal
    entry_threshold: float
    max_positions: int
    max_daily_trades: int
    rebalancing_enabled: bool
    new_entries: bool
    scalp_active: bool

    @property
    def targets(self) -> dict[Track, Decimal]:
        """Target shares: the midpoints of the state's ranges (decisions.md, C5)."""
        return {t: r.mid for t, r in self.allocation.items()}


S, T = OperatingState, Track
PROFILES: dict[OperatingState, StateProfile] = {
    S.AGGRESSIVE: StateProfile(
        S.AGGRESSIVE,
        {T.SCALP: _r("0.60", "0.80"), T.SWING: _r("0.15", "0.30"), T.PORTFOLIO: _r("0.05", "0.10")},
        Decimal("1.2"),
        0.6,
        20,
        50,
        rebalancing_enabled=False,
        new_entries=True,
        scalp_active=True,
    ),
    S.BALANCED: StateProfile(
        S.BALANCED,
        {T.SCALP: _r("0.30", "0.50"), T.SWING: _r("0.30", "0.40"), T.PORTFOLIO: _r("0.20", "0.30")},
        Decimal("1.0"),
        0.7,
        15,
        30,
        rebalancing_enabled=True,
        new_entries=True,
        scalp_active=True,
    ),
    S.DEFENSIVE: StateProfile(
        S.DEFENSIVE,
        {T.SCALP: _r("0.05", "0.15"), T.SWING: _r("0.15", "0.25"), T.PORTFOLIO: _r("0.60", "0.80")},
        Decimal("0.5"),
        0.9,
        10,
        10,
        rebalancing_enabled=True,
        new_entries=False,
        scalp_active=False,
    ),
}
