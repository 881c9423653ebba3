"""RSI reversion: buy when a symbol's RSI falls into oversold, sell when it turns overbought."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, PositiveInt, model_validator

from qts.strategy import (
    CalcData,
    IndicatorSpec,
    Signal,
    StrategyDecision,
    StrategyParams,
    Track,
)


class RsiParams(StrategyParams):
    window: PositiveInt = 14  # RSI over this many bars
    oversold: float = Field(30.0, gt=0, lt=100)  # buy when RSI falls below this
    overbought: float = Field(70.0, gt=0, lt=100)  # sell when RSI rises above this
    qty: PositiveInt = 1  # shares per entry

    @model_validator(mode="after")
    def _levels_in_order(self) -> RsiParams:
        if self.oversold >= self.overbought:
            raise ValueError(f"oversold ({self.oversold}) must be below overbought")
        return self


class RsiReversion:
    name: ClassVar[str] = "rsi_reversion"
    track: ClassVar[Track] = Track.SWING
    params_model: ClassVar[type[StrategyParams]] = RsiParams

    def __init__(self, params: RsiParams) -> None:
        self.params = params
        self.rsi = IndicatorSpec("rsi", params.window)

    def indicators(self) -> list[IndicatorSpec]:
        return [self.rsi]

    def evaluate(self, calc: CalcData) -> list[StrategyDecision]:
        p, raw = self.params, calc.raw
        rsi = calc.ind(self.rsi.key)
        decisions = []
        for i, symbol in enumerate(raw.universe.symbols):
            if not (raw.frame.active[i] and rsi.ready[i] and rsi.prev_ready[i]):
                continue  # no bar for this symbol now, or not enough history yet
            holding = raw.account.holdings.get(symbol)
            if holding is None and rsi.prev[i] >= p.oversold > rsi.value[i]:
                decisions.append(
                    StrategyDecision(
                        symbol,
                        self.name,
                        self.track,
                        Signal.BUY,
                        f"RSI {rsi.value[i]:.1f} fell below {p.oversold}",
                        recommended_qty=p.qty,
                    )
                )
            elif (
                holding is not None
                and holding.strategy == self.name
                and rsi.value[i] > p.overbought
            ):
                decisions.append(
                    StrategyDecision(
                        symbol,
                        self.name,
                        self.track,
                        Signal.SELL,
                        f"RSI {rsi.value[i]:.1f} rose above {p.overbought}",
                        recommended_qty=holding.qty,
                    )
                )
        return decisions
