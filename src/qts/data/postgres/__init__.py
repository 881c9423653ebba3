"""PostgreSQL adapters: :class:`PostgresStore` (the trading state) and
:class:`PostgresMarketStore` (market data and execution analytics) over one
:class:`PostgresDatabase` schema, with TimescaleDB when the server has it."""

from qts.data.postgres.database import DEFAULT_SCHEMA, ENV_DSN, PostgresDatabase
from qts.data.postgres.market import DailyPnl, ExecutionMetrics, PostgresMarketStore
from qts.data.postgres.migration_files import Mode, latest_version
from qts.data.postgres.store import PostgresStore

__all__ = [
    "DEFAULT_SCHEMA",
    "ENV_DSN",
    "DailyPnl",
    "ExecutionMetrics",
    "Mode",
    "PostgresDatabase",
    "PostgresMarketStore",
    "PostgresStore",
    "latest_version",
]
