"""SMA crossover, defined exactly so that it can be checked by hand.

fast = SMA(close, fast), slow = SMA(close, slow). On the close of bar t: if fast crosses above slow
(fast[t] > slow[t] and fast[t-1] <= slow[t-1]) and nothing is held, buy ``qty`` shares; if fast
crosses below slow (fast[t] < slow[t] and fast[t-1] >= slow[t-1]) and it holds a position, sell
it all (a position another strategy opened is left to that strategy). The comparison uses the
exact integer sums: fast > slow ⟺ Σfast · slow_n > Σslow · fast_n.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import PositiveInt, model_validator

from qts.engines.contracts import CalcData, StrategyDecision
from qts.engines.indicators import IndicatorSpec
from qts.engines.strategy.base import StrategyParams
from qts.model.enums import Signal, Track


class SmaCrossParams(StrategyParams):
    fast: PositiveInt = 10
    slow: PositiveInt = 30
    qty: PositiveInt = 1

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SmaCrossParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self


class SmaCross:
    name: ClassVar[str] = "sma_cross"
    track: ClassVar[Track] = Track.SWING
    params_model: ClassVar[type[StrategyParams]] = SmaCrossParams

    def __init__(self, params: SmaCrossParams) -> None:
        self.params = params
        self._fast = IndicatorSpec("sma", params.fast)
        self._slow = IndicatorSpec("sma", params.slow)

    def indicators(self) -> list[IndicatorSpec]:
        return [self._fast, self._slow]

    def evaluate(self, calc: CalcData) -> list[StrategyDecision]:
        f, s = calc.ind(self._fast.key), calc.ind(self._slow.key)
        assert f.sum is not None and f.prev_sum is not None
        assert s.sum is not None and s.prev_sum is not None
        nf, ns = self.params.fast, self.params.slow
        now = f.sum * ns - s.sum * nf  # sign of fast - slow, exact
        before = f.prev_sum * ns - s.prev_sum * nf
        ok = s.ready & s.prev_ready & calc.raw.frame.active
        up = ok & (now > 0) & (before <= 0)
        down = ok & (now < 0) & (before >= 0)
        raw = calc.raw
        held = raw.account.qty > 0
        own = np.zeros(len(held), dtype=np.bool_)
        name, at = self.name, raw.universe.index
        own[[at(s) for s, h in raw.account.holdings.items() if h.strategy == name]] = True
        symbols = raw.universe.symbols
        out = [
            StrategyDecision(
                symbols[i],
                self.name,
                self.track,
                Signal.BUY,
                "fast SMA crossed above slow",
                recommended_qty=self.params.qty,
            )
            for i in np.flatnonzero(up & ~held)
        ]
        out += [
            StrategyDecision(
                symbols[i],
                self.name,
                self.track,
                Signal.SELL,
                "fast SMA crossed below slow",
                recommended_qty=int(calc.raw.account.qty[i]),
            )
            for i in np.flatnonzero(down & own)
        ]
        return out
