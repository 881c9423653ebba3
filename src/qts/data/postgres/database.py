"""One PostgreSQL schema of QTS: connections, transactions, migrations, status and maintenance.

Sync, not async: the trading core is synchronous (the ETEDA cycle and the OMS call the store and
wait), so an asyncio driver would need an event loop thread and a hop per call for nothing.
psycopg 3 in autocommit mode with a :class:`psycopg_pool.ConnectionPool`:

- A single statement outside a transaction borrows a connection, runs (its own transaction:
  one round trip) and gives the connection back.
- :meth:`PostgresDatabase.transaction` pins one pool connection to the calling thread for the
  outermost block (BEGIN ... COMMIT); nested blocks are SAVEPOINTs on it. Every write inside a
  transaction runs in its own savepoint, so a refused write undoes only itself and the block
  goes on (PostgreSQL would otherwise abort the whole transaction at the first error).
- Each thread has its own pinned connection and depth, so threads never share a transaction.

Two storage modes, chosen when the schema is first migrated and recorded with every applied
migration: ``timescale`` when the ``timescaledb`` extension can be created in the database
(hypertables, compression and retention policies, continuous aggregates), else ``plain``
(native range partitioning with default partitions, retention by dropping whole partitions,
incrementally refreshed aggregate tables and a materialized view). The scheduler calls
:meth:`PostgresDatabase.run_maintenance` with the current time in both modes.

Every failure of the server, the network or a value surfaces as one-line
:class:`~qts.core.errors.StorageError` naming the server, the schema and the call; connection
info never includes a password.

This module holds the connections, the pool and the statements run on them; the rest of the
story has a file each: :mod:`.transaction` (BEGIN ... COMMIT and savepoints),
:mod:`.schema_migrations` (applying and undoing migrations), :mod:`.status`,
:mod:`.maintenance` and :mod:`.errors` (how a failure is worded). The names callers have always
imported from here still are.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from qts.core.errors import StorageError
from qts.data.postgres import maintenance, schema_migrations, timescale
from qts.data.postgres.errors import ERRORS, one_line, reason
from qts.data.postgres.maintenance import TIMESCALE_REFRESH, TIMESCALE_RETENTION
from qts.data.postgres.migration_files import Mode, latest_version
from qts.data.postgres.schema_migrations import hash_key
from qts.data.postgres.status import schema_status
from qts.data.postgres.timescale import timescale_presence
from qts.data.postgres.transaction import Transaction

__all__ = [
    "DEFAULT_SCHEMA",
    "ENV_DSN",
    "ERRORS",
    "TIMESCALE_REFRESH",
    "TIMESCALE_RETENTION",
    "Connection",
    "PostgresDatabase",
    "Transaction",
    "default_dsn",
    "hash_key",
    "is_schema_name",
    "one_line",
    "reason",
    "timescale_presence",
]

T = TypeVar("T")
Connection = psycopg.Connection[tuple[Any, ...]]

ENV_DSN = "QTS_PG_DSN"
DEFAULT_SCHEMA = "qts"
# Lower-case identifiers only: they need no quoting in psql, runbooks or other tools.
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def is_schema_name(name: str) -> bool:
    """A schema QTS will use: a lower-case SQL identifier of at most 63 characters."""
    return _SCHEMA_NAME.fullmatch(name) is not None


def default_dsn() -> str | None:
    return os.environ.get(ENV_DSN) or None


class _ThreadState(threading.local):
    """The calling thread's pinned connection and transaction depth."""

    conn: Connection | None = None
    depth: int = 0


