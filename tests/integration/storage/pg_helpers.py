"""PostgreSQL for the storage tests: the server, and schemas that start empty.

The tests need a running PostgreSQL (``$QTS_TEST_PG_DSN``, else ``$QTS_PG_DSN``, else the local
server CI starts). Nothing here skips: if the server is down, every PostgreSQL test fails with
the reason.

Creating a migrated schema costs 150-700 ms of DDL on this machine, and the contract suite opens
a new store location a few hundred times (the property test alone opens one per example), so
locations share a small set of schemas: a location gets a schema of its own on first open, and
a schema whose stores are all closed is emptied (every row deleted, the ledger head reset) and
handed to the next new location. A location whose schema was handed on can no longer be
reopened: that raises instead of answering from another location's data. Schemas are named
``qts_test_<pid>_<n>`` and dropped when the test process exits; those of dead processes are
dropped by the next run.

Both storage modes: every PostgreSQL test runs against :data:`TARGETS`, plain PostgreSQL always
and TimescaleDB too when ``$QTS_TEST_TSDB_DSN`` names a server that has it preloaded
(docs/runbooks/postgres.md says how to build one). TimescaleDB schemas of the tests have their
background jobs paused: the tests apply retention and refreshes with an explicit ``now``.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors, sql

from qts.data.postgres import PostgresDatabase, PostgresStore, latest_version
from qts.data.postgres import timescale as ts
from qts.data.postgres.market import PostgresMarketStore

PG_DSN = (
    os.environ.get("QTS_TEST_PG_DSN")
    or os.environ.get("QTS_PG_DSN")
    or "postgresql://postgres@127.0.0.1:5432/test"
)
TSDB_DSN = os.environ.get("QTS_TEST_TSDB_DSN") or None
_PREFIX = f"qts_test_{os.getpid()}_"
# Tables that describe the schema rather than hold a run's data.
_KEEP = {
    "schema_migrations",
    "partition_policies",
    "aggregate_watermarks",
    "aggregate_late_rows",
    "ledger_head",
}


@dataclass(frozen=True)
class Target:
    """A server the PostgreSQL tests run against, and the storage mode they ask of it."""

    mode: str  # "plain" or "timescale"
    dsn: str

    @property
    def timescale(self) -> bool:
        return self.mode == "timescale"


PLAIN = Target("plain", PG_DSN)
TARGETS = [PLAIN] + ([Target("timescale", TSDB_DSN)] if TSDB_DSN else [])


def admin(target: Target = PLAIN) -> psycopg.Connection[tuple[object, ...]]:
    """A plain autocommit connection to a test server; fails loudly if it is down."""
    try:
        return psycopg.connect(target.dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL for the {target.mode} tests is unreachable at {target.dsn} "
            f"(set QTS_TEST_PG_DSN / QTS_TEST_TSDB_DSN): {exc}"
        ) from exc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _Slot:
    """A schema, and one database (pool) that every store opened on it shares."""

    schema: str
    target: Target
    location: Path | None = None
    stores: list[PostgresStore | PostgresMarketStore] = field(default_factory=list)
    dirty: bool = False
    _db: PostgresDatabase | None = None

    def idle(self) -> bool:
        return all(store.closed for store in self.stores)

    @property
    def db(self) -> PostgresDatabase:
        if self._db is None:
            self._db = open_database(
                self.schema, self.target, migrate=True, durable=False, min_size=1, max_size=4
            )
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


class SchemaPool:
    """Schemas of this test process on one target; see the module docstring."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._counter = itertools.count(1)
        self._slots: list[_Slot] = []
        self._by_location: dict[Path, _Slot] = {}
        self._handed_on: set[Path] = set()
        self._swept = False
        self._scratch: set[str] = set()
        atexit.register(self.drop_all)

    def new_name(self) -> str:
        if not self._swept:
            self._sweep()
        return f"{_PREFIX}{next(self._counter)}"

    def _sweep(self) -> None:
        """Drop the schemas of test processes that are gone."""
        self._swept = True
        with admin(self.target) as conn:
            names = [
                str(r[0])
                for r in conn.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'qts\\_test\\_%'"
                )
            ]
            for name in names:
                pid = name.split("_")[2]
                if pid.isdigit() and not _pid_alive(int(pid)):
                    drop_schema(name, self.target)

    def _slot_for(self, location: Path) -> _Slot:
        slot = self._by_location.get(location)
        if slot is not None:
            return slot
        if location in self._handed_on:
            raise RuntimeError(
                f"test store location {location} was reopened after its schema was reused"
            )
        free = [s for s in self._slots if s.idle()]
        if free:
            slot = free[0]
            self._slots.remove(slot)  # least recently handed out first
            if slot.location is not None:
                self._by_location.pop(slot.location, None)
                self._handed_on.add(slot.location)
            if slot.dirty:
                empty_schema(slot.db)
            slot.stores = []
        else:
            slot = _Slot(self.new_name(), self.target)
        slot.location = location
        slot.dirty = True
        self._slots.append(slot)
        self._by_location[location] = slot
        return slot

    def open_store(self, location: Path) -> PostgresStore:
        slot = self._slot_for(location)
        store = PostgresStore(slot.db)
        slot.stores.append(store)
        return store

    def open_market(self, location: Path) -> PostgresMarketStore:
        slot = self._slot_for(location)
        store = PostgresMarketStore(slot.db)
        slot.stores.append(store)
        return store

    @contextlib.contextmanager
    def scratch(self) -> Iterator[str]:
        """A schema of the test's own (created by whoever migrates it), dropped afterwards."""
        name = self.new_name()
        self._scratch.add(name)
        try:
            yield name
        finally:
            drop_schema(name, self.target)
            self._scratch.discard(name)

    def drop_all(self) -> None:
        for slot in self._slots:
            with contextlib.suppress(Exception):
                slot.close()
        names = [s.schema for s in self._slots] + sorted(self._scratch)
        for name in names:
            with contextlib.suppress(Exception):
                drop_schema(name, self.target)


