"""Hybrid storage for the Sheets → PostgreSQL migration (CD-001): dual-write through a durable
outbox, reads with fallback, a consistency checker with the cut-over streak, and migration."""

from qts.data.hybrid.alerts import HybridAlert
from qts.data.hybrid.checker import (
    CheckReport,
    ConsistencyChecker,
    Difference,
    compare_stores,
)
from qts.data.hybrid.migrate import (
    MigrationConflict,
    MigrationProgress,
    MigrationReport,
    migrate,
)
from qts.data.hybrid.modes import DB, SHEETS, DataSourceMode
from qts.data.hybrid.outbox import MARKER_KEY, Outbox, OutboxEntry
from qts.data.hybrid.replay import RetryWorker, replay_pending
from qts.data.hybrid.store import HybridStore

__all__ = [
    "DB",
    "MARKER_KEY",
    "SHEETS",
    "CheckReport",
    "ConsistencyChecker",
    "DataSourceMode",
    "Difference",
    "HybridAlert",
    "HybridStore",
    "MigrationConflict",
    "MigrationProgress",
    "MigrationReport",
    "Outbox",
    "OutboxEntry",
    "RetryWorker",
    "compare_stores",
    "migrate",
    "replay_pending",
]
