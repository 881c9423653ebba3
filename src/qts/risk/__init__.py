"""The micro risk loop (NG-2): a 100 ms watchdog over open positions, independent of ETEDA.

No I/O and no imports of the pipeline, execution or brokers: positions and prices come in
through :class:`ShadowBook`, the volatility index through :meth:`MicroRiskLoop.on_vol_index`,
and everything the loop decides goes out through an :class:`ActionSink`. Two ways to run it
(ADR 0006): :class:`MicroRiskLoop` on a thread, or :class:`MicroRiskProcess` in its own process
over a :class:`SharedShadowBook` — same inputs, same sink. Those two (and ``multiprocessing``
with them) are imported when first used: a backtest runs the loop in-line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qts.risk.actions import (
    ALL,
    ActionSink,
    ActionType,
    ExitGuard,
    ExitReason,
    MicroRiskAction,
    PendingExit,
    RiskCode,
    RiskWarning,
)
from qts.risk.config import MicroRiskConfig
from qts.risk.evaluate import Evaluation, evaluate_reference, evaluate_vectorised
from qts.risk.micro_loop import CycleReport, LoopStats, MicroRiskLoop, next_deadline
from qts.risk.shadow import LocalRows, PositionShadow, ShadowBook, ShadowSnapshot, ShadowSource

if TYPE_CHECKING:
    from qts.risk.process import MicroRiskProcess
    from qts.risk.shared import ShadowReader, SharedShadowBook

_LATER = {
    "MicroRiskProcess": "qts.risk.process",
    "ShadowReader": "qts.risk.shared",
    "SharedShadowBook": "qts.risk.shared",
}

__all__ = [
    "ALL",
    "ActionSink",
    "ActionType",
    "CycleReport",
    "Evaluation",
    "ExitGuard",
    "ExitReason",
    "LocalRows",
    "LoopStats",
    "MicroRiskAction",
    "MicroRiskConfig",
    "MicroRiskLoop",
    "MicroRiskProcess",
    "PendingExit",
    "PositionShadow",
    "RiskCode",
    "RiskWarning",
    "ShadowBook",
    "ShadowReader",
    "ShadowSnapshot",
    "ShadowSource",
    "SharedShadowBook",
    "evaluate_reference",
    "evaluate_vectorised",
    "next_deadline",
]


def __getattr__(name: str) -> Any:
    where = _LATER.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value
