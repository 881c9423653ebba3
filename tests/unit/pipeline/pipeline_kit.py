"""Test helpers for the pipeline stages: a one-bar CalcData and strategies that say fixed things."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

import numpy as np

from qts.core.time import kst
from qts.engines.contracts import (
    AccountSnapshot,
    CalcData,
    Evaluation,
    EvaluationResult,
    HoldingView,
    PendingSell,
    RawData,
    RiskDecision,
    StrategyDecision,
)
from qts.engines.indicators import IndicatorSpec
from qts.model.enums import Signal, Track, Urgency
from qts.model.frame import BarFrame, Universe

T0 = kst(2026, 3, 4, 10, 0)
UNI = Universe(("A", "B", "C"))


@dataclass(slots=True)
class Market:
    """One bar per symbol (its close) and what the account holds."""

    closes: Mapping[str, int]
    cash: int = 10_000_000
    held: Mapping[str, int] = field(default_factory=dict)
    pending: Mapping[str, int] = field(default_factory=dict)
    sells: Mapping[str, tuple[PendingSell, ...]] = field(default_factory=dict)  # in ``pending``
    base_price: Mapping[str, int] = field(default_factory=dict)
    entries_today: int = 0
    safety_state: str = "NORMAL"
    trading_enabled: bool = True
    universe: Universe = UNI
    ts: datetime = T0

    def calc(self) -> CalcData:
        u = self.universe
        n = len(u)

        def col(values: Mapping[str, int]) -> np.ndarray:
            out = np.zeros(n, dtype=np.int64)
            for s, v in values.items():
                out[u.index(s)] = v
            return out

        close = col(self.closes)
        active = close > 0
        f = BarFrame(
            u,
            self.ts,
            self.ts + timedelta(minutes=1),
            close,
            close,
            close,
            close,
            close * 0 + 1,
            active,
        )
        qty = col(self.held)
        exposure = qty * close
        equity = self.cash + int(exposure.sum())
        account = AccountSnapshot(
            cash=self.cash,
            buying_power=self.cash,
            equity=equity,
            day_start_equity=equity,
            qty=qty,
            cost_basis=exposure.copy(),
            pending_qty=col(self.pending),
            high_since_open=close.copy(),
            holdings={
                s: HoldingView(s, q, q * self.closes[s], T0, "fixed", Track.SWING)
                for s, q in self.held.items()
            },
            entries_today=self.entries_today,
            pending_sells=dict(self.sells),
        )
        raw = RawData(
            cycle_id=self.ts.isoformat(),
            ts=self.ts,
            universe=u,
            frame=f,
            account=account,
            base_price=col(self.base_price),
            safety_state=self.safety_state,
            trading_enabled=self.trading_enabled,
            session_open=True,
            minutes_to_close=120.0,
        )
        return CalcData(
            raw=raw,
            indicators={},
            exposure_value=exposure,
            unrealized_pnl=np.zeros(n, dtype=np.int64),
            total_equity=equity,
            total_exposure=float(exposure.sum()) / equity,
            daily_pnl=0,
        )


def decision(
    symbol: str,
    signal: Signal,
    qty: int = 0,
    weight: float = 0.0,
    strategy: str = "fixed",
    urgency: Urgency = Urgency.NORMAL,
) -> StrategyDecision:
    return StrategyDecision(
        symbol, strategy, Track.SWING, signal, f"{strategy} says", qty, weight, urgency=urgency
    )


def result(
    symbol: str,
    signal: Signal,
    qty: int,
    price: int = 10_000,
    approved: bool = True,
    risk_reason: str = "OK",
    urgency: Urgency = Urgency.NORMAL,
) -> EvaluationResult:
    """An evaluation result as Evaluate would leave it (final qty 0 when risk refused)."""
    return EvaluationResult(
        decision(symbol, signal, qty, urgency=urgency),
        price,
        qty if approved else 0,
        RiskDecision(approved, qty if approved else 0, risk_reason),
        "EXIT" if signal is Signal.SELL else "NEW_ENTRY",
    )


def evaluation(market: Market, results: Sequence[EvaluationResult]) -> Evaluation:
    return Evaluation(market.calc(), tuple(results))


class Fixed:
    """A strategy that says the same decisions every cycle."""

    name: ClassVar[str] = "fixed"
    track: ClassVar[Track] = Track.SWING

    def __init__(self, *decisions: StrategyDecision) -> None:
        self.params = None
        self.decisions = [
            StrategyDecision(
                d.symbol,
                self.name,
                d.track,
                d.signal,
                d.reason,
                d.recommended_qty,
                d.target_weight,
            )
            for d in decisions
        ]

    def indicators(self) -> list[IndicatorSpec]:
        return []

    def evaluate(self, calc: CalcData) -> list[StrategyDecision]:
        return list(self.decisions)


class Alpha(Fixed):
    name: ClassVar[str] = "alpha"


class Beta(Fixed):
    name: ClassVar[str] = "beta"
