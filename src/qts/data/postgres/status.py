"""What ``qts db status`` reports about a schema: the server, the storage mode, the version, the
partitions (or chunks) of each time series and how far the aggregates are materialized.

Apart from the database because it only reads: catalog queries an operator asks first, none of
which the trading path ever runs. The pool's own state is the database's to tell.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg import sql

from qts.data.postgres import timescale
from qts.data.postgres.migration_files import Mode, latest_version
from qts.data.postgres.schema_migrations import applied

if TYPE_CHECKING:
    from qts.data.postgres.database import Connection


def schema_status(
    conn: Connection, schema: str, *, advise_timescale: bool, timescale_note: str
) -> dict[str, Any]:
    """Which server, which mode, which version, how many partitions (or chunks) each time
    series has, how far the aggregates are materialized and who holds the books. With
    ``advise_timescale`` (TimescaleDB was not refused), why the schema is plain if it is;
    ``timescale_note``: what CREATE EXTENSION said when it was tried."""
    out: dict[str, Any] = {}
    out["server_version"] = _server_version(conn.info.server_version)
    installed, available = timescale.timescale_presence(conn)
    out["timescaledb"] = {"available": available, "installed": installed}
    done = applied(conn, schema)
    version = done[-1][0] if done else 0
    mode = Mode(done[-1][2]) if done else None
    out["mode"] = str(mode) if mode else None
    out["schema_version"] = version
    out["latest_version"] = latest_version()
    out["pending_migrations"] = max(latest_version() - version, 0)
    if advise_timescale:
        note = timescale.advice(conn, out["mode"], installed, available, timescale_note)
        if note:
            out["note"] = note
    if mode is Mode.PLAIN and version >= 1:
        out["partitions"] = _plain_partitions(conn)
        out["default_partition_rows"] = _default_rows(conn)
    elif mode is Mode.TIMESCALE:
        out["partitions"] = timescale.chunks(conn, schema)
    if version >= 6:
        marks: dict[str, datetime | None] = (
            dict(conn.execute("SELECT name, watermark FROM aggregate_watermarks"))
            if mode is Mode.PLAIN
            else timescale.watermarks(conn)
        )
        out["aggregate_watermarks"] = {
            name: None if wm is None else wm.isoformat() for name, wm in sorted(marks.items())
        }
    if version >= 8:
        from qts.data.postgres.writer_lock import live_holder

        holder = live_holder(conn, schema)
        out["writer"] = holder.describe() if holder else "none (no run holds the books)"
    return out


def _server_version(number: int) -> str:
    return f"{number // 10000}.{number % 10000}"


def _plain_partitions(conn: Connection) -> dict[str, int]:
    """Ranged partitions per partitioned table (the default partition not counted)."""
    rows = conn.execute(
        "SELECT p.parent, count(c.oid) FILTER (WHERE pg_get_expr(c.relpartbound, c.oid) "
        "<> 'DEFAULT') FROM partition_policies p "
        "LEFT JOIN pg_inherits i ON i.inhparent = to_regclass(p.parent) "
        "LEFT JOIN pg_class c ON c.oid = i.inhrelid GROUP BY p.parent ORDER BY p.parent"
    ).fetchall()
    return {str(parent): int(count) for parent, count in rows}


def _default_rows(conn: Connection) -> dict[str, int]:
    """Rows that fell outside every ranged partition (maintenance moves them when it can)."""
    parents = [r[0] for r in conn.execute("SELECT parent FROM partition_policies ORDER BY 1")]
    out: dict[str, int] = {}
    for parent in parents:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(f"{parent}_default"))
        row = conn.execute(query).fetchone()
        out[f"{parent}_default"] = int(row[0]) if row else 0
    return out
