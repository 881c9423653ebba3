""":class:`~qts.data.ports.TradingStore` on PostgreSQL, with SqliteStore's semantics exactly.

Values are checked by the same functions MemoryStore uses (the port's types; integral floats
and bools become ints, fractional floats and anything beyond 64 bits are refused) before they
reach the server, so all three adapters accept and refuse the same calls; the server then
enforces the invariants itself, as SQLite's triggers do: an order id never names two orders
(trigger), ledger seqs are consecutive and a fill is booked once (trigger on ``ledger_head``),
the ledger and the safety history are append-only (triggers).

Where PostgreSQL is narrower than SQLite: text may not contain NUL characters, and a JSON
document may not contain ``\\u0000`` (jsonb); both are refused with StorageError.

Timestamps are ``timestamptz`` (microseconds, as Python) and come back in ``tz`` (KST by
default). One store is one run: the schema holds one run's state, as one SQLite file does.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from qts.core.errors import StorageError
from qts.core.time import require_aware
from qts.data.capital_journal import CapitalEventRecord
from qts.data.checked_rows import (
    Row,
    as_int,
    as_pending,
    as_text,
    as_ts,
    as_ts_opt,
    make_decision_row,
    make_equity_row,
    make_fill_row,
    make_ledger_row,
    make_meta_row,
    make_order_row,
    make_position_row,
    make_safety_row,
)
from qts.data.ports import (
    AccountState,
    DecisionRecord,
    EquityPoint,
    JsonDict,
    RunMeta,
    SafetyEventRecord,
    TradingStore,
)
from qts.data.postgres.client import SchemaClient
from qts.data.postgres.database import (
    Connection,
    PostgresDatabase,
    Transaction,
)
from qts.data.postgres.writer_lock import PostgresWriterLock
from qts.data.records import fill_mismatch, strict_json
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track
from qts.model.fill import Fill
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.model.position import Position

_OPEN_STATUSES = "('NEW', 'SUBMITTED', 'PARTIALLY_FILLED')"


def _placeholders(n: int) -> str:
    return ", ".join(["%s"] * n)


_ORDER_COLUMNS = (
    "client_order_id, symbol, side, order_type, qty, created_at, limit_price, strategy, track, "
    "status, filled_qty, filled_amount, venue_order_id, reason, updated_at, fill_ids"
)
_UPSERT_ORDER = (
    f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES ({_placeholders(16)}) "
    "ON CONFLICT (client_order_id) DO UPDATE SET "
    "symbol = EXCLUDED.symbol, side = EXCLUDED.side, order_type = EXCLUDED.order_type, "
    "qty = EXCLUDED.qty, created_at = EXCLUDED.created_at, limit_price = EXCLUDED.limit_price, "
    "strategy = EXCLUDED.strategy, track = EXCLUDED.track, status = EXCLUDED.status, "
    "filled_qty = EXCLUDED.filled_qty, filled_amount = EXCLUDED.filled_amount, "
    "venue_order_id = EXCLUDED.venue_order_id, reason = EXCLUDED.reason, "
    "updated_at = EXCLUDED.updated_at, fill_ids = EXCLUDED.fill_ids"
)
_FILL_COLUMNS = "fill_id, client_order_id, symbol, side, qty, price, ts, commission, tax"
_INSERT_FILL = f"INSERT INTO fills ({_FILL_COLUMNS}) VALUES ({_placeholders(9)})"
_FILL_EXISTS = "SELECT 1 FROM fills WHERE fill_id = %s"
_LEDGER_COLUMNS = (
    "seq, ts, symbol, market, side, qty, price, amount, commission, tax, net_amount, "
    "client_order_id, fill_id, strategy, position_after, pnl, settle_date"
)
_INSERT_LEDGER = f"INSERT INTO t_ledger ({_LEDGER_COLUMNS}) VALUES ({_placeholders(17)})"
_POSITION_COLUMNS = (
    "symbol, qty, cost_basis, realized_pnl, last_price, opened_at, track, strategy, "
    "high_since_open, low_since_open"
)
_UPSERT_POSITION = (
    f"INSERT INTO positions ({_POSITION_COLUMNS}) VALUES ({_placeholders(10)}) "
    "ON CONFLICT (symbol) DO UPDATE SET "
    "qty = EXCLUDED.qty, cost_basis = EXCLUDED.cost_basis, "
    "realized_pnl = EXCLUDED.realized_pnl, last_price = EXCLUDED.last_price, "
    "opened_at = EXCLUDED.opened_at, track = EXCLUDED.track, strategy = EXCLUDED.strategy, "
    "high_since_open = EXCLUDED.high_since_open, low_since_open = EXCLUDED.low_since_open, "
    "updated_at = now()"
)
_UPSERT_CASH = (
    "INSERT INTO account (id, cash) VALUES (1, %s) "
    "ON CONFLICT (id) DO UPDATE SET cash = EXCLUDED.cash"
)
_CLEAR_PENDING = "DELETE FROM account_pending"
_INSERT_PENDING = "INSERT INTO account_pending (settle_date, amount) VALUES (%s, %s)"
_DECISION_COLUMNS = (
    "ts, cycle_id, symbol, action, strategy, price, qty, approved, reason, act_status, metadata"
)
_INSERT_DECISION = (
    f"INSERT INTO decision_log ({_DECISION_COLUMNS}) VALUES ({_placeholders(10)}, %s::jsonb)"
)
_EQUITY_COLUMNS = "ts, cash, market_value, equity, realized, unrealized, fees"
_UPSERT_EQUITY = (
    f"INSERT INTO equity_history ({_EQUITY_COLUMNS}) VALUES ({_placeholders(7)}) "
    "ON CONFLICT (ts) DO UPDATE SET cash = EXCLUDED.cash, market_value = EXCLUDED.market_value, "
    "equity = EXCLUDED.equity, realized = EXCLUDED.realized, unrealized = EXCLUDED.unrealized, "
    "fees = EXCLUDED.fees"
)
_SAFETY_COLUMNS = "ts, kind, code, message, state_before, state_after, operator"


def _order_params(o: Order) -> Row:
    row = make_order_row(o)
    return (*row[:15], sorted(row[15]))


class PostgresStore(SchemaClient):
    """:class:`~qts.data.ports.TradingStore` on one schema of a PostgreSQL database.

    Opened as :class:`~qts.data.postgres.client.SchemaClient` is. ``writer=True``: this store
    is the run's one writer of the schema's books and holds its writer lock
    (qts.data.postgres.writer_lock) until close, refusing every commit once the lock's session
    is lost; readers and tools leave it False.
    """

    def __init__(
        self, db: PostgresDatabase | str | None = None, *, writer: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(db, **kwargs)
        self.writer_lock: PostgresWriterLock | None = None
        if writer:
            try:
                self.writer_lock = PostgresWriterLock(self.db).acquire()
            except BaseException:
                super().close()
                raise
            self.db.before_commit = self.writer_lock.verify

    def close(self) -> None:
        """As :meth:`SchemaClient.close`, and let the books go (a clean stop leaves no holder)."""
        if self.closed:
            return
        super().close()
        lock, self.writer_lock = self.writer_lock, None
        if lock is not None:
            if self.db.before_commit == lock.verify:
                self.db.before_commit = None
            lock.release()

    # ------------------------------------------------------------------ plumbing

    def _error(self, what: str, exc: BaseException | str) -> StorageError:
        return self.db.error(what, exc)

    def _read(self, what: str, query: str, params: Row | None = None) -> list[Any]:
        self._check_open()
        return self.db.read(what, query, params)

    def _execute(self, what: str, query: str, params: Row) -> None:
        self._check_open()
        self.db.execute(what, query, params)

    def _at(self, value: datetime) -> datetime:
        return value.astimezone(self._tz)

    def _at_opt(self, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(self._tz)

    def transaction(self) -> Transaction:
        """One commit for everything inside; nested blocks are savepoints of the outer one."""
        self._check_open()
        return self.db.transaction()

    def status(self) -> dict[str, Any]:
        self._check_open()
        return self.db.status()

    # ------------------------------------------------------------------ run metadata

    def init_run(self, meta: RunMeta) -> RunMeta:
        """Store ``meta`` and open the account with its initial cash, or return the stored run."""
        self._check_open()

        def action(conn: Connection) -> RunMeta:
            stored = self.run_meta()
            if stored is None:
                run_id, mode, initial_cash, started_at, seed, config = make_meta_row(meta)
                conn.execute(
                    "INSERT INTO run_meta (id, run_id, mode, initial_cash, seed, started_at, "
                    "config) VALUES (1, %s, %s, %s, %s, %s, %s::jsonb)",
                    (run_id, mode, initial_cash, seed, started_at, config),
                )
                conn.execute(
                    "INSERT INTO account (id, cash) VALUES (1, %s) ON CONFLICT (id) DO NOTHING",
                    (initial_cash,),
                )
                return self.run_meta() or meta
            names = ("run_id", "mode", "initial_cash", "seed")
            diffs = [
                f"{name} stored {old!r}, given {new!r}"
                for name, old, new in zip(names, stored.identity(), meta.identity(), strict=True)
                if old != new
            ]
            if diffs:
                raise self._error(
                    "run_meta", "the store belongs to another run: " + "; ".join(diffs)
                )
            return stored

        return self.db.write("init_run", action)

    def run_meta(self) -> RunMeta | None:
        rows = self._read(
            "run_meta", "SELECT run_id, mode, initial_cash, seed, started_at, config FROM run_meta"
        )
        if not rows:
            return None
        run_id, mode, initial_cash, seed, started_at, config = rows[0]
        return RunMeta(
            run_id=run_id,
            mode=mode,
            initial_cash=initial_cash,
            seed=seed,
            started_at=self._at(started_at),
            config=config,
        )

    # ------------------------------------------------------------------ orders

    def save_order(self, order: Order) -> None:
        self._check_open()
        what = f"save_order {order.client_order_id}"
        with self.db.guard(what):
            params = _order_params(order)
        self._execute(what, _UPSERT_ORDER, params)

    def _order(self, r: Row) -> Order:
        with self.db.guard(f"order {r[0]}"):
            return Order(
                r[0],
                r[1],
                OrderSide(r[2]),
                OrderType(r[3]),
                r[4],
                self._at(r[5]),
                r[6],
                r[7],
                Track(r[8]),
                OrderStatus(r[9]),
                r[10],
                r[11],
                r[12],
                r[13],
                self._at_opt(r[14]),
                set(r[15]),
            )

    def load_orders(self, open_only: bool = False) -> list[Order]:
        where = f" WHERE status IN {_OPEN_STATUSES}" if open_only else ""
        rows = self._read(
            "load_orders", f"SELECT {_ORDER_COLUMNS} FROM orders{where} ORDER BY saved_seq"
        )
        return [self._order(r) for r in rows]

    def get_order(self, client_order_id: str) -> Order | None:
        rows = self._read(
            f"get_order {client_order_id}",
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = %s",
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
        self._check_open()
        what = f"record_fill {fill.fill_id}"
        mismatch = fill_mismatch(fill, entry, order, position)
        if mismatch:
            raise self._error(what, mismatch)

        def action(conn: Connection) -> bool:
            if conn.execute(_FILL_EXISTS, (fill.fill_id,)).fetchone():
                # Already booked: nothing may change. The timestamps are checked as SqliteStore
                # spells them before it looks (MemoryStore does the same).
                as_ts(fill.ts, "fill ts")
                as_ts(entry.ts, "ledger ts")
                as_ts(order.created_at, "order created_at")
                as_ts_opt(order.updated_at, "order updated_at")
                as_ts_opt(position.opened_at, "position opened_at")
                return False
            fill_row = make_fill_row(fill)
            ledger_row = make_ledger_row(entry)
            order_row = _order_params(order)
            position_row = make_position_row(position)
            cash_value = as_int(cash, "cash")
            pending_rows = sorted(as_pending(pending).items())
            # Parents before children, so every foreign key is checked at once.
            conn.execute(_UPSERT_ORDER, order_row)
            conn.execute(_INSERT_FILL, fill_row)
            conn.execute(_INSERT_LEDGER, ledger_row)
            conn.execute(_UPSERT_POSITION, position_row)
            conn.execute(_UPSERT_CASH, (cash_value,))
            conn.execute(_CLEAR_PENDING)
            if pending_rows:
                conn.cursor().executemany(_INSERT_PENDING, pending_rows)
            return True

        return self.db.write(what, action)

    def load_fills(self) -> list[Fill]:
        rows = self._read("load_fills", f"SELECT {_FILL_COLUMNS} FROM fills ORDER BY booked_seq")
        at = self._at
        with self.db.guard("load_fills"):
            return [
                Fill(r[0], r[1], r[2], OrderSide(r[3]), r[4], r[5], at(r[6]), r[7], r[8])
                for r in rows
            ]

    def load_ledger(self) -> list[LedgerEntry]:
        rows = self._read("load_ledger", f"SELECT {_LEDGER_COLUMNS} FROM t_ledger ORDER BY seq")
        at = self._at
        with self.db.guard("load_ledger"):
            return [LedgerEntry(r[0], at(r[1]), r[2], r[3], OrderSide(r[4]), *r[5:]) for r in rows]

    # ------------------------------------------------------------------ positions and account

    def load_positions(self) -> dict[str, Position]:
        rows = self._read(
            "load_positions",
            f'SELECT {_POSITION_COLUMNS} FROM positions ORDER BY symbol COLLATE "C"',
        )
        at_opt = self._at_opt
        with self.db.guard("load_positions"):
            return {
                r[0]: Position(
                    r[0], r[1], r[2], r[3], r[4], at_opt(r[5]), Track(r[6]), r[7], r[8], r[9]
                )
                for r in rows
            }

    def save_positions(self, positions: Iterable[Position]) -> None:
        self._check_open()
        with self.db.guard("save_positions"):
            rows = [make_position_row(p) for p in positions]
        if not rows:
            return
        if len(rows) == 1:
            self._execute("save_positions", _UPSERT_POSITION, rows[0])
            return
        self.db.write("save_positions", lambda c: c.cursor().executemany(_UPSERT_POSITION, rows))

    def load_account(self) -> AccountState | None:
        cash_rows = self._read("load_account", "SELECT cash FROM account")
        if not cash_rows:
            return None
        pending_rows = self._read(
            "load_account", "SELECT settle_date, amount FROM account_pending ORDER BY settle_date"
        )
        return AccountState(cash=cash_rows[0][0], pending=dict(pending_rows))

    def save_account(self, state: AccountState) -> None:
        self._check_open()
        with self.db.guard("save_account"):
            cash = as_int(state.cash, "cash")
            pending_rows = sorted(as_pending(state.pending).items())

        def action(conn: Connection) -> None:
            conn.execute(_UPSERT_CASH, (cash,))
            conn.execute(_CLEAR_PENDING)
            if pending_rows:
                conn.cursor().executemany(_INSERT_PENDING, pending_rows)

        self.db.write("save_account", action)

    # ------------------------------------------------------------------ decisions and PnL

    def record_decisions(self, rows: list[DecisionRecord]) -> None:
        self._check_open()
        with self.db.guard("record_decisions"):
            values = [make_decision_row(d) for d in rows]
        if not values:
            return
        if len(values) == 1:
            self._execute("record_decisions", _INSERT_DECISION, values[0])
            return
        self.db.write(
            "record_decisions", lambda c: c.cursor().executemany(_INSERT_DECISION, values)
        )

    def load_decisions(self, cycle_id: str | None = None) -> list[DecisionRecord]:
        query = f"SELECT {_DECISION_COLUMNS} FROM decision_log"
        params: Row = ()
        if cycle_id is not None:
            query += " WHERE cycle_id = %s"
            params = (cycle_id,)
        rows = self._read("load_decisions", query + " ORDER BY id", params)
        at = self._at
        return [DecisionRecord(at(r[0]), *r[1:]) for r in rows]

    def record_equity(self, point: EquityPoint) -> None:
        self._check_open()
        with self.db.guard("record_equity"):
            row = make_equity_row(point)
        self._execute("record_equity", _UPSERT_EQUITY, row)

    def load_equity(self) -> list[EquityPoint]:
        rows = self._read(
            "load_equity", f"SELECT {_EQUITY_COLUMNS} FROM equity_history ORDER BY ts"
        )
        at = self._at
        return [EquityPoint(at(r[0]), *r[1:]) for r in rows]

    # ------------------------------------------------------------------ safety history

    def record_safety_event(self, event: SafetyEventRecord) -> None:
        self._check_open()
        with self.db.guard("record_safety_event"):
            row = make_safety_row(event)
        self._execute(
            "record_safety_event",
            f"INSERT INTO safety_events ({_SAFETY_COLUMNS}) VALUES ({_placeholders(7)})",
            row,
        )

    def load_safety_events(self, limit: int | None = None) -> list[SafetyEventRecord]:
        query = f"SELECT {_SAFETY_COLUMNS} FROM safety_events ORDER BY id"
        params: Row = ()
        if limit is not None:
            query = (
                f"SELECT {_SAFETY_COLUMNS} FROM (SELECT * FROM safety_events ORDER BY id DESC "
                "LIMIT %s) AS last_events ORDER BY id"
            )
            params = (max(limit, 0),)
        rows = self._read("load_safety_events", query, params)
        at = self._at
        return [SafetyEventRecord(at(r[0]), *r[1:]) for r in rows]

    # ------------------------------------------------------------------ capital journal

    def record_capital_events(self, rows: list[CapitalEventRecord]) -> None:
        self._check_open()
        with self.db.guard("record_capital_events"):
            out = [
                (
                    require_aware(r.ts, "capital event ts"),
                    as_text(r.kind, "kind"),
                    strict_json(r.payload),
                )
                for r in rows
            ]
        if out:
            self.db.write(
                "record_capital_events",
                lambda c: c.cursor().executemany(
                    "INSERT INTO capital_events (ts, kind, payload) VALUES (%s, %s, %s::jsonb)",
                    out,
                ),
            )

    def load_capital_events(
        self, kind: str | None = None, limit: int | None = None
    ) -> list[CapitalEventRecord]:
        where, params = ("WHERE kind = %s", (kind,)) if kind is not None else ("", ())
        query = f"SELECT ts, kind, payload FROM capital_events {where} ORDER BY id"
        if limit is not None:
            query = (
                f"SELECT ts, kind, payload FROM (SELECT * FROM capital_events {where} "
                "ORDER BY id DESC LIMIT %s) AS last_events ORDER BY id"
            )
            params = (*params, max(limit, 0))
        rows = self._read("load_capital_events", query, params)
        return [CapitalEventRecord(self._at(r[0]), r[1], dict(r[2])) for r in rows]

    # ------------------------------------------------------------------ state documents

    def save_state(self, key: str, value: JsonDict) -> None:
        self._check_open()
        what = f"save_state {key}"
        with self.db.guard(what):
            name = as_text(key, "state key")
            text = strict_json(value)
        self._execute(
            what,
            "INSERT INTO state (key, value) VALUES (%s, %s::jsonb) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
            (name, text),
        )

    def load_state(self, key: str) -> JsonDict | None:
        rows = self._read(f"load_state {key}", "SELECT value FROM state WHERE key = %s", (key,))
        if not rows:
            return None
        value = rows[0][0]
        if not isinstance(value, dict):
            raise self._error(f"load_state {key}", "not a JSON object")
        return value

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _implements_port(store: PostgresStore) -> TradingStore:
    """Never called: makes mypy prove that PostgresStore satisfies the port."""
    return store
