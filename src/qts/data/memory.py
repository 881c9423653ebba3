"""The in-memory store: :class:`TradingStore` on plain Python containers, for backtests.

Backtests need no durability, and SQLite's per-fill cost was a large share of a backtest's time.
This store keeps the state in dicts and lists and behaves like :class:`SqliteStore` in every way
a caller can observe (the storage contract tests run against both): the same identity checks,
the same all-or-nothing writes, the same transaction nesting, values checked like the STRICT
schema checks them, timestamps returned in ``tz``, and every object handed in or out is a copy.

How it stays atomic: every write checks all its values before it changes anything, so a write
that fails has changed nothing. Inside :meth:`MemoryStore.transaction` each change also records
how to undo itself; a block that raises undoes its own changes, newest first, and the outermost
block drops the log when it ends. Outside a transaction nothing is logged.

Where SQLite and the port leave room, this store decides (and the contract tests pin the
common part):

- Values are checked against the port's declared types (:mod:`qts.data.checked_rows`, shared
  with PostgresStore). An integer column takes ``int``; ``bool``, ``int`` subclasses and
  integral floats become ``int`` as SQLite stores them; a fractional float, a numpy integer or
  anything beyond 64 bits is refused, as in SQLite. SQLite would also turn numeric text into an
  integer and a number into text; this store refuses both.
- Enum columns (side, type, status, track) take the enum or its text and come back as the enum.
  An unknown value is refused when saved; SQLite stores it and fails when loading it back.
- ``record_fill`` with a fill id already stored returns False after the consistency check and
  the timestamp check, without checking the other values: SqliteStore does exactly this much
  before it finds the fill id.
- A pending settlement must be keyed by a ``date``; SQLite would store a datetime key and then
  fail to load it back.
- A store belongs to the thread that created it (as a SQLite connection does); another thread
  gets StorageError.
- ``close`` undoes an open transaction, as SqliteStore's does, and drops the data: a closed
  store answers nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from qts.core.errors import StorageError
from qts.core.time import KST, require_aware
from qts.data.capital_journal import CapitalEventRecord
from qts.data.checked_rows import (
    I64_MAX,
    I64_MIN,
    Row,
    as_int,
    as_pending,
    as_text,
    as_ts,
    as_ts_opt,
    identity_clash,
    make_decision_row,
    make_equity_row,
    make_fill_row,
    make_ledger_row,
    make_meta_row,
    make_order_row,
    make_position_row,
    make_safety_row,
)
from qts.data.equity_columns import EquityColumns
from qts.data.ports import (
    AccountState,
    DecisionRecord,
    EquityPoint,
    JsonDict,
    RunMeta,
    SafetyEventRecord,
    TradingStore,
)

# Shared with SqliteStore on purpose: the same JSON spelling and the same consistency check.
from qts.data.records import fill_mismatch, strict_json
from qts.model.enums import OrderStatus
from qts.model.fill import Fill
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.model.position import Position

# What a check raises before it becomes StorageError (the same family SqliteStore converts).
_ERRORS = (ValueError, TypeError, OverflowError)
_OPEN = frozenset({OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED})
_MISSING: Any = object()


class MemoryStore:
    """:class:`~qts.data.ports.TradingStore` in this process's memory; gone when it closes.

    ``tz`` is the zone timestamps come back in (KST by default, as SqliteStore).
    """

    def __init__(self, *, tz: tzinfo = KST) -> None:
        self._tz = tz
        self._owner = threading.get_ident()
        self._closed = False
        self._depth = 0
        # Undo log of the open transaction: (dict, key, old value or _MISSING) or
        # (list, length before the append, None). None when no transaction is open.
        self._undo: list[tuple[Any, Any, Any]] | None = None
        self._init_tables()

    def _init_tables(self) -> None:
        # "meta": run_meta row; "account": (cash, pending dict). Single values live in a dict
        # so that one undo mechanism covers every change.
        self._cells: dict[str, Any] = {}
        self._orders: dict[str, Row] = {}  # insertion order is first-save order
        self._fills: dict[str, Row] = {}  # insertion order is booking order
        self._ledger: list[Row] = []
        self._positions: dict[str, Row] = {}
        self._decisions: list[Row] = []
        self._equity = EquityColumns()  # keyed by the UTC instant; int64 rows, time order
        self._safety: list[Row] = []  # append-only, in recording order
        self._state: dict[str, str] = {}  # JSON text, as SqliteStore keeps it
        self._capital: list[Row] = []  # capital journal, append-only

    # ------------------------------------------------------------------ plumbing

    def _check(self) -> None:
        if self._closed:
            raise StorageError("memory store: store is closed")
        if threading.get_ident() != self._owner:
            raise StorageError(
                "memory store: used from another thread; a store belongs to the thread that "
                "created it"
            )

    def _error(self, what: str, exc: BaseException | str) -> StorageError:
        return StorageError(f"memory store: {what}: {exc}")

    def _set(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        undo = self._undo
        if undo is not None:
            undo.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def _append(self, table: list[Row], rows: list[Row]) -> None:
        undo = self._undo
        if undo is not None:
            undo.append((table, len(table), None))
        table.extend(rows)

    def _undo_to(self, mark: int) -> None:
        """Undo the changes logged after ``mark``, newest first."""
        undo = self._undo
        if undo is None:
            return
        while len(undo) > mark:
            table, key, old = undo.pop()
            if type(table) is list:
                del table[key:]
            elif old is _MISSING:
                del table[key]
            else:
                table[key] = old

    def transaction(self) -> _Transaction:
        """One all-or-nothing unit; a nested block that raises undoes only itself."""
        return _Transaction(self)

    def _local(self, value: datetime) -> datetime:
        """The stored instant in the store's zone, as SqliteStore rebuilds it from UTC."""
        return value.astimezone(UTC).astimezone(self._tz)

    def _local_opt(self, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC).astimezone(self._tz)

    # ------------------------------------------------------------------ run metadata

    def init_run(self, meta: RunMeta) -> RunMeta:
        """Store ``meta`` and open the account with its initial cash, or return the stored run."""
        self._check()
        stored = self.run_meta()
        if stored is None:
            try:
                row = make_meta_row(meta)
            except _ERRORS as exc:
                raise self._error("init_run", exc) from exc
            self._set(self._cells, "meta", row)
            if "account" not in self._cells:
                self._set(self._cells, "account", (row[2], {}))
            return self.run_meta() or meta
        names = ("run_id", "mode", "initial_cash", "seed")
        diffs = [
            f"{name} stored {old!r}, given {new!r}"
            for name, old, new in zip(names, stored.identity(), meta.identity(), strict=True)
            if old != new
        ]
        if diffs:
            raise self._error("run_meta", "the store belongs to another run: " + "; ".join(diffs))
        return stored

    def run_meta(self) -> RunMeta | None:
        self._check()
        row = self._cells.get("meta")
        if row is None:
            return None
        try:
            return RunMeta(
                run_id=row[0],
                mode=row[1],
                initial_cash=row[2],
                started_at=self._local(row[3]),
                seed=row[4],
                config=json.loads(row[5]),
            )
        except _ERRORS as exc:
            raise self._error("run_meta", exc) from exc

    # ------------------------------------------------------------------ orders

    def save_order(self, order: Order) -> None:
        self._check()
        try:
            row = make_order_row(order)
        except _ERRORS as exc:
            raise self._error(f"save_order {order.client_order_id}", exc) from exc
        orders = self._orders
        old = orders.get(row[0])
        if old is not None:
            clash = identity_clash(old, row)
            if clash:
                raise self._error(f"save_order {order.client_order_id}", clash)
        self._set(orders, row[0], row)

    def _order(self, r: Row) -> Order:
        try:
            return Order(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                self._local(r[5]),
                r[6],
                r[7],
                r[8],
                r[9],
                r[10],
                r[11],
                r[12],
                r[13],
                self._local_opt(r[14]),
                set(r[15]),
            )
        except _ERRORS as exc:
            raise self._error(f"order {r[0]}", exc) from exc

    def load_orders(self, open_only: bool = False) -> list[Order]:
        self._check()
        rows: Iterable[Row] = self._orders.values()
        if open_only:
            rows = [r for r in rows if r[9] in _OPEN]
        return [self._order(r) for r in rows]

    def get_order(self, client_order_id: str) -> Order | None:
        self._check()
        row = self._orders.get(client_order_id)
        return None if row is None else self._order(row)

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
        self._check()
        mismatch = fill_mismatch(fill, entry, order, position)
        if mismatch:
            raise self._error(f"record_fill {fill.fill_id}", mismatch)
        if fill.fill_id in self._fills:
            # Already booked: nothing may change. SqliteStore spells every timestamp before it
            # looks, so a replay with a naive one is refused there; refuse it here too.
            try:
                as_ts(fill.ts, "fill ts")
                as_ts(entry.ts, "ledger ts")
                as_ts(order.created_at, "order created_at")
                as_ts_opt(order.updated_at, "order updated_at")
                as_ts_opt(position.opened_at, "position opened_at")
            except _ERRORS as exc:
                raise self._error(f"record_fill {fill.fill_id}", exc) from exc
            return False
        try:
            fill_row = make_fill_row(fill)
            ledger_row = make_ledger_row(entry)
            order_row = make_order_row(order)
            position_row = make_position_row(position)
            account = (as_int(cash, "cash"), as_pending(pending))
        except _ERRORS as exc:
            raise self._error(f"record_fill {fill.fill_id}", exc) from exc
        old = self._orders.get(order_row[0])
        if old is not None:
            clash = identity_clash(old, order_row)
            if clash:
                raise self._error(f"record_fill {fill.fill_id}", clash)
        ledger = self._ledger
        expected = ledger[-1][0] + 1 if ledger else 1
        if ledger_row[0] != expected:
            raise self._error(
                f"record_fill {fill.fill_id}",
                f"ledger seq {ledger_row[0]} does not follow the last entry (expected {expected})",
            )
        # Every check passed: from here on nothing can fail, so the fill is booked whole.
        self._set(self._orders, order_row[0], order_row)
        self._set(self._fills, fill_row[0], fill_row)
        self._append(ledger, [ledger_row])
        self._set(self._positions, position_row[0], position_row)
        self._set(self._cells, "account", account)
        return True

    def load_fills(self) -> list[Fill]:
        self._check()
        local = self._local
        try:
            return [
                Fill(r[0], r[1], r[2], r[3], r[4], r[5], local(r[6]), r[7], r[8])
                for r in self._fills.values()
            ]
        except _ERRORS as exc:
            raise self._error("load_fills", exc) from exc

    def load_ledger(self) -> list[LedgerEntry]:
        """Every ledger entry, by seq (the ledger only ever appends the next seq)."""
        self._check()
        local = self._local
        try:
            return [LedgerEntry(r[0], local(r[1]), *r[2:]) for r in self._ledger]
        except _ERRORS as exc:
            raise self._error("load_ledger", exc) from exc

    # ------------------------------------------------------------------ positions and account

    def load_positions(self) -> dict[str, Position]:
        self._check()
        positions = self._positions
        local_opt = self._local_opt
        try:
            return {
                symbol: Position(
                    r[0], r[1], r[2], r[3], r[4], local_opt(r[5]), r[6], r[7], r[8], r[9]
                )
                for symbol in sorted(positions)
                for r in (positions[symbol],)
            }
        except _ERRORS as exc:
            raise self._error("load_positions", exc) from exc

    def save_positions(self, positions: Iterable[Position]) -> None:
        """All rows checked first, then stored; the undo entries are logged inline.

        A backtest's commit stores every position with a new high or low each cycle (~180 at
        1,000 symbols): only its mark moved. A field still holding the very object the stored
        row holds was checked when that row was stored, so such a row is rebuilt from the
        stored one with only the mark (last price, high, low) checked; anything else is
        checked whole."""
        self._check()
        table = self._positions
        get = table.get
        rows: list[Row] = []
        add = rows.append
        try:
            for p in positions:
                sym = p.symbol
                old = get(sym) if type(sym) is str else None
                last, high, low = p.last_price, p.high_since_open, p.low_since_open
                if (
                    old is not None
                    and old[1] is p.qty
                    and old[2] is p.cost_basis
                    and old[3] is p.realized_pnl
                    and old[5] is p.opened_at
                    and old[6] is p.track
                    and old[7] is p.strategy
                    and type(last) is int
                    and I64_MIN <= last <= I64_MAX
                    and type(high) is int
                    and I64_MIN <= high <= I64_MAX
                    and type(low) is int
                    and I64_MIN <= low <= I64_MAX
                ):
                    add((sym, old[1], old[2], old[3], last, old[5], old[6], old[7], high, low))
                else:
                    add(make_position_row(p))
        except _ERRORS as exc:
            raise self._error("save_positions", exc) from exc
        undo = self._undo
        if undo is None:
            for row in rows:
                table[row[0]] = row
            return
        log, get = undo.append, table.get
        for row in rows:
            key = row[0]
            log((table, key, get(key, _MISSING)))
            table[key] = row

    def load_account(self) -> AccountState | None:
        self._check()
        account = self._cells.get("account")
        if account is None:
            return None
        cash, pending = account
        return AccountState(cash=cash, pending=dict(sorted(pending.items())))

    def save_account(self, state: AccountState) -> None:
        self._check()
        try:
            account = (as_int(state.cash, "cash"), as_pending(state.pending))
        except _ERRORS as exc:
            raise self._error("save_account", exc) from exc
        self._set(self._cells, "account", account)

    # ------------------------------------------------------------------ decisions and PnL

    def record_decisions(self, rows: list[DecisionRecord]) -> None:
        self._check()
        try:
            values = [make_decision_row(d) for d in rows]
        except _ERRORS as exc:
            raise self._error("record_decisions", exc) from exc
        if values:
            self._append(self._decisions, values)

    def load_decisions(self, cycle_id: str | None = None) -> list[DecisionRecord]:
        self._check()
        rows: Iterable[Row] = self._decisions
        if cycle_id is not None:
            rows = [r for r in rows if r[1] == cycle_id]
        local = self._local
        try:
            return [
                DecisionRecord(
                    local(r[0]),
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    r[7],
                    r[8],
                    r[9],
                    json.loads(r[10]),
                )
                for r in rows
            ]
        except _ERRORS as exc:
            raise self._error("load_decisions", exc) from exc

    def record_equity(self, point: EquityPoint) -> None:
        """One point per instant: the same instant in another zone replaces the point."""
        self._check()
        try:
            row = make_equity_row(point)
            key = row[0].astimezone(UTC)
        except _ERRORS as exc:
            raise self._error("record_equity", exc) from exc
        self._set(self._equity, key, row)  # type: ignore[arg-type]  # acts as the mapping

    def load_equity(self) -> list[EquityPoint]:
        self._check()
        equity = self._equity
        local = self._local
        try:
            return [EquityPoint(local(r[0]), *r[1:]) for r in equity.rows()]
        except _ERRORS as exc:
            raise self._error("load_equity", exc) from exc

    # ------------------------------------------------------------------ safety history

    def record_safety_event(self, event: SafetyEventRecord) -> None:
        self._check()
        try:
            row = make_safety_row(event)
        except _ERRORS as exc:
            raise self._error("record_safety_event", exc) from exc
        self._append(self._safety, [row])

    def load_safety_events(self, limit: int | None = None) -> list[SafetyEventRecord]:
        """In recording order; with ``limit``, only the last ``limit`` (none if it is <= 0)."""
        self._check()
        rows = self._safety
        if limit is not None:
            rows = rows[max(len(rows) - limit, 0) :] if limit > 0 else []
        local = self._local
        try:
            return [
                SafetyEventRecord(local(r[0]), r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows
            ]
        except _ERRORS as exc:
            raise self._error("load_safety_events", exc) from exc

    # ------------------------------------------------------------------ capital journal

    def record_capital_events(self, rows: list[CapitalEventRecord]) -> None:
        self._check()
        try:
            out = [
                (
                    require_aware(r.ts, "capital event ts").astimezone(UTC),
                    as_text(r.kind, "kind"),
                    strict_json(r.payload),
                )
                for r in rows
            ]
        except _ERRORS as exc:
            raise self._error("record_capital_events", exc) from exc
        self._append(self._capital, out)

    def load_capital_events(
        self, kind: str | None = None, limit: int | None = None
    ) -> list[CapitalEventRecord]:
        self._check()
        rows = [r for r in self._capital if kind is None or r[1] == kind]
        if limit is not None:
            rows = rows[max(len(rows) - limit, 0) :] if limit > 0 else []
        return [CapitalEventRecord(self._local(r[0]), r[1], json.loads(r[2])) for r in rows]

    # ------------------------------------------------------------------ state documents

    def save_state(self, key: str, value: JsonDict) -> None:
        self._check()
        try:
            name = as_text(key, "state key")
            text = strict_json(value)
        except _ERRORS as exc:
            raise self._error(f"save_state {key}", exc) from exc
        self._set(self._state, name, text)

    def load_state(self, key: str) -> JsonDict | None:
        self._check()
        text = self._state.get(key)
        if text is None:
            return None
        value = json.loads(text)
        if not isinstance(value, dict):
            raise self._error(f"load_state {key}", "not a JSON object")
        return value

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Undo an open transaction and drop the data. Safe to call twice."""
        if self._closed:
            return
        if threading.get_ident() != self._owner:
            self._check()  # raises: another thread may not close it either
        if self._undo is not None:
            self._undo_to(0)
        self._closed = True
        self._depth = 0
        self._undo = None
        self._init_tables()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    """Marks the undo log on entry; on an exception undoes back to the mark.

    The outermost block opens the log and drops it at the end (commit, or after undoing
    everything). A class rather than a generator: it runs around every write of a backtest.
    """

    __slots__ = ("_mark", "_store")

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._mark = 0

    def __enter__(self) -> None:
        store = self._store
        store._check()
        if store._undo is None:
            store._undo = []
        self._mark = len(store._undo)
        store._depth += 1

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        store = self._store
        if store._closed:  # close() inside the block already undid everything
            return
        store._depth -= 1
        if exc_type is not None:
            store._undo_to(self._mark)
        if store._depth == 0:
            store._undo = None


def _implements_port(store: MemoryStore) -> TradingStore:
    """Never called: makes mypy prove that MemoryStore satisfies the port."""
    return store
