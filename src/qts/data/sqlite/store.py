"""The embedded store: one SQLite file (or ``:memory:`` for backtests) behind :class:`TradingStore`.

Durability: WAL journal; ``durable=True`` (paper, live) sets ``synchronous=FULL`` so a commit
survives power loss; ``durable=False`` (backtests) sets ``synchronous=OFF``, which still survives
the process being killed (committed pages are in the OS cache) but not a machine crash.

Types: tables are STRICT, so a float in a money column is an error instead of a silent REAL.
Timestamps are stored as fixed-width UTC ISO text (sortable as text) and restored timezone-aware
in ``tz`` (KST by default, the market's zone).

Invariants the database itself enforces, so no caller bug can break them: a fill is booked once;
ledger seqs are consecutive and the ledger is append-only; an order id never names two different
orders.

Threads: one connection shared by the threads of a run (the ETEDA loop, the P0 fill handler, the
micro risk loop): every call holds the store's lock, and a transaction holds it until it ends, so
another thread's write waits for the commit instead of joining the transaction. Other processes
may read the file concurrently (WAL); only one may write it: a run opens its books with
``writer=True``, which holds ``<db>.lock`` (qts.data.writer_lock) and refuses a second writer.

Access: a run opens its books with ``access="create"`` (the default): a missing file is created and
missing migrations are applied, but a SQLite file that already holds other tables (a market-data
cache, a venue journal) is refused rather than turned into books. Tools open existing books only:
``access="read"`` connects read-only (``mode=ro``: nothing in the file can change) and
``access="write"`` read-write without creating or migrating; both refuse, with
:class:`NotBooksError`, a path that is missing, empty, not SQLite, not QTS books or at another
schema version.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar

from qts.core.errors import StorageError
from qts.core.locks import STORE, OrderedLock
from qts.core.time import KST
from qts.data.capital_journal import CapitalEventRecord
from qts.data.ports import (
    AccountState,
    DecisionRecord,
    EquityPoint,
    JsonDict,
    RunMeta,
    SafetyEventRecord,
    TradingStore,
)
from qts.data.records import fill_mismatch, strict_json
from qts.data.sqlite.books_file import Access, connect_existing, refuse_foreign
from qts.data.sqlite.rows import (
    CLEAR_PENDING,
    DECISION_COLUMNS,
    EQUITY_COLUMNS,
    FILL_COLUMNS,
    FILL_EXISTS,
    INSERT_DECISION,
    INSERT_FILL,
    INSERT_LEDGER,
    INSERT_PENDING,
    LEDGER_COLUMNS,
    ORDER_COLUMNS,
    POSITION_COLUMNS,
    UPSERT_CASH,
    UPSERT_EQUITY,
    UPSERT_ORDER,
    UPSERT_POSITION,
    decision_from_row,
    decision_row,
    fill_from_row,
    fill_row,
    from_utc_text,
    ledger_entry_from_row,
    ledger_row,
    order_from_row,
    order_row,
    position_from_row,
    position_row,
    utc_text,
)
from qts.data.sqlite.schema import MIGRATIONS, OPEN_STATUSES, SCHEMA_VERSION
from qts.data.sqlite.transaction import Transaction
from qts.data.writer_lock import WriterLock
from qts.model.fill import Fill
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.model.position import Position

T = TypeVar("T")

# What a write can raise besides StorageError: driver errors, and serialisation errors (naive
# datetimes, non-JSON values, integers beyond 64 bits).
_ERRORS = (sqlite3.Error, ValueError, TypeError, OverflowError, AttributeError)


# Result codes that say the file or the disk failed, not the statement: after one of them the
# store stops writing (see SqliteStore._check_writable).
_ENVIRONMENT_CODES = (
    "SQLITE_FULL",
    "SQLITE_IOERR",
    "SQLITE_READONLY",
    "SQLITE_CORRUPT",
    "SQLITE_NOTADB",
    "SQLITE_CANTOPEN",
    "SQLITE_PROTOCOL",
)


def _environment_failure(exc: BaseException) -> bool:
    name = getattr(exc, "sqlite_errorname", None)
    return isinstance(name, str) and name.startswith(_ENVIRONMENT_CODES)


class SqliteStore:
    """:class:`~qts.data.ports.TradingStore` on one SQLite database.

    ``path`` may be ``":memory:"`` (backtests). With ``access="create"`` opening creates the file
    and applies any missing schema migrations; a file written by a newer schema, or a SQLite file
    that holds something else, is refused. ``"read"`` and ``"write"`` open existing books only
    (see the module's docstring).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        durable: bool = True,
        tz: tzinfo = KST,
        writer: bool = False,
        access: Access = "create",
    ) -> None:
        self.path = str(path)
        self.access = access
        self.durable = durable
        self._tz = tz
        self._depth = 0
        self._closed = False
        self._failed: StorageError | None = None  # the environment failure that stopped writes
        self._lock = OrderedLock(f"store {self.path}", STORE)  # last in the lock order
        # writer=True: this connection is the run's one writer of the file and holds its lock
        # (qts.data.writer_lock) until close; readers and tools leave it False.
        self.writer_lock: WriterLock | None = None
        if access != "create":
            if writer:
                raise ValueError("a store opened by a tool (access read/write) is never the writer")
            self._conn = connect_existing(self.path, access)
        else:
            if writer and self.path != ":memory:" and not self.path.startswith("file:"):
                self.writer_lock = WriterLock(self.path).acquire()
            try:
                self._conn = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False
                )
            except sqlite3.Error as exc:
                self._release_writer()
                raise StorageError(f"sqlite {self.path}: cannot open: {exc}") from exc
        try:
            if access == "create":
                self._refuse_foreign()
                with self._guard("configure"):
                    self._conn.execute("PRAGMA journal_mode = WAL")
            with self._guard("configure"):
                if access != "read":
                    self._conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")
                self._conn.execute("PRAGMA foreign_keys = ON")
                self._conn.execute("PRAGMA busy_timeout = 5000")
            if access == "create":
                self._migrate()
        except BaseException:
            self._conn.close()
            self._release_writer()
            raise

    def _refuse_foreign(self) -> None:
        """A run's books may be a new file, but never a SQLite file that holds something else."""
        if self.path == ":memory:":
            return
        with self._guard("open"):
            refuse_foreign(self.path, self._conn)

    def _release_writer(self) -> None:
        if self.writer_lock is not None:
            self.writer_lock.release()

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Turn driver and serialisation errors into StorageError naming the file and the call."""
        try:
            yield
        except StorageError:
            raise
        except _ERRORS as exc:
            raise self._error(what, exc) from exc

    def _migrate(self) -> None:
        with self._guard("migrate"):
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY) STRICT"
            )
            (current,) = self._conn.execute(
                "SELECT coalesce(max(version), 0) FROM schema_version"
            ).fetchone()
        if current > SCHEMA_VERSION:
            raise StorageError(
                f"sqlite {self.path}: schema version {current} is newer than this QTS "
                f"supports ({SCHEMA_VERSION}); upgrade QTS"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self._guard(f"migration {version}"), self.transaction():
                # Re-check inside the write lock: another process may have migrated meanwhile.
                done = self._conn.execute(
                    "SELECT 1 FROM schema_version WHERE version = ?", (version,)
                ).fetchone()
                if done:
                    continue
                for statement in MIGRATIONS[version - 1]:
                    self._conn.execute(statement)
                self._conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    def transaction(self) -> Transaction:
        """One commit for everything inside; nested blocks are savepoints of the outer one."""
        return Transaction(self)

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as exc:  # pragma: no cover - the connection is unusable anyway
                raise self._error("rollback", exc) from exc

    def _error(self, what: str, exc: BaseException) -> StorageError:
        error = StorageError(f"sqlite {self.path}: {what}: {exc}")
        if self._failed is None and _environment_failure(exc):
            self._failed = error
        return error

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"sqlite {self.path}: store is closed")

    def _check_writable(self) -> None:
        """Fail-stop: after the file refused a write (disk full, I/O error, read-only), the
        caller's memory may be ahead of the file, so no later write may land and make the books
        disagree with themselves. The run stops; the next start resumes from what committed."""
        self._check_open()
        if self._failed is not None:
            raise StorageError(
                f"{self._failed}; nothing more is written by this process: fix the cause "
                "(e.g. free disk space) and start the run again to resume from the last commit"
            )

    def _execute(self, what: str, sql: str, params: tuple[Any, ...]) -> None:
        """One statement: SQLite makes it atomic (its own transaction, or part of the caller's)."""
        with self._lock:
            self._check_writable()
            try:
                self._conn.execute(sql, params)
            except _ERRORS as exc:
                raise self._error(what, exc) from exc

    def _write(self, what: str, action: Callable[[sqlite3.Connection], T]) -> T:
        """Several statements, all or nothing."""
        try:
            with self.transaction():
                return action(self._conn)
        except _ERRORS as exc:
            raise self._error(what, exc) from exc

    def _read(self, what: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            self._check_open()
            with self._guard(what):
                return self._conn.execute(sql, params).fetchall()

    def _at(self, text: str) -> datetime:
        return from_utc_text(text, self._tz)

    def schema_version(self) -> int:
        (row,) = self._read("schema version", "SELECT max(version) FROM schema_version")
        return int(row[0])

    # ------------------------------------------------------------------ run metadata

    def init_run(self, meta: RunMeta) -> RunMeta:
        """Store ``meta`` and open the account with its initial cash, or return the stored run."""

        def action(conn: sqlite3.Connection) -> RunMeta:
            stored = self.run_meta()
            if stored is None:
                conn.execute(
                    "INSERT INTO run_meta "
                    "(id, run_id, mode, initial_cash, seed, started_at, config) "
                    "VALUES (1, ?, ?, ?, ?, ?, ?)",
                    (
                        meta.run_id,
                        meta.mode,
                        meta.initial_cash,
                        meta.seed,
                        utc_text(meta.started_at),
                        strict_json(meta.config),
                    ),
                )
                conn.execute(
                    "INSERT INTO account (id, cash) VALUES (1, ?) ON CONFLICT (id) DO NOTHING",
                    (meta.initial_cash,),
                )
                return self.run_meta() or meta
            names = ("run_id", "mode", "initial_cash", "seed")
            diffs = [
                f"{name} stored {old!r}, given {new!r}"
                for name, old, new in zip(names, stored.identity(), meta.identity(), strict=True)
                if old != new
            ]
            if diffs:
                raise StorageError(
                    f"sqlite {self.path}: run_meta: the store belongs to another run: "
                    + "; ".join(diffs)
                )
            return stored

        return self._write("init_run", action)

    def run_meta(self) -> RunMeta | None:
        rows = self._read(
            "run_meta",
            "SELECT run_id, mode, initial_cash, seed, started_at, config FROM run_meta",
        )
        if not rows:
            return None
        run_id, mode, initial_cash, seed, started_at, config = rows[0]
        with self._guard("run_meta"):
            return RunMeta(
                run_id=run_id,
                mode=mode,
                initial_cash=initial_cash,
                seed=seed,
                started_at=self._at(started_at),
                config=json.loads(config),
            )

    # ------------------------------------------------------------------ orders

    def save_order(self, order: Order) -> None:
        try:
            row = order_row(order)
        except _ERRORS as exc:
            raise self._error(f"save_order {order.client_order_id}", exc) from exc
        self._execute(f"save_order {order.client_order_id}", UPSERT_ORDER, row)

    def _order(self, row: tuple[Any, ...]) -> Order:
        with self._guard(f"order {row[0]}"):
            return order_from_row(row, self._tz)

    def load_orders(self, open_only: bool = False) -> list[Order]:
        where = f" WHERE status IN {OPEN_STATUSES}" if open_only else ""
        rows = self._read(
            "load_orders", f"SELECT {ORDER_COLUMNS} FROM orders{where} ORDER BY rowid"
        )
        return [self._order(r) for r in rows]

    def get_order(self, client_order_id: str) -> Order | None:
        rows = self._read(
            f"get_order {client_order_id}",
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE client_order_id = ?",
            (client_order_id,),
        )
        return self._order(rows[0]) if rows else None

    # ------------------------------------------------------------------ fills and ledger

    def record_fill(
        self,
        fill: Fill,
        entry: LedgerEntry,
        order: Order,
        position: Position,
        cash: int,
        pending: dict[date, int],
    ) -> bool:
        what = f"record_fill {fill.fill_id}"
        mismatch = fill_mismatch(fill, entry, order, position)
        if mismatch:
            raise StorageError(f"sqlite {self.path}: {what}: {mismatch}")
        conn = self._conn
        try:
            fill_values = fill_row(fill)
            ledger_values = ledger_row(entry)
            order_values = order_row(order)
            position_values = position_row(position)
            pending_rows = [(d.isoformat(), amount) for d, amount in pending.items()]
            with self.transaction():
                if conn.execute(FILL_EXISTS, (fill.fill_id,)).fetchone():
                    return False  # already booked: nothing else may change
                # Parents before children, so every foreign key is checked at once.
                conn.execute(UPSERT_ORDER, order_values)
                conn.execute(INSERT_FILL, fill_values)
                conn.execute(INSERT_LEDGER, ledger_values)
                conn.execute(UPSERT_POSITION, position_values)
                conn.execute(UPSERT_CASH, (cash,))
                conn.execute(CLEAR_PENDING)
                conn.executemany(INSERT_PENDING, pending_rows)
            return True
        except _ERRORS as exc:
            raise self._error(what, exc) from exc

    def load_fills(self) -> list[Fill]:
        rows = self._read("load_fills", f"SELECT {FILL_COLUMNS} FROM fills ORDER BY rowid")
        with self._guard("load_fills"):
            return [fill_from_row(r, self._tz) for r in rows]

    def load_ledger(self) -> list[LedgerEntry]:
        rows = self._read("load_ledger", f"SELECT {LEDGER_COLUMNS} FROM t_ledger ORDER BY seq")
        with self._guard("load_ledger"):
            return [ledger_entry_from_row(r, self._tz) for r in rows]

    # ------------------------------------------------------------------ positions and account

    def load_positions(self) -> dict[str, Position]:
        rows = self._read(
            "load_positions", f"SELECT {POSITION_COLUMNS} FROM positions ORDER BY symbol"
        )
        with self._guard("load_positions"):
            return {r[0]: position_from_row(r, self._tz) for r in rows}

    def save_positions(self, positions: Iterable[Position]) -> None:
        with self._guard("save_positions"):
            rows = [position_row(p) for p in positions]
        self._write("save_positions", lambda c: c.executemany(UPSERT_POSITION, rows))

    def load_account(self) -> AccountState | None:
        cash_rows = self._read("load_account", "SELECT cash FROM account")
        if not cash_rows:
            return None
        pending_rows = self._read(
            "load_account", "SELECT settle_date, amount FROM account_pending ORDER BY settle_date"
        )
        with self._guard("load_account"):
            pending = {date.fromisoformat(d): amount for d, amount in pending_rows}
        return AccountState(cash=cash_rows[0][0], pending=pending)

    def save_account(self, state: AccountState) -> None:
        with self._guard("save_account"):
            pending_rows = [(d.isoformat(), amount) for d, amount in state.pending.items()]

        def action(conn: sqlite3.Connection) -> None:
            conn.execute(UPSERT_CASH, (state.cash,))
            conn.execute(CLEAR_PENDING)
            conn.executemany(INSERT_PENDING, pending_rows)

        self._write("save_account", action)

    # ------------------------------------------------------------------ decisions and PnL

    def record_decisions(self, rows: list[DecisionRecord]) -> None:
        with self._guard("record_decisions"):
            values = [decision_row(d) for d in rows]
        self._write("record_decisions", lambda c: c.executemany(INSERT_DECISION, values))

    def load_decisions(self, cycle_id: str | None = None) -> list[DecisionRecord]:
        sql = f"SELECT {DECISION_COLUMNS} FROM decision_log"
        params: tuple[Any, ...] = ()
        if cycle_id is not None:
            sql += " WHERE cycle_id = ?"
            params = (cycle_id,)
        rows = self._read("load_decisions", sql + " ORDER BY id", params)
        with self._guard("load_decisions"):
            return [decision_from_row(r, self._tz) for r in rows]

    def record_equity(self, point: EquityPoint) -> None:
        with self._guard("record_equity"):
            row = (
                utc_text(point.ts),
                point.cash,
                point.market_value,
                point.equity,
                point.realized,
                point.unrealized,
                point.fees,
            )
        self._execute("record_equity", UPSERT_EQUITY, row)

    def load_equity(self) -> list[EquityPoint]:
        rows = self._read("load_equity", f"SELECT {EQUITY_COLUMNS} FROM equity_history ORDER BY ts")
        with self._guard("load_equity"):
            return [EquityPoint(self._at(r[0]), r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]

    # ------------------------------------------------------------------ state documents

    def record_safety_event(self, event: SafetyEventRecord) -> None:
        with self._guard("record_safety_event"):
            row = (
                utc_text(event.ts),
                event.kind,
                event.code,
                event.message,
                event.state_before,
                event.state_after,
                event.operator,
            )
        self._execute(
            "record_safety_event",
            "INSERT INTO safety_events (ts, kind, code, message, state_before, state_after, "
            "operator) VALUES (?, ?, ?, ?, ?, ?, ?)",
            row,
        )

    def load_safety_events(self, limit: int | None = None) -> list[SafetyEventRecord]:
        sql = (
            "SELECT ts, kind, code, message, state_before, state_after, operator "
            "FROM safety_events ORDER BY id"
        )
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql = (
                "SELECT ts, kind, code, message, state_before, state_after, operator FROM "
                "(SELECT * FROM safety_events ORDER BY id DESC LIMIT ?) ORDER BY id"
            )
            params = (max(limit, 0),)
        rows = self._read("load_safety_events", sql, params)
        with self._guard("load_safety_events"):
            return [SafetyEventRecord(self._at(r[0]), *r[1:]) for r in rows]

    def record_capital_events(self, rows: list[CapitalEventRecord]) -> None:
        with self._guard("record_capital_events"):
            out = [(utc_text(r.ts), r.kind, strict_json(r.payload)) for r in rows]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT INTO capital_events (ts, kind, payload) VALUES (?, ?, ?)", out)

        if out:
            self._write("record_capital_events", write)

    def load_capital_events(
        self, kind: str | None = None, limit: int | None = None
    ) -> list[CapitalEventRecord]:
        where, params = ("WHERE kind = ?", (kind,)) if kind is not None else ("", ())
        sql = f"SELECT ts, kind, payload FROM capital_events {where} ORDER BY id"
        if limit is not None:
            sql = (
                f"SELECT ts, kind, payload FROM (SELECT * FROM capital_events {where} "
                "ORDER BY id DESC LIMIT ?) ORDER BY id"
            )
            params = (*params, max(limit, 0))
        rows = self._read("load_capital_events", sql, params)
        with self._guard("load_capital_events"):
            return [CapitalEventRecord(self._at(r[0]), r[1], json.loads(r[2])) for r in rows]

    def save_state(self, key: str, value: JsonDict) -> None:
        with self._guard(f"save_state {key}"):
            text = strict_json(value)
        self._execute(
            f"save_state {key}",
            "INSERT INTO state (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, text),
        )

    def load_state(self, key: str) -> JsonDict | None:
        rows = self._read(f"load_state {key}", "SELECT value FROM state WHERE key = ?", (key,))
        if not rows:
            return None
        with self._guard(f"load_state {key}"):
            value = json.loads(rows[0][0])
        if not isinstance(value, dict):
            raise StorageError(f"sqlite {self.path}: load_state {key}: not a JSON object")
        return value

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the connection; an open transaction is rolled back. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._depth = 0
            try:
                with self._guard("close"):
                    self._rollback()
                    self._conn.close()
            finally:
                self._release_writer()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _implements_port(store: SqliteStore) -> TradingStore:
    """Never called: makes mypy prove that SqliteStore satisfies the port."""
    return store
