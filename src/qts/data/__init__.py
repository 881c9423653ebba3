"""Storage: the ports the core writes through, the embedded SQLite adapter, the in-memory store.

``SqliteStore`` is imported when first used: a backtest kept in memory never opens SQLite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qts.data.memory import MemoryStore
from qts.data.ports import AccountState, DecisionRecord, EquityPoint, RunMeta, TradingStore

if TYPE_CHECKING:
    from qts.data.sqlite import SqliteStore

__all__ = [
    "AccountState",
    "DecisionRecord",
    "EquityPoint",
    "MemoryStore",
    "RunMeta",
    "SqliteStore",
    "TradingStore",
]


def __getattr__(name: str) -> Any:
    if name != "SqliteStore":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from qts.data.sqlite import SqliteStore

    globals()[name] = SqliteStore
    return SqliteStore
