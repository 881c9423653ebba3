"""The four micro-loop rules, in their fixed order: volatility → MAE → time in trade → trailing.

Each is a pure function ``(shadow, now, config[, level]) -> RuleResult``.
"""

from qts.risk.rules.base import LocalUpdate, RuleResult
from qts.risk.rules.mae import MAEConfig, evaluate_mae
from qts.risk.rules.time_in_trade import TimeInTradeConfig, evaluate_time_in_trade
from qts.risk.rules.trailing import TrailingStopConfig, evaluate_trailing, stop_price
from qts.risk.rules.volatility import (
    VolatilityConfig,
    VolatilityMonitor,
    VolLevel,
    evaluate_volatility,
    volatility_level,
)

__all__ = [
    "LocalUpdate",
    "MAEConfig",
    "RuleResult",
    "TimeInTradeConfig",
    "TrailingStopConfig",
    "VolLevel",
    "VolatilityConfig",
    "VolatilityMonitor",
    "evaluate_mae",
    "evaluate_time_in_trade",
    "evaluate_trailing",
    "evaluate_volatility",
    "stop_price",
    "volatility_level",
]