def empty_schema(db: PostgresDatabase) -> None:
    """Delete every row of a QTS schema (append-only triggers and foreign keys bypassed, as
    only a superuser may) and reset the ledger head and the aggregates' bookkeeping; in
    TimescaleDB mode the continuous aggregates are truncated too."""
    schema = db.schema
    timescale = db.version_and_mode()[1] == "timescale"
    with db.connection() as conn:
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
                (schema,),
            )
        ]
        statements = [sql.SQL("BEGIN"), sql.SQL("SET LOCAL session_replication_role = replica")]
        statements += [
            sql.SQL("DELETE FROM {}").format(sql.Identifier(schema, table))
            for table in sorted(set(tables) - _KEEP)
        ]
        statements.append(
            sql.SQL("UPDATE {} SET last_seq = 0").format(sql.Identifier(schema, "ledger_head"))
        )
        if timescale:
            statements.append(
                sql.SQL("UPDATE {} SET since = NULL, until = NULL").format(
                    sql.Identifier(schema, "aggregate_late_rows")
                )
            )
            statements += [
                sql.SQL("TRUNCATE {}").format(sql.Identifier(schema, view))
                for view in ("ohlcv_1m", "hourly_execution_metrics", "daily_pnl")
            ]
        else:
            statements += [
                sql.SQL("UPDATE {} SET watermark = NULL").format(
                    sql.Identifier(schema, "aggregate_watermarks")
                ),
                sql.SQL("REFRESH MATERIALIZED VIEW {}").format(sql.Identifier(schema, "daily_pnl")),
            ]
        statements.append(sql.SQL("COMMIT"))
        conn.execute(sql.SQL("; ").join(statements))


def drop_schema(schema: str, target: Target = PLAIN) -> None:
    """Drop a test schema; its TimescaleDB jobs are deleted first, and a deadlock with a job
    that was already running is retried."""
    with admin(target) as conn:
        for attempt in range(5):
            try:
                if target.timescale:
                    ts.delete_jobs(conn, schema)
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
                return
            except (errors.DeadlockDetected, errors.LockNotAvailable):
                if attempt == 4:
                    raise


def open_database(schema: str, target: Target = PLAIN, **kwargs: Any) -> PostgresDatabase:
    """A database on a test server in the target's mode (unless ``mode`` is given); a migrated
    TimescaleDB schema has its background jobs paused."""
    kwargs.setdefault("mode", target.mode)
    database = PostgresDatabase(target.dsn, schema=schema, **kwargs)
    if target.timescale and database.version_and_mode()[0] == latest_version():
        database.set_background_jobs(False)
    return database


POOLS = {target.mode: SchemaPool(target) for target in TARGETS}
SCHEMAS = POOLS["plain"]  # plain-mode tests of other areas (hybrid, e2e) use this one
