"""What the scheduler runs periodically on a schema, as of a ``now`` it is given: partitions
created ahead and expired ones dropped (plain) or expired chunks dropped (TimescaleDB), and the
aggregates refreshed.

Apart from the database because it is the storage modes' housekeeping, not the connections':
it runs through the database's public calls only, and never reads the wall clock, so a
backtest's or a test's clock decides what expires.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from qts.core.time import require_aware
from qts.data.postgres import timescale
from qts.data.postgres.migration_files import Mode

if TYPE_CHECKING:
    from qts.data.postgres.database import PostgresDatabase

# TimescaleDB mode: the retention and refresh policies of the migrations, so that
# run_maintenance(now) can apply them for an explicit `now` (the extension's own jobs apply them
# in the background anyway). A test checks these against the migration files.
TIMESCALE_RETENTION: dict[str, timedelta] = {
    "decision_log": timedelta(days=365),
    "tick_data": timedelta(days=7),
    "execution_logs": timedelta(days=90),
    "feedback_data": timedelta(days=180),
    "ohlcv_1m": timedelta(days=30),
    "hourly_execution_metrics": timedelta(days=180),
}
TIMESCALE_REFRESH: dict[str, tuple[timedelta, timedelta]] = {
    "ohlcv_1m": (timedelta(hours=1), timedelta(minutes=1)),
    "hourly_execution_metrics": (timedelta(days=3), timedelta(hours=1)),
    "daily_pnl": (timedelta(days=7), timedelta(days=1)),
}


def run_maintenance(db: PostgresDatabase, now: datetime) -> dict[str, Any]:
    """Partitions or chunks as of ``now``, then :meth:`PostgresDatabase.refresh_aggregates`."""
    with db.guard("run_maintenance"):
        require_aware(now, "now")
    mode = db.require_current()
    created: list[str] = []
    dropped: list[str] = []
    deleted: dict[str, int] = {}
    with db.connection() as conn, db.guard("run_maintenance"):
        if mode is Mode.PLAIN:
            rows = conn.execute(
                "SELECT action, parent_table, partition_name, row_count "
                "FROM qts_run_partition_maintenance(%s)",
                (now,),
            ).fetchall()
            for action, _parent, name, count in rows:
                if action == "created":
                    created.append(name)
                elif action == "dropped":
                    dropped.append(name)
                else:
                    deleted[name] = int(count)
        else:
            for relation, keep in TIMESCALE_RETENTION.items():
                for (chunk,) in conn.execute(
                    "SELECT drop_chunks(%s::regclass, older_than => %s)",
                    (relation, now - keep),
                ).fetchall():
                    dropped.append(str(chunk))
    return {
        "mode": str(mode),
        "created": created,
        "dropped": dropped,
        "deleted": deleted,
        "refreshed": db.refresh_aggregates(now),
    }


def refresh_aggregates(db: PostgresDatabase, now: datetime, full: bool) -> list[dict[str, Any]]:
    """The aggregates' refresh windows as of ``now`` (everything the raw rows hold, ``full``)."""
    with db.guard("refresh_aggregates"):
        require_aware(now, "now")
    mode = db.require_current()
    out: list[dict[str, Any]] = []
    with db.connection() as conn, db.guard("refresh_aggregates"):
        if mode is Mode.PLAIN:
            for name, start, end, count in conn.execute(
                "SELECT aggregate, window_start, window_end, row_count "
                "FROM qts_refresh_aggregates(%s, %s)",
                (now, full),
            ).fetchall():
                out.append({"aggregate": name, "start": start, "end": end, "rows": count})
        else:
            # A procedure that commits by itself: never inside a transaction block.
            if db.in_transaction:
                raise db.error("refresh_aggregates", "not inside a transaction")
            out = timescale.refresh(conn, TIMESCALE_REFRESH, now, full)
    return out


def set_background_jobs(db: PostgresDatabase, enabled: bool) -> int:
    """Pause (or resume) this schema's TimescaleDB policy jobs; 0 in plain mode."""
    if db.require_current() is not Mode.TIMESCALE:
        return 0
    with db.connection() as conn, db.guard("background jobs"):
        return timescale.set_jobs_scheduled(conn, db.schema, enabled)
