"""Strategies by name. A new strategy registers here and is configured by its params model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from qts.core.errors import ConfigError
from qts.engines.strategy.base import Strategy, StrategyParams
from qts.engines.strategy.scalp_reversion import ScalpParams, ScalpReversion
from qts.engines.strategy.sma_cross import SmaCross, SmaCrossParams
from qts.engines.strategy.swing_breakout import SwingBreakout, SwingParams

_REGISTRY: dict[str, tuple[type[Any], type[StrategyParams]]] = {
    SmaCross.name: (SmaCross, SmaCrossParams),
    ScalpReversion.name: (ScalpReversion, ScalpParams),
    SwingBreakout.name: (SwingBreakout, SwingParams),
}


def available() -> list[str]:
    return sorted(_REGISTRY)


def params_model(name: str) -> type[StrategyParams]:
    if name not in _REGISTRY:
        raise ConfigError(
            "strategy", name, f"unknown strategy (available: {', '.join(available())})"
        )
    return _REGISTRY[name][1]


def create(name: str, params: Mapping[str, Any], source: str = "strategy") -> Strategy:
    """Build a strategy from raw parameters; every bad key is named in the error."""
    model = params_model(name)
    try:
        parsed = model.model_validate(dict(params))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or name}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(source, name, problems) from None
    cls = _REGISTRY[name][0]
    strategy: Strategy = cls(parsed)
    return strategy
