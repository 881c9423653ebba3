"""Stage 5 — AdaptiveAdjust (spec §2.6): move an unfilled limit toward the market.

BUY ``min(p × (1 + step), best ask)``, SELL ``max(p × (1 − step), best bid)``; the improved
price goes onto the KRX grid toward the market (so a step smaller than a tick still moves one
tick) and never beyond the opposite best, nor beyond ``max_slippage`` from the decision price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from qts.market.krx.tick_size import TickTable, tick_table
from qts.model.enums import OrderSide


@dataclass(frozen=True, slots=True)
class SlippageConfig:
    max_slippage_pct: float = 0.005
    price_improve_step_pct: float = 0.001
    max_adjustment_rounds: int = 3
    adjust_interval: timedelta = timedelta(seconds=1)


def improved_price(
    side: OrderSide,
    price: int,
    decision_price: int,
    opposite_best: int | None,
    config: SlippageConfig,
    grid: TickTable | bool = False,
) -> int:
    """The next limit price; equal to ``price`` when no improvement is allowed."""
    step = config.price_improve_step_pct
    g = grid if isinstance(grid, TickTable) else tick_table(None, etf=grid)
    if side is OrderSide.BUY:
        new = g.round_up(max(1, math.ceil(price * (1.0 + step) - 1e-9)))
        cap = g.round_down(max(1, math.floor(decision_price * (1.0 + config.max_slippage_pct))))
        if opposite_best is not None:
            cap = min(cap, opposite_best)
        return max(price, min(new, cap))
    new = g.round_down(max(1, math.floor(price * (1.0 - step) + 1e-9)))
    floor = g.round_up(max(1, math.ceil(decision_price * (1.0 - config.max_slippage_pct))))
    if opposite_best is not None:
        floor = max(floor, opposite_best)
    return min(price, max(new, floor))
