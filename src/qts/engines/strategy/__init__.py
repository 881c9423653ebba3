"""Strategies and their registry."""

from qts.engines.strategy.base import Strategy, StrategyParams
from qts.engines.strategy.registry import available, create

__all__ = ["Strategy", "StrategyParams", "available", "create"]
