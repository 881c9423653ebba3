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
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from qts.core.errors import StorageError
from qts.core.time import require_aware
from qts.data.postgres import timescale
from qts.data.postgres.migration_files import Mode, latest_version, migrations

T = TypeVar("T")
Connection = psycopg.Connection[tuple[Any, ...]]

ENV_DSN = "QTS_PG_DSN"
DEFAULT_SCHEMA = "qts"
# Lower-case identifiers only: they need no quoting in psql, runbooks or other tools.
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def is_schema_name(name: str) -> bool:
    """A schema QTS will use: a lower-case SQL identifier of at most 63 characters."""
    return _SCHEMA_NAME.fullmatch(name) is not None


# What a call can raise besides StorageError: driver and server errors, and serialisation
# errors of the values handed in (naive datetimes, non-JSON values, text PostgreSQL refuses).
ERRORS = (psycopg.Error, ValueError, TypeError, OverflowError, AttributeError)

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


def one_line(text: str) -> str:
    """Collapse a multi-line driver message (libpq adds hints on new lines) into one line."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def reason(exc: BaseException) -> str:
    """The server's primary message (and detail) without libpq's CONTEXT lines."""
    if isinstance(exc, psycopg.Error):
        diag = exc.diag
        primary = diag.message_primary
        if primary:
            detail = diag.message_detail
            return one_line(f"{primary} ({detail})" if detail else primary)
    return one_line(str(exc)) or type(exc).__name__


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
                self._migrate(conn, None)

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

    def _lock_key(self) -> int:
        """The advisory lock that serialises migrations of this schema across processes."""
        return hash_key(f"qts.migrate.{self.schema}")

    @contextmanager
    def _migration_lock(self, conn: Connection) -> Iterator[None]:
        conn.execute("SELECT pg_advisory_lock(%s)", (self._lock_key(),))
        try:
            yield
        finally:
            if not (conn.closed or conn.broken):
                conn.execute("SELECT pg_advisory_unlock(%s)", (self._lock_key(),))

    def _applied(self, conn: Connection) -> list[tuple[int, str, str, str]]:
        """(version, name, mode, checksum) of every applied migration; [] if none."""
        exists = conn.execute(
            "SELECT to_regclass(format('%%I.schema_migrations', %s::text)) IS NOT NULL",
            (self.schema,),
        ).fetchone()
        if not exists or not exists[0]:
            return []
        rows = conn.execute(
            "SELECT version, name, mode, checksum FROM schema_migrations ORDER BY version"
        ).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def _choose_mode(self, conn: Connection, applied: list[tuple[int, str, str, str]]) -> Mode:
        requested = self._requested_mode
        if applied:
            recorded = Mode(applied[-1][2])
            if requested != "auto" and requested != recorded:
                raise StorageError(
                    f"postgres {self.where}: the schema was created in {recorded} mode, "
                    f"{requested} was asked; downgrade to 0 to change it"
                )
            return recorded
        installed, available = timescale_presence(conn)
        if requested == "plain":
            return Mode.PLAIN
        if installed:
            return Mode.TIMESCALE
        if not available:
            if requested == "timescale":
                raise StorageError(
                    f"postgres {self.where}: timescale mode asked but the timescaledb extension "
                    "is not available on this server"
                )
            return Mode.PLAIN
        # On a connection of its own: where TimescaleDB is installed but not preloaded this is
        # FATAL and closes the connection, which must not be the one migrating.
        try:
            timescale.create_extension(self._conninfo)
        except psycopg.Error as exc:
            if requested == "timescale":
                raise self.error("create extension timescaledb", exc) from exc
            self.timescale_note = reason(exc)
            return Mode.PLAIN
        self._find_extension(conn)
        return Mode.TIMESCALE

    def _check_checksums(self, applied: list[tuple[int, str, str, str]]) -> None:
        for version, name, mode, checksum in applied:
            shipped = migrations(Mode(mode))
            if version <= len(shipped) and shipped[version - 1].checksum != checksum:
                raise StorageError(
                    f"postgres {self.where}: applied migration {version:04d}_{name} differs "
                    "from the shipped file (released migrations must not change)"
                )

    def _migrate(self, conn: Connection, target: int | None) -> list[int]:
        latest = latest_version()
        target = latest if target is None else target
        if not 0 <= target <= latest:
            raise StorageError(f"postgres {self.where}: no migration {target} (latest {latest})")
        with self.guard("migrate"):
            applied = self._applied(conn)
        if (
            applied
            and applied[-1][0] == target
            and self._requested_mode in ("auto", applied[-1][2])
        ):
            self._check_checksums(applied)
            return []  # the common case: nothing to do, no lock, no DDL
        with self.guard("migrate"), self._migration_lock(conn):
            schema = sql.Identifier(self.schema)
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY,"
                " name text NOT NULL,"
                " mode text NOT NULL CHECK (mode IN ('plain', 'timescale')),"
                " checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = self._applied(conn)
            current = applied[-1][0] if applied else 0
            if current > latest:
                raise StorageError(
                    f"postgres {self.where}: schema version {current} is newer than this QTS "
                    f"supports ({latest}); upgrade QTS"
                )
            mode = self._choose_mode(conn, applied)
            shipped = migrations(mode)
            self._check_checksums(applied)
            done: list[int] = []
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
                    self._quiet_rollback(conn)
                    raise self.error(what, exc) from exc
                done.append(migration.version)
            return done

    def migrate(self, target: int | None = None) -> list[int]:
        """Apply the missing migrations up to ``target`` (the latest by default), each in its
        own transaction; returns the versions applied ([] when there was nothing to do)."""
        self.check_open()
        with self._admin() as conn:
            return self._migrate(conn, target)

    def downgrade(self, to_version: int) -> list[int]:
        """Run the down scripts of every applied migration above ``to_version``, newest first,
        each in its own transaction; returns the versions undone. 0 removes every QTS object
        (the data with it) but keeps the schema and its ``schema_migrations`` table."""
        self.check_open()
        with self._admin() as conn, self.guard("downgrade"), self._migration_lock(conn):
            applied = self._applied(conn)
            current = applied[-1][0] if applied else 0
            if not 0 <= to_version <= current:
                raise StorageError(
                    f"postgres {self.where}: cannot downgrade to {to_version}: the schema is "
                    f"at version {current}"
                )
            if current > latest_version():
                raise StorageError(
                    f"postgres {self.where}: schema version {current} is newer than this QTS "
                    "knows how to undo; downgrade with the QTS release that applied it"
                )
            undone: list[int] = []
            for version, name, mode, _ in reversed(applied):
                if version <= to_version:
                    break
                migration = migrations(Mode(mode))[version - 1]
                try:
                    conn.execute("BEGIN")
                    conn.execute(migration.down)
                    conn.execute("DELETE FROM schema_migrations WHERE version = %s", (version,))
                    conn.execute("COMMIT")
                except psycopg.Error as exc:
                    self._quiet_rollback(conn)
                    raise self.error(f"downgrade {version:04d}_{name} ({mode})", exc) from exc
                undone.append(version)
            return undone

    def version_and_mode(self) -> tuple[int, Mode | None]:
        """The schema's version (0 if never migrated) and its recorded mode."""
        self.check_open()
        # A pool connection if the pool is open; otherwise a short-lived one (no pool for it).
        source = self.connection() if self._pool is not None else self._admin()
        with source as conn, self.guard("schema version"):
            applied = self._applied(conn)
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
            out["server_version"] = _server_version(conn.info.server_version)
            installed, available = timescale_presence(conn)
            out["timescaledb"] = {"available": available, "installed": installed}
            applied = self._applied(conn)
            version = applied[-1][0] if applied else 0
            mode = Mode(applied[-1][2]) if applied else None
            out["mode"] = str(mode) if mode else None
            out["schema_version"] = version
            out["latest_version"] = latest_version()
            out["pending_migrations"] = max(latest_version() - version, 0)
            if self._requested_mode != "plain":
                note = timescale.advice(
                    conn, out["mode"], installed, available, self.timescale_note
                )
                if note:
                    out["note"] = note
            if mode is Mode.PLAIN and version >= 1:
                out["partitions"] = _plain_partitions(conn)
                out["default_partition_rows"] = _default_rows(conn)
            elif mode is Mode.TIMESCALE:
                out["partitions"] = timescale.chunks(conn, self.schema)
            if version >= 6:
                marks: dict[str, datetime | None] = (
                    dict(conn.execute("SELECT name, watermark FROM aggregate_watermarks"))
                    if mode is Mode.PLAIN
                    else timescale.watermarks(conn)
                )
                out["aggregate_watermarks"] = {
                    name: None if wm is None else wm.isoformat()
                    for name, wm in sorted(marks.items())
                }
            if version >= 8:
                from qts.data.postgres.writer_lock import live_holder

                holder = live_holder(conn, self.schema)
                out["writer"] = holder.describe() if holder else "none (no run holds the books)"
        pool = self._pool
        if pool is not None:
            stats = pool.get_stats()
            out["pool"] = {
                "min_size": self._min_size,
                "max_size": self._max_size,
                "size": stats.get("pool_size", 0),
                "available": stats.get("pool_available", 0),
                "waiting": stats.get("requests_waiting", 0),
            }
        else:
            out["pool"] = {"min_size": self._min_size, "max_size": self._max_size, "size": 0}
        return out

    # ------------------------------------------------------------------ maintenance

    def run_maintenance(self, now: datetime) -> dict[str, Any]:
        """Everything the scheduler runs periodically, as of ``now`` (never the wall clock):
        partitions created ahead and expired ones dropped (plain) or expired chunks dropped
        (TimescaleDB), then the aggregates refreshed. Returns what was done."""
        with self.guard("run_maintenance"):
            require_aware(now, "now")
        mode = self.require_current()
        created: list[str] = []
        dropped: list[str] = []
        deleted: dict[str, int] = {}
        with self.connection() as conn, self.guard("run_maintenance"):
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
            "refreshed": self.refresh_aggregates(now),
        }

    def refresh_aggregates(self, now: datetime, *, full: bool = False) -> list[dict[str, Any]]:
        """Materialize ohlcv_1m, hourly_execution_metrics and daily_pnl over their refresh
        windows as of ``now`` (or over everything the raw rows still hold, with ``full``)."""
        with self.guard("refresh_aggregates"):
            require_aware(now, "now")
        mode = self.require_current()
        out: list[dict[str, Any]] = []
        with self.connection() as conn, self.guard("refresh_aggregates"):
            if mode is Mode.PLAIN:
                for name, start, end, count in conn.execute(
                    "SELECT aggregate, window_start, window_end, row_count "
                    "FROM qts_refresh_aggregates(%s, %s)",
                    (now, full),
                ).fetchall():
                    out.append({"aggregate": name, "start": start, "end": end, "rows": count})
            else:
                # A procedure that commits by itself: never inside a transaction block.
                if self.in_transaction:
                    raise self.error("refresh_aggregates", "not inside a transaction")
                out = timescale.refresh(conn, TIMESCALE_REFRESH, now, full)
        return out

    def set_background_jobs(self, enabled: bool) -> int:
        """TimescaleDB mode: pause (or resume) the extension's policy jobs of this schema, so
        that only :meth:`run_maintenance` applies retention and refreshes, as of the ``now`` it
        is given (a backtest's or a test's clock). Returns the jobs changed; 0 in plain mode."""
        if self.require_current() is not Mode.TIMESCALE:
            return 0
        with self.connection() as conn, self.guard("background jobs"):
            return timescale.set_jobs_scheduled(conn, self.schema, enabled)

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


