"""Intraday scalp: buy a short, sharp dip, leave quickly (Config_Scalp parameters).

Entry: RSI below ``rsi_oversold`` and the close under the lower Bollinger band. Exit on the first
of take-profit, stop-loss, RSI recovery, time in trade, or the approach of the close: a scalp
never holds overnight. The stop-loss and time in trade are ``Urgency.FORCED`` exits and the
approach of the close ``Urgency.FLATTEN``: they replace a resting sell that is not filling
(``qts.pipeline.decide``) instead of waiting behind it.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import numpy as np
from pydantic import Field, PositiveInt

from qts.engines.contracts import CalcData, StrategyDecision
from qts.engines.indicators import IndicatorSpec
from qts.engines.strategy.base import StrategyParams, change_pct, pct
from qts.model.enums import Signal, Track, Urgency


class ScalpParams(StrategyParams):
    rsi_window: PositiveInt = 14
    rsi_oversold: float = Field(30.0, ge=0, le=100)
    rsi_exit: float = Field(55.0, ge=0, le=100)
    bb_window: PositiveInt = 20
    bb_k: float = Field(2.0, gt=0)
    take_profit_pct: float = Field(0.8, gt=0)
    max_loss_pct: float = Field(0.5, gt=0)
    max_hold_minutes: PositiveInt = 30
    flatten_minutes_before_close: float = Field(10.0, ge=0)
    position_weight: float = Field(0.1, gt=0, le=1)
    max_positions: PositiveInt = 5


class ScalpReversion:
    name: ClassVar[str] = "scalp_reversion"
    track: ClassVar[Track] = Track.SCALP
    params_model: ClassVar[type[StrategyParams]] = ScalpParams

    def __init__(self, params: ScalpParams) -> None:
        self.params = params
        self._rsi = IndicatorSpec("rsi", params.rsi_window)
        self._mean = IndicatorSpec("sma", params.bb_window)
        self._std = IndicatorSpec("stdev", params.bb_window)

    def indicators(self) -> list[IndicatorSpec]:
        return [self._rsi, self._mean, self._std]

    def evaluate(self, calc: CalcData) -> list[StrategyDecision]:
        p, raw = self.params, calc.raw
        close = raw.frame.close
        rsi = calc.ind(self._rsi.key)
        mean, std = calc.ind(self._mean.key), calc.ind(self._std.key)
        out: list[StrategyDecision] = []
        mine = {s: h for s, h in raw.account.holdings.items() if h.strategy == self.name}
        closing = raw.minutes_to_close <= p.flatten_minutes_before_close
        for symbol, h in mine.items():
            if symbol not in raw.universe:
                continue
            i = raw.universe.index(symbol)
            if not raw.frame.active[i]:
                continue
            reason, urgency = self._exit_reason(calc, i, h.qty, h.cost_basis, h.opened_at, closing)
            if reason:
                out.append(
                    StrategyDecision(
                        symbol, self.name, self.track, Signal.SELL, reason, h.qty, urgency=urgency
                    )
                )
        if closing or not raw.session_open:
            return out
        free = p.max_positions - len(mine)
        if free <= 0:
            return out
        ready = rsi.ready & std.ready & raw.frame.active & (raw.account.qty == 0)
        lower = mean.value - p.bb_k * std.value
        candidates = np.flatnonzero(ready & (rsi.value < p.rsi_oversold) & (close < lower))
        for i in candidates[np.argsort(rsi.value[candidates], kind="stable")][:free]:
            out.append(
                StrategyDecision(
                    raw.universe.symbols[i],
                    self.name,
                    self.track,
                    Signal.BUY,
                    f"RSI {rsi.value[i]:.1f} < {p.rsi_oversold:g} under lower band",
                    target_weight=p.position_weight,
                    confidence=float(min(1.0, (p.rsi_oversold - rsi.value[i]) / 30 + 0.5)),
                )
            )
        return out

    def _exit_reason(
        self,
        calc: CalcData,
        i: int,
        qty: int,
        cost: int,
        opened_at: datetime | None,
        closing: bool,
    ) -> tuple[str, Urgency]:
        p, raw = self.params, calc.raw
        change = change_pct(int(raw.frame.close[i]), qty, cost)
        if closing:
            return "flatten before the close", Urgency.FLATTEN
        if change >= pct(p.take_profit_pct):
            return f"take profit {float(change):+.2f}%", Urgency.NORMAL
        if change <= -pct(p.max_loss_pct):
            return f"stop loss {float(change):+.2f}%", Urgency.FORCED
        rsi = calc.ind(self._rsi.key)
        if rsi.ready[i] and rsi.value[i] >= p.rsi_exit:
            return f"RSI recovered to {rsi.value[i]:.1f}", Urgency.NORMAL
        if opened_at is not None:
            held = (raw.ts - opened_at).total_seconds() / 60.0
            if held >= p.max_hold_minutes:
                return f"time in trade {held:.0f} min", Urgency.FORCED
        return "", Urgency.NORMAL
