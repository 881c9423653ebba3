"""The public interface for writing a strategy (docs/strategies.md): import from here only.

A strategy is a class with ``name``, ``track``, optionally ``params_model`` (a
:class:`StrategyParams` subclass; ``--param k=v`` values are validated against it), a constructor
taking the validated parameters, ``indicators()`` and ``evaluate(calc)``. ``qts backtest``,
``qts run`` and ``qts optimize`` load one with ``--strategy path/to/file.py:ClassName`` or, from an
installed package, by the name it registers in the ``qts.strategies`` entry point group.
Everything else under ``qts`` is internal and may change without notice.
"""

from qts.engines.contracts import AccountSnapshot, CalcData, HoldingView, RawData, StrategyDecision
from qts.engines.indicators import IndicatorSpec, IndicatorValues
from qts.engines.strategy.base import Strategy, StrategyParams
from qts.engines.strategy.loading import ENTRY_POINT_GROUP
from qts.model.enums import Signal, Track
from qts.model.frame import BarFrame, Universe

__all__ = [
    "ENTRY_POINT_GROUP",
    "AccountSnapshot",
    "BarFrame",
    "CalcData",
    "HoldingView",
    "IndicatorSpec",
    "IndicatorValues",
    "RawData",
    "Signal",
    "Strategy",
    "StrategyDecision",
    "StrategyParams",
    "Track",
    "Universe",
]
