"""Applying and undoing the shipped migrations on a schema, as ``schema_migrations`` records them.

Apart from the database because bringing a schema to a version is its own story: the advisory
lock that serialises migrating processes, the storage mode chosen once (TimescaleDB when the
extension can be created, else plain) and recorded with every migration, the checksums that
refuse an edited release, and the down scripts. :mod:`.migration_files` says what the
migrations are; this module applies them. The functions work on a :class:`PostgresDatabase`'s
own connection, outside the pool.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from qts.core.errors import StorageError
from qts.data.postgres import timescale
from qts.data.postgres.errors import reason
from qts.data.postgres.migration_files import Mode, latest_version, migrations

if TYPE_CHECKING:
    from qts.data.postgres.database import Connection, PostgresDatabase


def hash_key(text: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock (Python's hash() is salted)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def _lock_key(schema: str) -> int:
    """The advisory lock that serialises migrations of this schema across processes."""
    return hash_key(f"qts.migrate.{schema}")


@contextmanager
def _migration_lock(conn: Connection, schema: str) -> Iterator[None]:
    conn.execute("SELECT pg_advisory_lock(%s)", (_lock_key(schema),))
    try:
        yield
    finally:
        if not (conn.closed or conn.broken):
            conn.execute("SELECT pg_advisory_unlock(%s)", (_lock_key(schema),))


def applied(conn: Connection, schema: str) -> list[tuple[int, str, str, str]]:
    """(version, name, mode, checksum) of every applied migration; [] if none."""
    exists = conn.execute(
        "SELECT to_regclass(format('%%I.schema_migrations', %s::text)) IS NOT NULL",
        (schema,),
    ).fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute(
        "SELECT version, name, mode, checksum FROM schema_migrations ORDER BY version"
    ).fetchall()
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


def _choose_mode(
    db: PostgresDatabase, conn: Connection, done: list[tuple[int, str, str, str]]
) -> Mode:
    """The recorded mode if the schema has one (refusing another asked), else the mode asked,
    with ``auto`` creating the TimescaleDB extension when the server offers it."""
    requested = db._requested_mode
    if done:
        recorded = Mode(done[-1][2])
        if requested != "auto" and requested != recorded:
            raise StorageError(
                f"postgres {db.where}: the schema was created in {recorded} mode, "
                f"{requested} was asked; downgrade to 0 to change it"
            )
        return recorded
    installed, available = timescale.timescale_presence(conn)
    if requested == "plain":
        return Mode.PLAIN
    if installed:
        return Mode.TIMESCALE
    if not available:
        if requested == "timescale":
            raise StorageError(
                f"postgres {db.where}: timescale mode asked but the timescaledb extension "
                "is not available on this server"
            )
        return Mode.PLAIN
    # On a connection of its own: where TimescaleDB is installed but not preloaded this is
    # FATAL and closes the connection, which must not be the one migrating.
    try:
        timescale.create_extension(db._conninfo)
    except psycopg.Error as exc:
        if requested == "timescale":
            raise db.error("create extension timescaledb", exc) from exc
        db.timescale_note = reason(exc)
        return Mode.PLAIN
    db._find_extension(conn)
    return Mode.TIMESCALE


def _check_checksums(where: str, done: list[tuple[int, str, str, str]]) -> None:
    for version, name, mode, checksum in done:
        shipped = migrations(Mode(mode))
        if version <= len(shipped) and shipped[version - 1].checksum != checksum:
            raise StorageError(
                f"postgres {where}: applied migration {version:04d}_{name} differs "
                "from the shipped file (released migrations must not change)"
            )


def migrate(db: PostgresDatabase, conn: Connection, target: int | None) -> list[int]:
    """Apply the missing migrations up to ``target`` (the latest if None) on ``conn``."""
    latest = latest_version()
    target = latest if target is None else target
    if not 0 <= target <= latest:
        raise StorageError(f"postgres {db.where}: no migration {target} (latest {latest})")
    with db.guard("migrate"):
        done = applied(conn, db.schema)
    if done and done[-1][0] == target and db._requested_mode in ("auto", done[-1][2]):
        _check_checksums(db.where, done)
        return []  # the common case: nothing to do, no lock, no DDL
    with db.guard("migrate"), _migration_lock(conn, db.schema):
        schema = sql.Identifier(db.schema)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY,"
            " name text NOT NULL,"
            " mode text NOT NULL CHECK (mode IN ('plain', 'timescale')),"
            " checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = applied(conn, db.schema)
        current = done[-1][0] if done else 0
        if current > latest:
            raise StorageError(
                f"postgres {db.where}: schema version {current} is newer than this QTS "
                f"supports ({latest}); upgrade QTS"
            )
        mode = _choose_mode(db, conn, done)
        shipped = migrations(mode)
        _check_checksums(db.where, done)
        versions: list[int] = []
        for migration in shipped[current:target]:
            what = f"migration {migration.version:04d}_{migration.name} ({mode})"
            try:
                conn.execute("BEGIN")
                conn.execute(migration.up)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, mode, checksum) "
                    "VALUES (%s, %s, %s, %s)",
                    (migration.version, migration.name, str(mode), migration.checksum),
                )
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                db._quiet_rollback(conn)
                raise db.error(what, exc) from exc
            versions.append(migration.version)
        return versions


def downgrade(db: PostgresDatabase, conn: Connection, to_version: int) -> list[int]:
    """Run the down scripts above ``to_version`` on ``conn``, newest first; the versions undone."""
    with db.guard("downgrade"), _migration_lock(conn, db.schema):
        done = applied(conn, db.schema)
        current = done[-1][0] if done else 0
        if not 0 <= to_version <= current:
            raise StorageError(
                f"postgres {db.where}: cannot downgrade to {to_version}: the schema is "
                f"at version {current}"
            )
        if current > latest_version():
            raise StorageError(
                f"postgres {db.where}: schema version {current} is newer than this QTS "
                "knows how to undo; downgrade with the QTS release that applied it"
            )
        undone: list[int] = []
        for version, name, mode, _ in reversed(done):
            if version <= to_version:
                break
            migration = migrations(Mode(mode))[version - 1]
            try:
                conn.execute("BEGIN")
                conn.execute(migration.down)
                conn.execute("DELETE FROM schema_migrations WHERE version = %s", (version,))
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                db._quiet_rollback(conn)
                raise db.error(f"downgrade {version:04d}_{name} ({mode})", exc) from exc
            undone.append(version)
        return undone
