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
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from qts.core.errors import StorageError
from qts.core.locks import STORE, OrderedLock
from qts.core.time import KST, from_iso, require_aware
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
from qts.data.writer_lock import WriterLock
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track
from qts.model.fill import Fill
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.model.position import Position

T = TypeVar("T")

# What a write can raise besides StorageError: driver errors, and serialisation errors (naive
# datetimes, non-JSON values, integers beyond 64 bits).
_ERRORS = (sqlite3.Error, ValueError, TypeError, OverflowError, AttributeError)

_OPEN_STATUSES = "('NEW', 'SUBMITTED', 'PARTIALLY_FILLED')"

# Each migration is applied once, in order, in its own transaction; its number is recorded in
# schema_version. Never edit a released migration: append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE run_meta (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            run_id TEXT NOT NULL,
            mode TEXT NOT NULL,
            initial_cash INTEGER NOT NULL CHECK (initial_cash >= 0),
            seed INTEGER,
            started_at TEXT NOT NULL,
            config TEXT NOT NULL
        ) STRICT""",
        """CREATE TABLE orders (
            client_order_id TEXT PRIMARY KEY,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
            order_type TEXT NOT NULL,
            qty INTEGER NOT NULL CHECK (qty > 0),
            limit_price INTEGER,
            created_at TEXT NOT NULL,
            strategy TEXT NOT NULL,
            track TEXT NOT NULL,
            status TEXT NOT NULL,
            filled_qty INTEGER NOT NULL CHECK (filled_qty BETWEEN 0 AND qty),
            filled_amount INTEGER NOT NULL CHECK (filled_amount >= 0),
            venue_order_id TEXT,
            reason TEXT NOT NULL,
            updated_at TEXT,
            fill_ids TEXT NOT NULL
        ) STRICT""",
        # load_orders(open_only=True) runs at every start and may run every cycle; without this
        # it scans every order the run ever made.
        f"""CREATE INDEX ix_orders_open ON orders (status)
            WHERE status IN {_OPEN_STATUSES}""",
        """CREATE TRIGGER orders_identity BEFORE UPDATE ON orders
            WHEN NEW.symbol IS NOT OLD.symbol OR NEW.side IS NOT OLD.side
              OR NEW.order_type IS NOT OLD.order_type OR NEW.qty IS NOT OLD.qty
              OR NEW.limit_price IS NOT OLD.limit_price OR NEW.created_at IS NOT OLD.created_at
            BEGIN SELECT RAISE(ABORT, 'client order id already names a different order'); END""",
        """CREATE TABLE fills (
            fill_id TEXT PRIMARY KEY,
            client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),
            symbol TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
            qty INTEGER NOT NULL CHECK (qty > 0),
            price INTEGER NOT NULL CHECK (price > 0),
            ts TEXT NOT NULL,
            commission INTEGER NOT NULL CHECK (commission >= 0),
            tax INTEGER NOT NULL CHECK (tax >= 0)
        ) STRICT""",
        """CREATE TABLE t_ledger (
            seq INTEGER PRIMARY KEY CHECK (seq > 0),
            ts TEXT NOT NULL,
            symbol TEXT NOT NULL,
            market TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
            qty INTEGER NOT NULL CHECK (qty > 0),
            price INTEGER NOT NULL,
            amount INTEGER NOT NULL,
            commission INTEGER NOT NULL,
            tax INTEGER NOT NULL,
            net_amount INTEGER NOT NULL,
            client_order_id TEXT NOT NULL,
            fill_id TEXT NOT NULL UNIQUE REFERENCES fills (fill_id),
            strategy TEXT NOT NULL,
            position_after INTEGER NOT NULL,
            pnl INTEGER NOT NULL,
            settle_date TEXT NOT NULL
        ) STRICT""",
        """CREATE TRIGGER t_ledger_seq BEFORE INSERT ON t_ledger
            WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM t_ledger)
            BEGIN SELECT RAISE(ABORT, 'ledger seq does not follow the last entry'); END""",
        """CREATE TRIGGER t_ledger_no_update BEFORE UPDATE ON t_ledger
            BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END""",
        """CREATE TRIGGER t_ledger_no_delete BEFORE DELETE ON t_ledger
            BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END""",
        """CREATE TABLE positions (
            symbol TEXT PRIMARY KEY,
            qty INTEGER NOT NULL CHECK (qty >= 0),
            cost_basis INTEGER NOT NULL,
            realized_pnl INTEGER NOT NULL,
            last_price INTEGER NOT NULL,
            opened_at TEXT,
            track TEXT NOT NULL,
            strategy TEXT NOT NULL,
            high_since_open INTEGER NOT NULL,
            low_since_open INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE account (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            cash INTEGER NOT NULL
        ) STRICT""",
        """CREATE TABLE account_pending (
            settle_date TEXT PRIMARY KEY,
            amount INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE decision_log (
            id INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            cycle_id TEXT NOT NULL,
            symbol TEXT NOT NULL,
            action TEXT NOT NULL,
            strategy TEXT NOT NULL,
            price INTEGER,
            qty INTEGER,
            approved INTEGER NOT NULL CHECK (approved IN (0, 1)),
            reason TEXT NOT NULL,
            act_status TEXT NOT NULL,
            metadata TEXT NOT NULL
        ) STRICT""",
        # load_decisions(cycle_id) answers "what did cycle X decide" during recovery and audit.
        "CREATE INDEX ix_decision_log_cycle ON decision_log (cycle_id)",
        """CREATE TABLE equity_history (
            ts TEXT PRIMARY KEY,
            cash INTEGER NOT NULL,
            market_value INTEGER NOT NULL,
            equity INTEGER NOT NULL,
            realized INTEGER NOT NULL,
            unrealized INTEGER NOT NULL,
            fees INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) STRICT, WITHOUT ROWID""",
    ),
    (
        """CREATE TABLE safety_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts TEXT NOT NULL,
            kind TEXT NOT NULL,
            code TEXT NOT NULL,
            message TEXT NOT NULL,
            state_before TEXT NOT NULL,
            state_after TEXT NOT NULL,
            operator TEXT NOT NULL
        ) STRICT""",
        # the history is append-only, like the ledger
        """CREATE TRIGGER safety_events_append_only_update BEFORE UPDATE ON safety_events
           BEGIN SELECT RAISE(ABORT, 'safety_events is append-only'); END""",
        """CREATE TRIGGER safety_events_append_only_delete BEFORE DELETE ON safety_events
           BEGIN SELECT RAISE(ABORT, 'safety_events is append-only'); END""",
    ),
    (
        # the capital journal: state transitions, pool transfers, locks, daily pool balances
        """CREATE TABLE capital_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX ix_capital_events_kind ON capital_events (kind, id)",
        """CREATE TRIGGER capital_events_append_only_update BEFORE UPDATE ON capital_events
           BEGIN SELECT RAISE(ABORT, 'capital_events is append-only'); END""",
        """CREATE TRIGGER capital_events_append_only_delete BEFORE DELETE ON capital_events
           BEGIN SELECT RAISE(ABORT, 'capital_events is append-only'); END""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

_ORDER_COLUMNS = (
    "client_order_id, symbol, side, order_type, qty, limit_price, created_at, strategy, track, "
    "status, filled_qty, filled_amount, venue_order_id, reason, updated_at, fill_ids"
)
_UPSERT_ORDER = (
    f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES ({', '.join('?' * 16)}) "
    "ON CONFLICT (client_order_id) DO UPDATE SET "
    "symbol = excluded.symbol, side = excluded.side, order_type = excluded.order_type, "
    "qty = excluded.qty, limit_price = excluded.limit_price, created_at = excluded.created_at, "
    "strategy = excluded.strategy, track = excluded.track, status = excluded.status, "
    "filled_qty = excluded.filled_qty, filled_amount = excluded.filled_amount, "
    "venue_order_id = excluded.venue_order_id, reason = excluded.reason, "
    "updated_at = excluded.updated_at, fill_ids = excluded.fill_ids"
)
_FILL_EXISTS = "SELECT 1 FROM fills WHERE fill_id = ?"
_CLEAR_PENDING = "DELETE FROM account_pending"
_INSERT_PENDING = "INSERT INTO account_pending (settle_date, amount) VALUES (?, ?)"
_FILL_COLUMNS = "fill_id, client_order_id, symbol, side, qty, price, ts, commission, tax"
_INSERT_FILL = f"INSERT INTO fills ({_FILL_COLUMNS}) VALUES ({', '.join('?' * 9)})"
_LEDGER_COLUMNS = (
    "seq, ts, symbol, market, side, qty, price, amount, commission, tax, net_amount, "
    "client_order_id, fill_id, strategy, position_after, pnl, settle_date"
)
_INSERT_LEDGER = f"INSERT INTO t_ledger ({_LEDGER_COLUMNS}) VALUES ({', '.join('?' * 17)})"
_POSITION_COLUMNS = (
    "symbol, qty, cost_basis, realized_pnl, last_price, opened_at, track, strategy, "
    "high_since_open, low_since_open"
)
_UPSERT_POSITION = (
    f"INSERT INTO positions ({_POSITION_COLUMNS}) VALUES ({', '.join('?' * 10)}) "
    "ON CONFLICT (symbol) DO UPDATE SET "
    "qty = excluded.qty, cost_basis = excluded.cost_basis, "
    "realized_pnl = excluded.realized_pnl, last_price = excluded.last_price, "
    "opened_at = excluded.opened_at, track = excluded.track, strategy = excluded.strategy, "
    "high_since_open = excluded.high_since_open, low_since_open = excluded.low_since_open"
)
_UPSERT_CASH = (
    "INSERT INTO account (id, cash) VALUES (1, ?) "
    "ON CONFLICT (id) DO UPDATE SET cash = excluded.cash"
)
_DECISION_COLUMNS = (
    "ts, cycle_id, symbol, action, strategy, price, qty, approved, reason, act_status, metadata"
)
_INSERT_DECISION = f"INSERT INTO decision_log ({_DECISION_COLUMNS}) VALUES ({', '.join('?' * 11)})"
_EQUITY_COLUMNS = "ts, cash, market_value, equity, realized, unrealized, fees"
_UPSERT_EQUITY = (
    f"INSERT INTO equity_history ({_EQUITY_COLUMNS}) VALUES ({', '.join('?' * 7)}) "
    "ON CONFLICT (ts) DO UPDATE SET cash = excluded.cash, market_value = excluded.market_value, "
    "equity = excluded.equity, realized = excluded.realized, unrealized = excluded.unrealized, "
    "fees = excluded.fees"
)


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


@lru_cache(maxsize=4096)
def _ts(value: datetime) -> str:
    """Fixed-width UTC text, so text order is time order and one instant has one spelling.

    Cached: a cycle writes the same few instants many times (orders, fills, decisions)."""
    return require_aware(value).astimezone(UTC).isoformat(timespec="microseconds")


def _ts_opt(value: datetime | None) -> str | None:
    return None if value is None else _ts(value)


def _order_row(o: Order) -> tuple[Any, ...]:
    return (
        o.client_order_id,
        o.symbol,
        str(o.side),
        str(o.order_type),
        o.qty,
        o.limit_price,
        _ts(o.created_at),
        o.strategy,
        str(o.track),
        str(o.status),
        o.filled_qty,
        o.filled_amount,
        o.venue_order_id,
        o.reason,
        _ts_opt(o.updated_at),
        strict_json(sorted(o.fill_ids)),
    )


def _fill_row(f: Fill) -> tuple[Any, ...]:
    return (
        f.fill_id,
        f.client_order_id,
        f.symbol,
        str(f.side),
        f.qty,
        f.price,
        _ts(f.ts),
        f.commission,
        f.tax,
    )


def _ledger_row(e: LedgerEntry) -> tuple[Any, ...]:
    return (
        e.seq,
        _ts(e.ts),
        e.symbol,
        e.market,
        str(e.side),
        e.qty,
        e.price,
        e.amount,
        e.commission,
        e.tax,
        e.net_amount,
        e.client_order_id,
        e.fill_id,
        e.strategy,
        e.position_after,
        e.pnl,
        e.settle_date,
    )


def _position_row(p: Position) -> tuple[Any, ...]:
    return (
        p.symbol,
        p.qty,
        p.cost_basis,
        p.realized_pnl,
        p.last_price,
        _ts_opt(p.opened_at),
        str(p.track),
        p.strategy,
        p.high_since_open,
        p.low_since_open,
    )


def _decision_row(d: DecisionRecord) -> tuple[Any, ...]:
    return (
        _ts(d.ts),
        d.cycle_id,
        d.symbol,
        d.action,
        d.strategy,
        d.price,
        d.qty,
        int(d.approved),
        d.reason,
        d.act_status,
        strict_json(d.metadata),
    )


class SqliteStore:
    """:class:`~qts.data.ports.TradingStore` on one SQLite database.

    ``path`` may be ``":memory:"`` (backtests). Opening creates the file and applies any missing
    schema migrations; a file written by a newer schema is refused.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        durable: bool = True,
        tz: tzinfo = KST,
        writer: bool = False,
    ) -> None:
        self.path = str(path)
        self.durable = durable
        self._tz = tz
        self._depth = 0
        self._closed = False
        self._failed: StorageError | None = None  # the environment failure that stopped writes
        self._lock = OrderedLock(f"store {self.path}", STORE)  # last in the lock order
        # writer=True: this connection is the run's one writer of the file and holds its lock
        # (qts.data.writer_lock) until close; readers and tools leave it False.
        self.writer_lock: WriterLock | None = None
        if writer and self.path != ":memory:" and not self.path.startswith("file:"):
            self.writer_lock = WriterLock(self.path).acquire()
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            self._release_writer()
            raise StorageError(f"sqlite {self.path}: cannot open: {exc}") from exc
        try:
            with self._guard("configure"):
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")
                self._conn.execute("PRAGMA foreign_keys = ON")
                self._conn.execute("PRAGMA busy_timeout = 5000")
            self._migrate()
        except BaseException:
            self._conn.close()
            self._release_writer()
            raise

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

    def transaction(self) -> _Transaction:
        """One commit for everything inside; nested blocks are savepoints of the outer one."""
        return _Transaction(self)

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
        return from_iso(text).astimezone(self._tz)

    def _at_opt(self, text: str | None) -> datetime | None:
        return None if text is None else self._at(text)

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
                        _ts(meta.started_at),
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
            row = _order_row(order)
        except _ERRORS as exc:
            raise self._error(f"save_order {order.client_order_id}", exc) from exc
        self._execute(f"save_order {order.client_order_id}", _UPSERT_ORDER, row)

    def _order(self, row: tuple[Any, ...]) -> Order:
        with self._guard(f"order {row[0]}"):
            return Order(
                client_order_id=row[0],
                symbol=row[1],
                side=OrderSide(row[2]),
                order_type=OrderType(row[3]),
                qty=row[4],
                limit_price=row[5],
                created_at=self._at(row[6]),
                strategy=row[7],
                track=Track(row[8]),
                status=OrderStatus(row[9]),
                filled_qty=row[10],
                filled_amount=row[11],
                venue_order_id=row[12],
                reason=row[13],
                updated_at=self._at_opt(row[14]),
                fill_ids=set(json.loads(row[15])),
            )

    def load_orders(self, open_only: bool = False) -> list[Order]:
        where = f" WHERE status IN {_OPEN_STATUSES}" if open_only else ""
        rows = self._read(
            "load_orders", f"SELECT {_ORDER_COLUMNS} FROM orders{where} ORDER BY rowid"
        )
        return [self._order(r) for r in rows]

    def get_order(self, client_order_id: str) -> Order | None:
        rows = self._read(
            f"get_order {client_order_id}",
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = ?",
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
            fill_row = _fill_row(fill)
            ledger_row = _ledger_row(entry)
            order_row = _order_row(order)
            position_row = _position_row(position)
            pending_rows = [(d.isoformat(), amount) for d, amount in pending.items()]
            with self.transaction():
                if conn.execute(_FILL_EXISTS, (fill.fill_id,)).fetchone():
                    return False  # already booked: nothing else may change
                # Parents before children, so every foreign key is checked at once.
                conn.execute(_UPSERT_ORDER, order_row)
                conn.execute(_INSERT_FILL, fill_row)
                conn.execute(_INSERT_LEDGER, ledger_row)
                conn.execute(_UPSERT_POSITION, position_row)
                conn.execute(_UPSERT_CASH, (cash,))
                conn.execute(_CLEAR_PENDING)
                conn.executemany(_INSERT_PENDING, pending_rows)
            return True
        except _ERRORS as exc:
            raise self._error(what, exc) from exc

    def load_fills(self) -> list[Fill]:
        rows = self._read("load_fills", f"SELECT {_FILL_COLUMNS} FROM fills ORDER BY rowid")
        with self._guard("load_fills"):
            return [
                Fill(
                    fill_id=r[0],
                    client_order_id=r[1],
                    symbol=r[2],
                    side=OrderSide(r[3]),
                    qty=r[4],
                    price=r[5],
                    ts=self._at(r[6]),
                    commission=r[7],
                    tax=r[8],
                )
                for r in rows
            ]

    def load_ledger(self) -> list[LedgerEntry]:
        rows = self._read("load_ledger", f"SELECT {_LEDGER_COLUMNS} FROM t_ledger ORDER BY seq")
        with self._guard("load_ledger"):
            return [
                LedgerEntry(
                    seq=r[0],
                    ts=self._at(r[1]),
                    symbol=r[2],
                    market=r[3],
                    side=OrderSide(r[4]),
                    qty=r[5],
                    price=r[6],
                    amount=r[7],
                    commission=r[8],
                    tax=r[9],
                    net_amount=r[10],
                    client_order_id=r[11],
                    fill_id=r[12],
                    strategy=r[13],
                    position_after=r[14],
                    pnl=r[15],
                    settle_date=r[16],
                )
                for r in rows
            ]

    # ------------------------------------------------------------------ positions and account

    def load_positions(self) -> dict[str, Position]:
        rows = self._read(
            "load_positions", f"SELECT {_POSITION_COLUMNS} FROM positions ORDER BY symbol"
        )
        with self._guard("load_positions"):
            return {
                r[0]: Position(
                    symbol=r[0],
                    qty=r[1],
                    cost_basis=r[2],
                    realized_pnl=r[3],
                    last_price=r[4],
                    opened_at=self._at_opt(r[5]),
                    track=Track(r[6]),
                    strategy=r[7],
                    high_since_open=r[8],
                    low_since_open=r[9],
                )
                for r in rows
            }

    def save_positions(self, positions: Iterable[Position]) -> None:
        with self._guard("save_positions"):
            rows = [_position_row(p) for p in positions]
        self._write("save_positions", lambda c: c.executemany(_UPSERT_POSITION, rows))

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
            conn.execute(_UPSERT_CASH, (state.cash,))
            conn.execute(_CLEAR_PENDING)
            conn.executemany(_INSERT_PENDING, pending_rows)

        self._write("save_account", action)

    # ------------------------------------------------------------------ decisions and PnL

    def record_decisions(self, rows: list[DecisionRecord]) -> None:
        with self._guard("record_decisions"):
            values = [_decision_row(d) for d in rows]
        self._write("record_decisions", lambda c: c.executemany(_INSERT_DECISION, values))

    def load_decisions(self, cycle_id: str | None = None) -> list[DecisionRecord]:
        sql = f"SELECT {_DECISION_COLUMNS} FROM decision_log"
        params: tuple[Any, ...] = ()
        if cycle_id is not None:
            sql += " WHERE cycle_id = ?"
            params = (cycle_id,)
        rows = self._read("load_decisions", sql + " ORDER BY id", params)
        with self._guard("load_decisions"):
            return [
                DecisionRecord(
                    ts=self._at(r[0]),
                    cycle_id=r[1],
                    symbol=r[2],
                    action=r[3],
                    strategy=r[4],
                    price=r[5],
                    qty=r[6],
                    approved=bool(r[7]),
                    reason=r[8],
                    act_status=r[9],
                    metadata=json.loads(r[10]),
                )
                for r in rows
            ]

    def record_equity(self, point: EquityPoint) -> None:
        with self._guard("record_equity"):
            row = (
                _ts(point.ts),
                point.cash,
                point.market_value,
                point.equity,
                point.realized,
                point.unrealized,
                point.fees,
            )
        self._execute("record_equity", _UPSERT_EQUITY, row)

    def load_equity(self) -> list[EquityPoint]:
        rows = self._read(
            "load_equity", f"SELECT {_EQUITY_COLUMNS} FROM equity_history ORDER BY ts"
        )
        with self._guard("load_equity"):
            return [EquityPoint(self._at(r[0]), r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]

    # ------------------------------------------------------------------ state documents

    def record_safety_event(self, event: SafetyEventRecord) -> None:
        with self._guard("record_safety_event"):
            row = (
                _ts(event.ts),
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
            out = [(_ts(r.ts), r.kind, strict_json(r.payload)) for r in rows]

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


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT at the outermost level, SAVEPOINT ... RELEASE inside it.

    IMMEDIATE takes the write lock at the start, so a transaction never fails halfway for want
    of it. A class rather than a generator: it runs around every write of a backtest.
    """

    __slots__ = ("_savepoint", "_store")

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._savepoint: str | None = None

    def __enter__(self) -> None:
        store = self._store
        store._lock.acquire()
        try:
            store._check_writable()
            depth = store._depth
            if depth == 0:
                store._conn.execute("BEGIN IMMEDIATE")
            else:
                self._savepoint = f"qts_sp{depth}"
                store._conn.execute(f"SAVEPOINT {self._savepoint}")
        except BaseException as exc:
            store._lock.release()
            if isinstance(exc, sqlite3.Error):
                raise store._error("begin", exc) from exc
            raise
        store._depth = depth + 1

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            self._end(exc_type)
        finally:
            self._store._lock.release()

    def _end(self, exc_type: type[BaseException] | None) -> None:
        store = self._store
        if store._closed:  # close() inside the block already rolled back
            return
        store._depth -= 1
        conn = store._conn
        name = self._savepoint
        try:
            if name is not None:
                if exc_type is not None:
                    conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            elif exc_type is not None:
                store._rollback()
            else:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error:
                    store._rollback()
                    raise
        except sqlite3.Error as exc:
            raise store._error("commit" if name is None else "savepoint", exc) from exc


def _implements_port(store: SqliteStore) -> TradingStore:
    """Never called: makes mypy prove that SqliteStore satisfies the port."""
    return store
