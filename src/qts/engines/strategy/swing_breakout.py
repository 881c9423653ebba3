"""Swing: ride a breakout in an up-trend for days (Config_Swing parameters).

Entry: the close breaks above the highest high of the previous ``breakout_window`` bars while the
fast SMA is above the slow one. Exit: the close falls below the lowest low of the previous
``exit_window`` bars, below a trailing ATR stop from the highest price since entry, or below the
hard stop-loss.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from qts.engines.contracts import CalcData, StrategyDecision
from qts.engines.indicators import IndicatorSpec
from qts.engines.strategy.base import StrategyParams, change_pct, pct
from qts.model.enums import Signal, Track


class SwingParams(StrategyParams):
    breakout_window: PositiveInt = 20
    exit_window: PositiveInt = 10
    trend_fast: PositiveInt = 20
    trend_slow: PositiveInt = 60
    atr_window: PositiveInt = 14
    atr_stop_mult: float = Field(3.0, gt=0)
    stop_loss_pct: float = Field(7.0, gt=0)
    position_weight: float = Field(0.15, gt=0, le=1)
    max_positions: PositiveInt = 4

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SwingParams:
        if self.trend_fast >= self.trend_slow:
            raise ValueError(
                f"trend_fast ({self.trend_fast}) must be shorter than "
                f"trend_slow ({self.trend_slow})"
            )
        return self


class SwingBreakout:
    name: ClassVar[str] = "swing_breakout"
    track: ClassVar[Track] = Track.SWING
    params_model: ClassVar[type[StrategyParams]] = SwingParams

    def __init__(self, params: SwingParams) -> None:
        self.params = params
        self._high = IndicatorSpec("highest", params.breakout_window)
        self._low = IndicatorSpec("lowest", params.exit_window)
        self._fast = IndicatorSpec("sma", params.trend_fast)
        self._slow = IndicatorSpec("sma", params.trend_slow)
        self._atr = IndicatorSpec("atr", params.atr_window)

    def indicators(self) -> list[IndicatorSpec]:
        return [self._high, self._low, self._fast, self._slow, self._atr]

    def evaluate(self, calc: CalcData) -> list[StrategyDecision]:
        p, raw = self.params, calc.raw
        close = raw.frame.close
        high, low = calc.ind(self._high.key), calc.ind(self._low.key)
        fast, slow, atr = (
            calc.ind(self._fast.key),
            calc.ind(self._slow.key),
            calc.ind(self._atr.key),
        )
        out: list[StrategyDecision] = []
        mine = {s: h for s, h in raw.account.holdings.items() if h.strategy == self.name}
        for symbol, h in mine.items():
            if symbol not in raw.universe:
                continue
            i = raw.universe.index(symbol)
            if not raw.frame.active[i]:
                continue
            reason = ""
            if change_pct(int(close[i]), h.qty, h.cost_basis) <= -pct(p.stop_loss_pct):
                reason = f"stop loss at {close[i]:,}"
            elif low.prev_ready[i] and close[i] < low.prev[i]:
                reason = f"close under the {p.exit_window}-bar low"
            elif (
                atr.ready[i]
                and close[i] < raw.account.high_since_open[i] - p.atr_stop_mult * atr.value[i]
            ):
                reason = "trailing ATR stop"
            if reason:
                out.append(
                    StrategyDecision(symbol, self.name, self.track, Signal.SELL, reason, h.qty)
                )
        free = p.max_positions - len(mine)
        if free <= 0 or not raw.session_open:
            return out
        ready = (
            high.prev_ready & fast.ready & slow.ready & raw.frame.active & (raw.account.qty == 0)
        )
        breakout = ready & (close > high.prev) & (fast.value > slow.value)
        candidates = np.flatnonzero(breakout)
        strength = (close[candidates] - high.prev[candidates]) / np.maximum(
            atr.value[candidates], 1
        )
        for i in candidates[np.argsort(-strength, kind="stable")][:free]:
            out.append(
                StrategyDecision(
                    raw.universe.symbols[i],
                    self.name,
                    self.track,
                    Signal.BUY,
                    f"breakout above the {p.breakout_window}-bar high in an up-trend",
                    target_weight=p.position_weight,
                )
            )
        return out
