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
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from qts.data.postgres import PostgresDatabase, PostgresStore
from qts.data.postgres.market import PostgresMarketStore

PG_DSN = (
    os.environ.get("QTS_TEST_PG_DSN")
    or os.environ.get("QTS_PG_DSN")
    or "postgresql://postgres@127.0.0.1:5432/test"
)
_PREFIX = f"qts_test_{os.getpid()}_"
# Tables that describe the schema rather than hold a run's data.
_KEEP = {"schema_migrations", "partition_policies", "aggregate_watermarks", "ledger_head"}


def admin() -> psycopg.Connection[tuple[object, ...]]:
    """A plain autocommit connection to the test server; fails loudly if it is down."""
    try:
        return psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL for the tests is unreachable at {PG_DSN} (set QTS_TEST_PG_DSN): {exc}"
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
    location: Path | None = None
    stores: list[PostgresStore | PostgresMarketStore] = field(default_factory=list)
    dirty: bool = False
    _db: PostgresDatabase | None = None

    def idle(self) -> bool:
        return all(store.closed for store in self.stores)

    @property
    def db(self) -> PostgresDatabase:
        if self._db is None:
            self._db = PostgresDatabase(
                PG_DSN, schema=self.schema, migrate=True, durable=False, min_size=1, max_size=4
            )
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


class SchemaPool:
    """Schemas of this test process; see the module docstring."""

    def __init__(self) -> None:
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
        with admin() as conn:
            names = [
                str(r[0])
                for r in conn.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'qts\\_test\\_%'"
                )
            ]
            for name in names:
                pid = name.split("_")[2]
                if pid.isdigit() and not _pid_alive(int(pid)):
                    conn.execute(
                        sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
                    )

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
            slot = _Slot(self.new_name())
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
            drop_schema(name)
            self._scratch.discard(name)

    def drop_all(self) -> None:
        for slot in self._slots:
            with contextlib.suppress(Exception):
                slot.close()
        names = [s.schema for s in self._slots] + sorted(self._scratch)
        for name in names:
            with contextlib.suppress(Exception):
                drop_schema(name)


def empty_schema(db: PostgresDatabase) -> None:
    """Delete every row of a QTS schema (append-only triggers and foreign keys bypassed, as
    only a superuser may) and reset the ledger head and the aggregate watermarks."""
    schema = db.schema
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
        statements += [
            sql.SQL("UPDATE {} SET last_seq = 0").format(sql.Identifier(schema, "ledger_head")),
            sql.SQL("UPDATE {} SET watermark = NULL").format(
                sql.Identifier(schema, "aggregate_watermarks")
            ),
            sql.SQL("REFRESH MATERIALIZED VIEW {}").format(sql.Identifier(schema, "daily_pnl")),
            sql.SQL("COMMIT"),
        ]
        conn.execute(sql.SQL("; ").join(statements))


def drop_schema(schema: str) -> None:
    with admin() as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def open_database(schema: str, **kwargs: object) -> PostgresDatabase:
    return PostgresDatabase(PG_DSN, schema=schema, **kwargs)  # type: ignore[arg-type]


SCHEMAS = SchemaPool()
