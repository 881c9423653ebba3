"""The simulated KRX exchange: matching engine, venue account, broker adapter, crash journal.

Assumptions are listed in docs/simulator.md. ``SimJournal`` (SQLite) is imported when first used:
a backtest's broker lives in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qts.brokers.sim.account import SimAccount
from qts.brokers.sim.broker import SimBroker
from qts.brokers.sim.config import MarketBuyHold, RejectCode, SimConfig
from qts.brokers.sim.exchange import SimExchange
from qts.brokers.sim.records import SimOrder

if TYPE_CHECKING:
    from qts.brokers.sim.journal import SimJournal

__all__ = [
    "MarketBuyHold",
    "RejectCode",
    "SimAccount",
    "SimBroker",
    "SimConfig",
    "SimExchange",
    "SimJournal",
    "SimOrder",
]


def __getattr__(name: str) -> Any:
    if name != "SimJournal":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from qts.brokers.sim.journal import SimJournal

    globals()[name] = SimJournal
    return SimJournal