class PostgresDatabase:
    """A QTS schema in one PostgreSQL database, and the pool of connections to it.

    Opening checks that the server answers (StorageError, one line, if not) and, with
    ``migrate=True``, brings the schema to the latest version first. ``mode`` is ``"auto"``
    (TimescaleDB when the extension can be created, else plain), ``"plain"`` or
    ``"timescale"``; it only matters when the schema is created: afterwards the recorded mode
    is used. The pool (``min_size`` .. ``max_size`` connections, 5..20 by default as the spec
    sizes it) opens on first use, so status and migration commands open none.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        schema: str = DEFAULT_SCHEMA,
        migrate: bool = False,
        mode: str = "auto",
        min_size: int = 5,
        max_size: int = 20,
        durable: bool = True,
        connect_timeout: float = 5.0,
        pool_timeout: float = 5.0,
    ) -> None:
        dsn = dsn or default_dsn()
        if not dsn:
            raise StorageError(f"postgres: no DSN given and {ENV_DSN} is not set")
        if not _SCHEMA_NAME.match(schema):
            raise StorageError(f"postgres: schema name {schema!r} is not a lower-case identifier")
        if mode not in ("auto", "plain", "timescale"):
            raise StorageError(f"postgres: mode {mode!r} is not auto, plain or timescale")
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.Error as exc:
            raise StorageError(f"postgres: bad DSN: {reason(exc)}") from exc
        extra: dict[str, Any] = {}
        if "connect_timeout" not in params:
            extra["connect_timeout"] = max(1, round(connect_timeout))
        if "application_name" not in params:
            extra["application_name"] = "qts"
        self._conninfo = make_conninfo(dsn, **extra)
        self._params = conninfo_to_dict(self._conninfo)
        self.schema = schema
        self.durable = durable
        self._requested_mode = mode
        self._min_size = min_size
        self._max_size = max(max_size, min_size)
        self._pool_timeout = pool_timeout
        self._pool: ConnectionPool[Connection] | None = None
        self._pool_lock = threading.Lock()
        self._state = _ThreadState()
        self._closed = False
        # called before every outermost COMMIT (and autocommitted write): the books' writer
        # lock checks there that its session still holds the books (qts.data.postgres.writer_lock)
        self.before_commit: Callable[[], None] | None = None
        self.timescale_note = ""  # what CREATE EXTENSION said when auto mode fell back to plain
        self._extra_path: str | None = None  # the extension's schema if not public
        self.where = self._describe()
        with self._admin() as conn:  # proves the server answers
            self._find_extension(conn)
            if migrate:
                schema_migrations.migrate(self, conn, None)

    # ------------------------------------------------------------------ identity and errors

    def _describe(self) -> str:
        p = self._params
        host = p.get("host") or p.get("hostaddr") or "localhost"
        dbname = p.get("dbname") or p.get("user") or ""
        return f"{host}:{p.get('port') or 5432}/{dbname}[{self.schema}]"

    def connection_info(self) -> dict[str, Any]:
        """Where this database is, without secrets."""
        p = self._params
        return {
            "host": p.get("host") or p.get("hostaddr") or "localhost",
            "port": int(p.get("port") or 5432),
            "dbname": p.get("dbname") or p.get("user") or "",
            "user": p.get("user") or "",
            "schema": self.schema,
            "application_name": p.get("application_name", ""),
        }

    def error(self, what: str, exc: BaseException | str) -> StorageError:
        text = exc if isinstance(exc, str) else reason(exc)
        return StorageError(f"postgres {self.where}: {what}: {text}")

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Turn driver and value errors into StorageError naming the call."""
        try:
            yield
        except StorageError:
            raise
        except ERRORS as exc:
            raise self.error(what, exc) from exc

    def check_open(self) -> None:
        if self._closed:
            raise StorageError(f"postgres {self.where}: store is closed")

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------ connections

    def _find_extension(self, conn: Connection) -> None:
        """TimescaleDB's functions must be on the search path: public is, another schema an
        administrator created the extension in is added."""
        with self.guard("timescaledb extension"):
            where = timescale.extension_schema(conn)
        if where in (None, "public", self.schema) or where == self._extra_path:
            return
        self._extra_path = where
        self._configure(conn)

    def _configure(self, conn: Connection) -> None:
        """Every connection: the schema first on the search path, UTC, the durability asked."""
        path = [sql.Identifier(self.schema), sql.Identifier("public")]
        if self._extra_path:
            path.append(sql.Identifier(self._extra_path))
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.SQL(", ").join(path)))
        conn.execute("SET TimeZone TO 'UTC'")
        if not self.durable:
            conn.execute("SET synchronous_commit TO off")

    def _connect(self) -> Connection:
        """A connection outside the pool (status, migrations): one-line error if unreachable."""
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise StorageError(
                f"postgres {self.where}: cannot connect: {one_line(str(exc))}"
            ) from exc
        try:
            self._configure(conn)
        except psycopg.Error as exc:
            conn.close()
            raise self.error("configure", exc) from exc
        return conn

    def connect(self) -> Connection:
        """A configured autocommit connection of the caller's own, outside the pool."""
        self.check_open()
        return self._connect()

    @contextmanager
    def _admin(self) -> Iterator[Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    def _get_pool(self) -> ConnectionPool[Connection]:
        pool = self._pool
        if pool is not None:
            return pool
        with self._pool_lock:
            self.check_open()
            if self._pool is None:
                self._pool = ConnectionPool(
                    self._conninfo,
                    connection_class=psycopg.Connection,
                    kwargs={"autocommit": True},
                    min_size=self._min_size,
                    max_size=self._max_size,
                    timeout=self._pool_timeout,
                    configure=self._configure,
                    name=f"qts-{self.schema}",
                    open=True,
                )
            return self._pool

    def _getconn(self) -> Connection:
        self.check_open()
        try:
            return self._get_pool().getconn()
        except psycopg.Error as exc:
            raise self.error("connection", exc) from exc

    def _putconn(self, conn: Connection) -> None:
        pool = self._pool
        if pool is None:  # pragma: no cover - a connection only comes from the pool
            conn.close()
            return
        try:
            pool.putconn(conn)  # a broken connection is discarded, an idle one kept
        except psycopg.Error:  # pragma: no cover - the pool closed meanwhile
            conn.close()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """The thread's transaction connection if it has one, else one borrowed for the call."""
        state = self._state
        if state.conn is not None:
            yield state.conn
            return
        conn = self._getconn()
        try:
            yield conn
        finally:
            self._putconn(conn)

    @property
    def in_transaction(self) -> bool:
        return self._state.depth > 0

    def transaction(self, what: str = "") -> Transaction:
        """One commit for everything inside; nested blocks are savepoints of the outer one.
        ``what`` names the call in errors of BEGIN, SAVEPOINT and COMMIT."""
        return Transaction(self, what)

    def _quiet_rollback(self, conn: Connection) -> None:
        """Undo the open transaction; on a broken connection the server already did."""
        if conn.closed or conn.broken:
            return
        # If even this fails the connection is unusable, and the pool will discard it.
        with contextlib.suppress(psycopg.Error):
            conn.execute("ROLLBACK")

    def abort_thread_transaction(self) -> None:
        """Roll back the calling thread's open transaction, if any, and forget it."""
        state = self._state
        conn = state.conn
        state.conn = None
        state.depth = 0
        if conn is not None:
            self._quiet_rollback(conn)
            self._putconn(conn)

    # ------------------------------------------------------------------ running statements

    def execute(self, what: str, query: Any, params: Sequence[Any] | None = None) -> None:
        """One statement, atomic; inside a transaction it is undone alone if refused."""
        self.check_open()
        try:
            if self._state.depth == 0:
                if self.before_commit is not None:
                    self.before_commit()
                with self.connection() as conn:
                    conn.execute(query, params)
            else:
                with self.transaction(what):
                    pinned = self._state.conn
                    assert pinned is not None
                    pinned.execute(query, params)
        except StorageError:
            raise
        except ERRORS as exc:
            raise self.error(what, exc) from exc

    def write(self, what: str, action: Callable[[Connection], T]) -> T:
        """Several statements, all or nothing (a savepoint inside a caller's transaction)."""
        self.check_open()
        try:
            with self.transaction(what):
                conn = self._state.conn
                assert conn is not None
                return action(conn)
        except StorageError:
            raise
        except ERRORS as exc:
            raise self.error(what, exc) from exc

    def read(self, what: str, query: Any, params: Sequence[Any] | None = None) -> list[Any]:
        self.check_open()
        try:
            with self.connection() as conn:
                return conn.execute(query, params).fetchall()
        except StorageError:
            raise
        except ERRORS as exc:
            raise self.error(what, exc) from exc

    # ------------------------------------------------------------------ migrations

    def migrate(self, target: int | None = None) -> list[int]:
        """Apply the missing migrations up to ``target`` (the latest by default), each in its
        own transaction; returns the versions applied ([] when there was nothing to do)."""
        self.check_open()
        with self._admin() as conn:
            return schema_migrations.migrate(self, conn, target)

    def downgrade(self, to_version: int) -> list[int]:
        """Run the down scripts of every applied migration above ``to_version``, newest first,
        each in its own transaction; returns the versions undone. 0 removes every QTS object
        (the data with it) but keeps the schema and its ``schema_migrations`` table."""
        self.check_open()
        with self._admin() as conn:
            return schema_migrations.downgrade(self, conn, to_version)

    def version_and_mode(self) -> tuple[int, Mode | None]:
        """The schema's version (0 if never migrated) and its recorded mode."""
        self.check_open()
        # A pool connection if the pool is open; otherwise a short-lived one (no pool for it).
        source = self.connection() if self._pool is not None else self._admin()
        with source as conn, self.guard("schema version"):
            applied = schema_migrations.applied(conn, self.schema)
        if not applied:
            return 0, None
        return applied[-1][0], Mode(applied[-1][2])

    def require_current(self) -> Mode:
        """The mode, if the schema is at exactly the version this QTS ships; else StorageError."""
        version, mode = self.version_and_mode()
        latest = latest_version()
        if version > latest:
            raise StorageError(
                f"postgres {self.where}: schema version {version} is newer than this QTS "
                f"supports ({latest}); upgrade QTS"
            )
        if version < latest or mode is None:
            raise StorageError(
                f"postgres {self.where}: schema version {version}, this QTS needs {latest}; "
                "run `qts db migrate`"
            )
        return mode

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        """What an operator asks first: where, which server, which mode, which version, how
        many partitions (or chunks) each time series has, how far the aggregates are
        materialized, and the pool's state. No secrets."""
        self.check_open()
        out: dict[str, Any] = {"backend": "postgresql", **self.connection_info()}
        with self._admin() as conn, self.guard("status"):
            out.update(
                schema_status(
                    conn,
                    self.schema,
                    advise_timescale=self._requested_mode != "plain",
                    timescale_note=self.timescale_note,
                )
            )
        out["pool"] = self._pool_status()
        return out

    def _pool_status(self) -> dict[str, Any]:
        pool = self._pool
        if pool is None:
            return {"min_size": self._min_size, "max_size": self._max_size, "size": 0}
        stats = pool.get_stats()
        return {
            "min_size": self._min_size,
            "max_size": self._max_size,
            "size": stats.get("pool_size", 0),
            "available": stats.get("pool_available", 0),
            "waiting": stats.get("requests_waiting", 0),
        }

    # ------------------------------------------------------------------ maintenance

    def run_maintenance(self, now: datetime) -> dict[str, Any]:
        """Everything the scheduler runs periodically, as of ``now`` (never the wall clock):
        partitions created ahead and expired ones dropped (plain) or expired chunks dropped
        (TimescaleDB), then the aggregates refreshed. Returns what was done."""
        return maintenance.run_maintenance(self, now)

    def refresh_aggregates(self, now: datetime, *, full: bool = False) -> list[dict[str, Any]]:
        """Materialize ohlcv_1m, hourly_execution_metrics and daily_pnl over their refresh
        windows as of ``now`` (or over everything the raw rows still hold, with ``full``)."""
        return maintenance.refresh_aggregates(self, now, full)

    def set_background_jobs(self, enabled: bool) -> int:
        """TimescaleDB mode: pause (or resume) the extension's policy jobs of this schema, so
        that only :meth:`run_maintenance` applies retention and refreshes, as of the ``now`` it
        is given (a backtest's or a test's clock). Returns the jobs changed; 0 in plain mode."""
        return maintenance.set_background_jobs(self, enabled)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Roll back this thread's open transaction and close the pool. Safe to call twice."""
        if self._closed:
            return
        self.abort_thread_transaction()
        self._closed = True
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def __enter__(self) -> PostgresDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
