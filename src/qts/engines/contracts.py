"""The contracts that pass between ETEDA stages (legacy-core §6.4).

They live with the engines, which consume and produce them; the pipeline above only moves them.

Each stage is a function of the previous stage's contract; none reaches around it. Arrays are
aligned with the run's :class:`Universe` and frozen (not writeable) once built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from qts.engines.capital.view import CapitalView
from qts.engines.indicators import IndicatorValues
from qts.model.enums import OrderSide, OrderType, Signal, Track, Urgency
from qts.model.frame import BarFrame, Universe

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def frozen(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, slots=True)
class HoldingView:
    """What the strategy may know about one open position."""

    symbol: str
    qty: int
    cost_basis: int
    opened_at: datetime | None
    strategy: str
    track: Track


@dataclass(frozen=True, slots=True)
class PendingSell:
    """A sell still open at the venue: what an exit must not sell a second time."""

    client_order_id: str
    remaining: int
    order_type: OrderType
    emergency: bool  # the micro risk loop's own exit
    limit_price: int | None = None


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    cash: int
    buying_power: int
    equity: int
    day_start_equity: int
    qty: IntArray
    cost_basis: IntArray
    pending_qty: IntArray
    high_since_open: IntArray
    holdings: dict[str, HoldingView]
    entries_today: int
    # the open sells of each symbol counted in ``pending_qty`` (a forced exit may replace them)
    pending_sells: Mapping[str, tuple[PendingSell, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RawData:
    """Extract's contract: one immutable snapshot of market, account, config and safety state."""

    cycle_id: str
    ts: datetime
    universe: Universe
    frame: BarFrame
    account: AccountSnapshot
    base_price: IntArray
    safety_state: str
    trading_enabled: bool
    session_open: bool
    minutes_to_close: float
    capital: CapitalView | None = None  # pools and operating state; None: capital flow is off


@dataclass(frozen=True, slots=True)
class CalcData:
    """Transform's contract: the raw snapshot plus indicators and derived account values."""

    raw: RawData
    indicators: dict[str, IndicatorValues]
    exposure_value: IntArray
    unrealized_pnl: IntArray
    total_equity: int
    total_exposure: float
    daily_pnl: int

    def ind(self, key: str) -> IndicatorValues:
        try:
            return self.indicators[key]
        except KeyError:
            raise KeyError(
                f"transform: indicator {key} was not requested by any strategy"
            ) from None


@dataclass(frozen=True, slots=True)
class StrategyDecision:
    symbol: str
    strategy: str
    track: Track
    signal: Signal
    reason: str
    recommended_qty: int = 0
    target_weight: float = 0.0
    confidence: float = 1.0
    urgency: Urgency = Urgency.NORMAL  # of a SELL: may it wait behind a resting sell?


@dataclass(frozen=True, slots=True)
class RiskDecision:
    approved: bool
    allowed_qty: int
    reason: str


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """Evaluate's contract for one symbol: Strategy → Risk → Portfolio."""

    decision: StrategyDecision
    price: int
    final_qty: int
    risk: RiskDecision
    portfolio_reason: str


@dataclass(frozen=True, slots=True)
class Evaluation:
    calc: CalcData
    results: tuple[EvaluationResult, ...]


@dataclass(frozen=True, slots=True)
class OrderDecision:
    """Decide's contract: the last yes/no gate. ``action`` None means no order (see reason)."""

    symbol: str
    action: OrderSide | None
    qty: int
    order_type: OrderType
    limit_price: int | None
    reason: str
    strategy: str
    track: Track
    price: int


@dataclass(frozen=True, slots=True)
class CancelDecision:
    """A resting sell a forced exit replaces: cancelled now, the exit sent once the venue
    confirms (the sell's quantity stays counted as pending until then)."""

    symbol: str
    client_order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Decisions:
    evaluation: Evaluation
    orders: tuple[OrderDecision, ...]
    blocked: tuple[OrderDecision, ...] = ()
    cancels: tuple[CancelDecision, ...] = ()


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """Act's contract for one order: what the venue said."""

    client_order_id: str
    symbol: str
    side: OrderSide
    qty: int
    status: str
    message: str = ""
    code: str = ""  # the venue's refusal code of a rejected order (its Ack.code)


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle did; ``decisions`` is None when a stage failed before Decide finished."""

    cycle_id: str
    ts: datetime
    decisions: Decisions | None
    executions: tuple[ExecutionResult, ...] = field(default_factory=tuple)
