"""Storage: the ports the core writes through, and the embedded SQLite adapter."""

from qts.data.ports import AccountState, DecisionRecord, EquityPoint, RunMeta, TradingStore
from qts.data.sqlite import SqliteStore

__all__ = [
    "AccountState",
    "DecisionRecord",
    "EquityPoint",
    "RunMeta",
    "SqliteStore",
    "TradingStore",
]