class Transaction:
    """BEGIN ... COMMIT on the thread's pinned connection at the outermost level, SAVEPOINT ...
    RELEASE inside it. A class rather than a generator: it runs around every write."""

    __slots__ = ("_db", "_savepoint", "_what")

    def __init__(self, db: PostgresDatabase, what: str = "") -> None:
        self._db = db
        self._what = what
        self._savepoint: str | None = None

    def _error(self, step: str, exc: BaseException | str) -> StorageError:
        return self._db.error(f"{self._what}: {step}" if self._what else step, exc)

    def __enter__(self) -> None:
        db = self._db
        db.check_open()
        state = db._state
        if state.depth == 0:
            conn = db._getconn()
            try:
                conn.execute("BEGIN")
            except psycopg.Error as exc:
                db._putconn(conn)
                raise self._error("begin", exc) from exc
            state.conn = conn
        else:
            pinned = state.conn
            assert pinned is not None
            self._savepoint = f"qts_sp{state.depth}"
            try:
                pinned.execute(f"SAVEPOINT {self._savepoint}")
            except psycopg.Error as exc:
                raise self._error("savepoint", exc) from exc
        state.depth += 1

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        db = self._db
        state = db._state
        conn = state.conn
        if conn is None or state.depth == 0:  # closed (and rolled back) inside the block
            return
        state.depth -= 1
        name = self._savepoint
        if name is not None:
            if conn.closed or conn.broken:
                if exc_type is None:
                    raise self._error("savepoint", "the connection was lost")
                return  # the error on its way out already says so
            try:
                if exc_type is not None:
                    conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
            except psycopg.Error as exc:
                raise self._error("savepoint", exc) from exc
            return
        state.conn = None
        try:
            if exc_type is not None:
                db._quiet_rollback(conn)
            else:
                try:
                    if db.before_commit is not None:
                        db.before_commit()
                except StorageError:
                    db._quiet_rollback(conn)
                    raise
                try:
                    conn.execute("COMMIT")
                except psycopg.Error as exc:
                    db._quiet_rollback(conn)
                    raise self._error("commit", exc) from exc
        finally:
            db._putconn(conn)


def hash_key(text: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock (Python's hash() is salted)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def timescale_presence(conn: Connection) -> tuple[str | None, bool]:
    """(installed extension version or None, whether the server offers the extension)."""
    row = conn.execute(
        "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'), "
        "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
    ).fetchone()
    assert row is not None
    return row[0], bool(row[1])


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
