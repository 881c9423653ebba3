"""Storage: the ports the core writes through, the embedded SQLite adapter, the in-memory store."""

from qts.data.memory import MemoryStore
from qts.data.ports import AccountState, DecisionRecord, EquityPoint, RunMeta, TradingStore
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
