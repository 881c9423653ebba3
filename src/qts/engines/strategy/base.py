"""What every strategy provides: the indicators it needs and a vectorised evaluation."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from qts.engines.contracts import CalcData, StrategyDecision
from qts.engines.indicators import IndicatorSpec
from qts.model.enums import Track


class StrategyParams(BaseModel):
    """Parameters of a strategy; unknown keys are an error, so a typo never goes unnoticed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Strategy(Protocol):
    name: ClassVar[str]
    track: ClassVar[Track]
    params: Any

    def indicators(self) -> list[IndicatorSpec]: ...

    def evaluate(self, calc: CalcData) -> list[StrategyDecision]:
        """Decisions for the symbols that should act now; silence means HOLD."""
        ...


def change_pct(price: int, qty: int, cost_basis: int) -> Fraction:
    """Exact percentage change of a holding valued at ``price`` against what it cost.

    Thresholds are compared exactly (a -7 % stop fires at exactly -7 %, which float arithmetic
    would miss by one ulp)."""
    return Fraction((price * qty - cost_basis) * 100, cost_basis)


def pct(value: float) -> Fraction:
    """A configured percentage as the exact decimal the user wrote."""
    return Fraction(str(value))
