"""What only TimescaleDB mode needs: whether the server offers the extension, creating it where it
belongs, saying why it was not used, and the status, refresh and background jobs of the
continuous aggregates.

The extension is database-wide: it is created in schema ``public`` (never in a QTS schema,
whose ``DROP SCHEMA ... CASCADE`` would drop it for every schema of the database), on a
connection of its own, because on a server that has TimescaleDB installed but not preloaded
``CREATE EXTENSION`` is FATAL and closes the connection it ran on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

Connection = psycopg.Connection[tuple[Any, ...]]

EXTENSION_SCHEMA = "public"
RUNBOOK = "docs/runbooks/postgres.md"

# The aggregates whose sources take rows below the watermark, and the source's time column.
LATE_SOURCES: dict[str, tuple[str, str]] = {
    "ohlcv_1m": ("tick_data", "minute"),
    "hourly_execution_metrics": ("execution_logs", "hour"),
}


def create_extension(conninfo: str) -> None:
    """``CREATE EXTENSION timescaledb`` in :data:`EXTENSION_SCHEMA`, on a fresh connection
    that is closed afterwards whatever happens (raises the driver's error)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE EXTENSION IF NOT EXISTS timescaledb SCHEMA {EXTENSION_SCHEMA}")


def extension_schema(conn: Connection) -> str | None:
    """The schema the extension lives in, or None when it is not created in this database."""
    row = conn.execute(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()
    return None if row is None else str(row[0])


def timescale_presence(conn: Connection) -> tuple[str | None, bool]:
    """(installed extension version or None, whether the server offers the extension)."""
    row = conn.execute(
        "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'), "
        "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
    ).fetchone()
    assert row is not None
    return row[0], bool(row[1])


def preloaded(conn: Connection) -> bool:
    row = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    libraries = str(row[0]) if row else ""
    return "timescaledb" in [part.strip().strip('"') for part in libraries.split(",")]


def advice(
    conn: Connection, mode: str | None, installed: str | None, available: bool, failure: str
) -> str:
    """Why a schema is (or would be) in plain mode although TimescaleDB was wanted, and what
    to do about it; "" in TimescaleDB mode. ``failure``: what CREATE EXTENSION said, if tried."""
    if mode == "timescale":
        return ""
    tried = f" (CREATE EXTENSION said: {failure})" if failure else ""
    keep = (
        "; this schema stays plain: to switch, `qts db downgrade 0` (its data is lost) "
        "then `qts db migrate`"
        if mode == "plain"
        else ""
    )
    if not available:
        return (
            "plain PostgreSQL mode: the timescaledb extension is not installed on this server "
            f"(install TimescaleDB >= 2.13 and preload it, see {RUNBOOK}){keep}"
        )
    if installed:
        return f"plain PostgreSQL mode: TimescaleDB {installed} is in the database{keep}"
    if not preloaded(conn):
        return (
            "plain PostgreSQL mode: TimescaleDB is installed on the server but not preloaded, "
            "so CREATE EXTENSION fails"
            f"{tried}: add shared_preload_libraries = 'timescaledb' to postgresql.conf, restart "
            f"the server, then migrate a new schema ({RUNBOOK}){keep}"
        )
    return (
        "plain PostgreSQL mode: TimescaleDB is preloaded but the extension is not created in "
        f"this database{tried}: a superuser runs CREATE EXTENSION timescaledb SCHEMA "
        f"{EXTENSION_SCHEMA} ({RUNBOOK}){keep}"
    )


def chunks(conn: Connection, schema: str) -> dict[str, int]:
    """Chunks per hypertable of the schema (continuous aggregates under their view's name)."""
    rows = conn.execute(
        "SELECT coalesce(c.user_view_name, h.table_name), count(k.id) "
        "FROM _timescaledb_catalog.hypertable h "
        "LEFT JOIN _timescaledb_catalog.continuous_agg c ON c.mat_hypertable_id = h.id "
        "LEFT JOIN _timescaledb_catalog.chunk k ON k.hypertable_id = h.id AND NOT k.dropped "
        "WHERE h.schema_name = %s OR c.user_view_schema = %s GROUP BY 1 ORDER BY 1",
        (schema, schema),
    ).fetchall()
    return {str(name): int(count) for name, count in rows}


def watermarks(conn: Connection) -> dict[str, datetime | None]:
    """Per aggregate with late rows: the time below which its buckets are read materialized
    (the extension's watermark, lowered to the earliest late row not yet refreshed)."""
    rows = conn.execute(
        "SELECT name, CASE WHEN since IS NULL THEN qts_cagg_watermark(name) "
        "ELSE least(since, qts_cagg_watermark(name)) END "
        "FROM aggregate_late_rows ORDER BY name"
    ).fetchall()
    return {str(name): wm for name, wm in rows}


def note_late_rows(conn: Connection, view: str, first: datetime, last: datetime) -> None:
    """After writing rows from ``first`` to ``last`` to the source of ``view``: if they are
    below its watermark, read them live until a refresh covers them (same transaction)."""
    unit = LATE_SOURCES[view][1]
    conn.execute(
        f"SELECT qts_note_late_rows(%s, date_trunc('{unit}', %s::timestamptz, 'UTC'), "
        f"date_trunc('{unit}', %s::timestamptz, 'UTC') + INTERVAL '1 {unit}')",
        (view, first, last),
    )


def refresh(
    conn: Connection,
    offsets: dict[str, tuple[timedelta, timedelta]],
    now: datetime,
    full: bool,
) -> list[dict[str, Any]]:
    """Refresh each continuous aggregate over its policy window as of ``now``, widened to the
    late rows noted since the last refresh (``full``: everything the raw rows still hold), and
    clear the notes it covered. Runs outside any transaction (the procedure commits)."""
    out: list[dict[str, Any]] = []
    for name, (start_offset, end_offset) in offsets.items():
        start: datetime | None = now - start_offset
        end = now - end_offset
        late = None
        if name in LATE_SOURCES:
            source, unit = LATE_SOURCES[name]
            late = conn.execute(
                "SELECT since, until, version FROM aggregate_late_rows WHERE name = %s", (name,)
            ).fetchone()
            if full:
                # Buckets whose raw rows have expired are kept as they are.
                row = conn.execute(
                    f"SELECT date_trunc('{unit}', min(time), 'UTC') FROM {source}"
                ).fetchone()
                start = row[0] if row and row[0] is not None else None
                if start is None:
                    continue
            else:
                # Catching up (as plain mode does): from the watermark if the window starts
                # after it, from the oldest raw row if nothing is materialized yet; and down to
                # the late rows noted since the last refresh.
                row = conn.execute(
                    f"SELECT coalesce(qts_cagg_watermark(%s), "
                    f"(SELECT date_trunc('{unit}', min(time), 'UTC') FROM {source}))",
                    (name,),
                ).fetchone()
                if row and row[0] is not None and start is not None:
                    start = min(start, row[0])
                if late is not None and late[0] is not None:
                    start = min(start, late[0]) if start else late[0]
                    end = max(end, late[1])
                if start is not None and start >= end:
                    start = end - start_offset
        elif full:
            start = None
        conn.execute(
            "CALL refresh_continuous_aggregate(%s::regclass, %s::timestamptz, %s::timestamptz)",
            (name, start, end),
        )
        if late is not None and late[0] is not None and (start is None or start <= late[0]):
            conn.execute(
                "UPDATE aggregate_late_rows SET since = NULL, until = NULL "
                "WHERE name = %s AND version = %s AND until <= %s",
                (name, late[2], end),
            )
        out.append({"aggregate": name, "start": start, "end": end, "rows": None})
    return out


_SCHEMA_JOBS = (
    "SELECT j.id FROM _timescaledb_config.bgw_job j "
    "JOIN _timescaledb_catalog.hypertable h ON h.id = j.hypertable_id "
    "LEFT JOIN _timescaledb_catalog.continuous_agg c ON c.mat_hypertable_id = h.id "
    "WHERE h.schema_name = %(schema)s OR c.user_view_schema = %(schema)s"
)


def set_jobs_scheduled(conn: Connection, schema: str, scheduled: bool) -> int:
    """Pause or resume the extension's background jobs (policies) of one schema; returns how
    many. Paused, only :meth:`PostgresDatabase.run_maintenance` applies the policies, with the
    ``now`` it is given (a backtest's or a test's clock rather than the wall clock)."""
    rows = conn.execute(
        "SELECT count(*) FROM (SELECT alter_job(id, scheduled => %(scheduled)s) "
        f"FROM ({_SCHEMA_JOBS}) AS jobs) AS altered",
        {"schema": schema, "scheduled": scheduled},
    ).fetchone()
    return int(rows[0]) if rows else 0


def delete_jobs(conn: Connection, schema: str) -> int:
    """Delete the background jobs of one schema, so that dropping it cannot deadlock with a
    job that runs meanwhile."""
    rows = conn.execute(
        f"SELECT count(*) FROM (SELECT delete_job(id) FROM ({_SCHEMA_JOBS}) AS jobs) AS gone",
        {"schema": schema},
    ).fetchone()
    return int(rows[0]) if rows else 0
