"""What a rule returns, and exact percentage arithmetic shared by the rules."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from qts.risk.actions import MicroRiskAction, RiskCode

BPS = 10_000


def to_bps(value: Decimal | str | int, what: str, *, upper: int = BPS) -> int:
    """A fraction (0.015) as whole basis points (150); refuses anything finer than 1 bp.

    The rules compare ``excursion_won × 10,000`` with ``bps × cost_won`` in integers, so the
    per-position and the vectorised evaluators agree to the won.
    """
    d = Decimal(value)
    scaled = d * BPS
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what}: {value} is finer than one basis point (0.0001)")
    bps = int(scaled)
    if not 0 < bps <= upper:
        raise ValueError(f"{what}: {value} must be in (0, {Decimal(upper) / BPS}]")
    return bps


@dataclass(frozen=True, slots=True)
class LocalUpdate:
    """Changes to a position's local risk fields; ``None`` leaves a field alone."""

    trailing_stop_active: bool | None = None
    trailing_stop_price: int | None = None
    partial_exit_done: bool | None = None
    vol_reduced: bool | None = None
    time_extended: bool | None = None


NO_UPDATE = LocalUpdate()


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule's verdict on one position.

    ``update`` is applied whatever happens (ratchets, activations, the time extension);
    ``on_exit`` only if this rule's exit is the one sent (the once-per-position latches).
    ``warnings`` are codes about this position; the loop reports each when it first appears.
    """

    actions: tuple[MicroRiskAction, ...] = ()
    warnings: tuple[RiskCode, ...] = ()
    update: LocalUpdate = NO_UPDATE
    on_exit: LocalUpdate = NO_UPDATE

    @property
    def exit(self) -> MicroRiskAction | None:
        for a in self.actions:
            if a.action_type.is_exit:
                return a
        return None

    @property
    def codes(self) -> tuple[RiskCode, ...]:
        return tuple(a.code for a in self.actions if a.code is not None) + self.warnings


EMPTY = RuleResult()
