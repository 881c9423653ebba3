"""``SheetsStore``: the :class:`~qts.data.ports.TradingStore` port on one Google spreadsheet.

Where things live (see docs/sheets.md):

- QTS's exact records are in QTS-owned sheets, one column per field of the port, every value
  written as text (so integers beyond 2^53 and ids like "005930" survive): ``_QTS_Run``,
  ``_QTS_Orders``, ``_QTS_Fills``, ``_QTS_Ledger``, ``_QTS_Positions``, ``_QTS_Account``,
  ``_QTS_Decisions``, ``_QTS_Equity``, ``_QTS_Safety``, ``_QTS_State`` (and ``_QTS_Schema``, the
  layout version). These are what a restart loads.
- The user sheets the operator knows are views rendered from those records and written in the
  same request: ``Position`` (one row per symbol), ``T_Ledger`` (one row per fill) and
  ``History`` (one row per KST day: equity, daily PnL and returns, high watermark, drawdown,
  MDD). Their numbers are real numbers, so the operator's formulas and charts work on them.
  An operator's edit there is replaced at the next write that touches the view.

How a write works: the state is mirrored in memory by a :class:`~qts.data.memory.MemoryStore`,
which checks every value and keeps the port's semantics exactly (identity checks, idempotent
fills, nested transactions, copies). A write outside a transaction changes the mirror, renders
the sheets it touched, compares them with what the spreadsheet holds, and sends only the rows
that differ in **one** ``values:batchUpdate`` — Google applies it all or not at all — before it
returns. If the request fails (after the client's retries), the mirror is rolled back and the
write raises StorageError: the store then holds exactly what it held before. Inside
:meth:`SheetsStore.transaction` the writes collect in the mirror and the outermost block sends
them in one request when it ends. Every write is a range write with fixed values, so a retry
after an ambiguous failure (a 5xx after Google applied it) writes the same cells again and
duplicates nothing; after a failure the touched sheets are rewritten whole at the next write.

Reads are answered from the mirror: the spreadsheet is read once when the store opens (one
metadata read and one ``values:batchGet``), which keeps a running system far below the
60-reads-per-minute quota. :meth:`SheetsStore.refresh` reads it again.

The schema guard runs when the store opens, before anything is read into the mirror or written,
and again before a write when ``recheck_s`` seconds have passed since the last check: a renamed,
missing or moved column raises :class:`~qts.data.sheets.guard.SchemaMismatchError` (FS001) and
nothing is written. A spreadsheet with no QTS sheets is initialised (sheets added, header rows
and the schema version written); one that has QTS data but no recorded version is refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, tzinfo
from typing import Any, TypeVar

from qts.core.errors import StorageError
from qts.core.time import KST
from qts.data.memory import MemoryStore
from qts.data.ports import (
    AccountState,
    DecisionRecord,
    EquityPoint,
    JsonDict,
    RunMeta,
    SafetyEventRecord,
    TradingStore,
)
from qts.data.sheets.a1 import a1
from qts.data.sheets.bootstrap import GROW_ROWS, bootstrap_spreadsheet
from qts.data.sheets.client import SheetInfo, SheetsClient, SheetsError
from qts.data.sheets.diff import check_sizes, norm, pad, runs
from qts.data.sheets.guard import SchemaMismatchError, check, guard, recorded_version
from qts.data.sheets.model import (
    HISTORY,
    POSITION,
    QTS_ACCOUNT,
    QTS_DECISIONS,
    QTS_EQUITY,
    QTS_FILLS,
    QTS_LEDGER,
    QTS_ORDERS,
    QTS_POSITIONS,
    QTS_RUN,
    QTS_SAFETY,
    QTS_SCHEMA,
    QTS_SHEETS,
    QTS_STATE,
    REGISTRY,
    T_LEDGER,
    Registry,
    SheetSpec,
)
from qts.data.sheets.render import render
from qts.data.sheets.rows import Parsed, Rows
from qts.data.sheets.transaction import Transaction
from qts.model.fill import Fill
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.model.position import Position

__all__ = ["VIEWS", "SheetsStore", "bootstrap_spreadsheet"]

T = TypeVar("T")
log = logging.getLogger("qts.data.sheets")

VIEWS = (POSITION, T_LEDGER, HISTORY)

# What each write touches.
_RUN = {QTS_RUN.name, QTS_ACCOUNT.name, HISTORY.name}
_FILL = {
    QTS_ORDERS.name,
    QTS_FILLS.name,
    QTS_LEDGER.name,
    QTS_POSITIONS.name,
    QTS_ACCOUNT.name,
    POSITION.name,
    T_LEDGER.name,
}
_POSITIONS = {QTS_POSITIONS.name, POSITION.name}


class SheetsStore:
    """:class:`TradingStore` on one spreadsheet reached through ``client``.

    ``views``: also keep Position, T_Ledger and History up to date. ``recheck_s``: re-run the
    schema guard before a write once this many seconds have passed since the last check (None:
    only when opening). ``close_client``: close ``client`` with the store.
    """

    def __init__(
        self,
        client: SheetsClient,
        *,
        tz: tzinfo = KST,
        views: bool = True,
        recheck_s: float | None = 60.0,
        initial_rows: int = GROW_ROWS,
        close_client: bool = False,
        clock: Callable[[], float] = time.monotonic,
        registry: Registry = REGISTRY,
    ) -> None:
        self._client = client
        self._tz = tz
        self._views = views
        self._recheck_s = recheck_s
        self._initial_rows = initial_rows
        self._close_client = close_client
        self._clock = clock
        self._registry = registry
        self._specs: tuple[SheetSpec, ...] = (*QTS_SHEETS, *(VIEWS if views else ()))
        self._closed = False
        self._depth = 0
        self._dirty: set[str] = set()
        self._synced: dict[str, list[tuple[str, ...]]] = {}
        self._unknown: dict[str, int] = {}  # sheet -> rows that may hold data after a failure
        self._grid: dict[str, SheetInfo] = {}
        self._state_keys: set[str] = set()
        self._checked_at = 0.0
        self.view_drift: list[str] = []
        self._mem = MemoryStore(tz=tz)
        try:
            self._open()
        except BaseException:
            self._mem.close()
            if close_client:
                client.close()
            raise

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **kwargs: Any) -> SheetsStore:
        """Open the spreadsheet named by ``GOOGLE_SHEET_KEY`` with the service account in
        ``GOOGLE_CREDENTIALS_FILE``."""
        client = SheetsClient.from_env(env)
        return cls(client, close_client=True, **kwargs)

    # ------------------------------------------------------------------ opening

    @property
    def name(self) -> str:
        return f"sheets {self._client.key}"

    def _open(self) -> None:
        meta = self._client.metadata()
        self._grid = meta.by_title()
        names = [s.name for s in self._specs]
        present = [n for n in names if n in self._grid]
        values = self._client.batch_get([a1(n) for n in present]) if present else []
        content: dict[str, Rows] = dict(zip(present, values, strict=True))
        version = recorded_version(content.get(QTS_SCHEMA.name, [])[1:])
        if version is None:
            content = self._initialise(content)
            version = self._registry.version
        found: dict[str, Sequence[Any] | None] = {}
        for n in names:
            rows = content.get(n)
            found[n] = None if rows is None else (rows[0] if rows else [])
        problems = check(found, self._registry, version)
        if problems:
            raise SchemaMismatchError(problems, f"spreadsheet {self._client.key}")
        self._checked_at = self._clock()
        self._load(content)

    def _initialise(self, content: dict[str, Rows]) -> dict[str, Rows]:
        """Lay out a spreadsheet that has no recorded schema version: add the missing sheets,
        write the empty header rows and the version. Refused if a QTS sheet holds data."""
        for spec in QTS_SHEETS:
            if len(content.get(spec.name, [])) > 1:
                raise StorageError(
                    f"{self.name}: {spec.name} holds data but the spreadsheet records no schema "
                    "version; restore _QTS_Schema (key schema_version) before QTS uses it"
                )
        if self._views:
            # A legacy spreadsheet's own Position / T_Ledger / History rows would be replaced by
            # the views: refuse rather than overwrite the operator's permanent record.
            held = [
                f"{v.name} ({len(content[v.name]) - 1} rows)"
                for v in VIEWS
                if len(content.get(v.name, [])) > 1
            ]
            if held:
                raise StorageError(
                    f"{self.name}: {', '.join(held)} hold rows QTS did not write; QTS owns these "
                    "sheets as views of its records, so move the rows to another sheet (or open "
                    "with views=False) before QTS lays out this spreadsheet"
                )
        missing = [s for s in self._specs if s.name not in self._grid]
        if missing:
            added = self._client.add_sheets(
                [(s.name, self._initial_rows, max(s.width, 26)) for s in missing]
            )
            for info in added:
                self._grid[info.title] = info
        data: list[tuple[str, Sequence[Sequence[Any]]]] = []
        out = dict(content)
        for spec in self._specs:
            if not out.get(spec.name):
                data.append((a1(spec.name, spec.header_row, 1), [spec.headers]))
                out[spec.name] = [list(spec.headers)]
        schema_rows = [
            ["schema_version", self._registry.version],
            ["schema_hash", self._registry.content_hash()],
        ]
        data.append((a1(QTS_SCHEMA.name, QTS_SCHEMA.row_start, 1), schema_rows))
        out[QTS_SCHEMA.name] = [out[QTS_SCHEMA.name][0], *schema_rows]
        self._client.batch_update(data)
        log.info("%s: initialised schema %s", self.name, self._registry.version)
        return out

    def _load(self, content: dict[str, Rows]) -> None:
        """Rebuild the mirror from the sheets' rows, through the port, so every value is
        checked as a new write would be."""
        data = {s.name: content.get(s.name, [])[s.row_start - 1 :] for s in self._specs}
        mem = self._mem
        parsed = Parsed(data, self._tz)
        with self._as_storage_error("load"), mem.transaction():
            account = parsed.account()
            if account is not None:
                mem.save_account(account)
            meta = parsed.run()
            if meta is not None:
                mem.init_run(meta)
            orders = parsed.orders()
            for order in orders.values():
                mem.save_order(order)
            positions = parsed.positions()
            fills = {f.fill_id: f for f in parsed.fills()}
            ledger = parsed.ledger()
            if len(fills) != len(ledger):
                raise StorageError(
                    f"{self.name}: {QTS_FILLS.name} has {len(fills)} fills but "
                    f"{QTS_LEDGER.name} has {len(ledger)} entries"
                )
            cash = account.cash if account else 0
            for entry in ledger:
                fill = fills.get(entry.fill_id)
                owner = orders.get(entry.client_order_id)
                position = positions.get(entry.symbol)
                if fill is None or owner is None or position is None:
                    raise StorageError(
                        f"{self.name}: {QTS_LEDGER.name} seq {entry.seq} names a fill, order or "
                        "position that is not stored"
                    )
                mem.record_fill(fill, entry, owner, position, cash, {})
            for order in orders.values():
                mem.save_order(order)
            mem.save_positions(positions.values())
            if account is not None:
                mem.save_account(account)
            mem.record_decisions(parsed.decisions())
            for point in parsed.equity():
                mem.record_equity(point)
            for event in parsed.safety():
                mem.record_safety_event(event)
            for key, doc in parsed.state():
                mem.save_state(key, doc)
                self._state_keys.add(key)
        for spec in self._specs:
            self._synced[spec.name] = [norm(r) for r in data[spec.name]]
        if self._views:
            self.view_drift = [
                v.name
                for v in VIEWS
                if [norm(r) for r in self._render(v.name)] != self._synced[v.name]
            ]
            if self.view_drift:
                log.warning(
                    "%s: %s differ from QTS's records and will be rewritten at the next write",
                    self.name,
                    ", ".join(self.view_drift),
                )

    def refresh(self) -> None:
        """Re-read the spreadsheet (after an operator changed it); the guard runs first."""
        self._check_open()
        if self._depth:
            raise StorageError(f"{self.name}: refresh inside a transaction")
        self._mem.close()
        self._mem = MemoryStore(tz=self._tz)
        self._synced.clear()
        self._unknown.clear()
        self._state_keys.clear()
        self._open()

    # ------------------------------------------------------------------ plumbing

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"{self.name}: store is closed")

    @contextmanager
    def _as_storage_error(self, what: str) -> Iterator[None]:
        try:
            yield
        except SchemaMismatchError:
            raise
        except SheetsError as exc:
            raise StorageError(f"{self.name}: {what}: {exc}") from exc
        except StorageError as exc:
            text = str(exc)
            if text.startswith("memory store: "):
                raise StorageError(f"{self.name}: {text[len('memory store: ') :]}") from exc
            raise
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise StorageError(f"{self.name}: {what}: {exc}") from exc

    def _write(self, what: str, touched: set[str], fn: Callable[[], T]) -> T:
        self._check_open()
        with self._as_storage_error(what):
            if self._depth:
                result = fn()
                self._dirty |= touched
                return result
            with self._mem.transaction():
                result = fn()
                self._flush(touched)
            return result

    def _read(self, what: str, fn: Callable[[], T]) -> T:
        self._check_open()
        with self._as_storage_error(what):
            return fn()

    # ------------------------------------------------------------------ rendering

    def _render(self, name: str) -> Rows:
        return render(self._mem, name, self._state_keys, self._registry, self._tz)

    # ------------------------------------------------------------------ flushing

    def _flush(self, touched: Iterable[str]) -> None:
        """Send the rows of ``touched`` sheets that differ from the spreadsheet, in one request."""
        # sheets a failed request may have left in another state are rewritten too
        wanted = set(touched) | set(self._unknown)
        names = [s.name for s in self._specs if s.name in wanted]
        if not names:
            return
        if self._recheck_s is not None and self._clock() - self._checked_at >= self._recheck_s:
            guard(self._client, names, self._registry, titles=self._grid)
            self._checked_at = self._clock()
        updates: list[tuple[str, Sequence[Sequence[Any]]]] = []
        synced: dict[str, list[tuple[str, ...]]] = {}
        grow: list[tuple[int, int, int]] = []
        for name in names:
            spec = self._registry[name]
            rows = self._render(name)
            new = [norm(r) for r in rows]
            old = self._synced.get(name, [])
            unknown = self._unknown.get(name)
            span = max(len(new), len(old), unknown or 0)
            changed = [
                i
                for i in range(span)
                if unknown is not None or i >= len(old) or i >= len(new) or old[i] != new[i]
            ]
            for start, stop in runs(changed):
                block = [
                    pad(rows[i], spec.width) if i < len(rows) else [""] * spec.width
                    for i in range(start, stop)
                ]
                check_sizes(name, block)
                first = spec.row_start + start
                updates.append((a1(name, first, 1, first + len(block) - 1, spec.width), block))
            synced[name] = new
            info = self._grid[name]
            needed = spec.row_start - 1 + span
            if needed > info.rows:
                grow.append((info.sheet_id, max(needed, info.rows + GROW_ROWS), info.cols))
        try:
            if grow:
                self._client.resize(grow)
                for sheet_id, rows_, cols in grow:
                    for title, info in self._grid.items():
                        if info.sheet_id == sheet_id:
                            self._grid[title] = SheetInfo(sheet_id, title, info.index, rows_, cols)
            self._client.batch_update(updates)
        except BaseException:
            for name in names:
                self._unknown[name] = max(
                    len(self._synced.get(name, [])), len(synced[name]), self._unknown.get(name, 0)
                )
            raise
        self._synced.update(synced)
        for name in names:
            self._unknown.pop(name, None)

    # ------------------------------------------------------------------ run metadata

    def init_run(self, meta: RunMeta) -> RunMeta:
        return self._write("init_run", _RUN, lambda: self._mem.init_run(meta))

    def run_meta(self) -> RunMeta | None:
        return self._read("run_meta", self._mem.run_meta)

    # ------------------------------------------------------------------ orders

    def save_order(self, order: Order) -> None:
        self._write(
            f"save_order {order.client_order_id}",
            {QTS_ORDERS.name},
            lambda: self._mem.save_order(order),
        )

    def load_orders(self, open_only: bool = False) -> list[Order]:
        return self._read("load_orders", lambda: self._mem.load_orders(open_only))

    def get_order(self, client_order_id: str) -> Order | None:
        return self._read("get_order", lambda: self._mem.get_order(client_order_id))

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
        return self._write(
            f"record_fill {fill.fill_id}",
            _FILL,
            lambda: self._mem.record_fill(fill, entry, order, position, cash, pending),
        )

    def load_fills(self) -> list[Fill]:
        return self._read("load_fills", self._mem.load_fills)

    def load_ledger(self) -> list[LedgerEntry]:
        return self._read("load_ledger", self._mem.load_ledger)

    # ------------------------------------------------------------------ positions and account

    def load_positions(self) -> dict[str, Position]:
        return self._read("load_positions", self._mem.load_positions)

    def save_positions(self, positions: Iterable[Position]) -> None:
        items = list(positions)
        self._write("save_positions", _POSITIONS, lambda: self._mem.save_positions(items))

    def load_account(self) -> AccountState | None:
        return self._read("load_account", self._mem.load_account)

    def save_account(self, state: AccountState) -> None:
        self._write("save_account", {QTS_ACCOUNT.name}, lambda: self._mem.save_account(state))

    # ------------------------------------------------------------------ decisions and PnL

    def record_decisions(self, rows: list[DecisionRecord]) -> None:
        self._write(
            "record_decisions", {QTS_DECISIONS.name}, lambda: self._mem.record_decisions(rows)
        )

    def load_decisions(self, cycle_id: str | None = None) -> list[DecisionRecord]:
        return self._read("load_decisions", lambda: self._mem.load_decisions(cycle_id))

    def record_equity(self, point: EquityPoint) -> None:
        self._write(
            "record_equity",
            {QTS_EQUITY.name, HISTORY.name},
            lambda: self._mem.record_equity(point),
        )

    def load_equity(self) -> list[EquityPoint]:
        return self._read("load_equity", self._mem.load_equity)

    # ------------------------------------------------------------------ safety history

    def record_safety_event(self, event: SafetyEventRecord) -> None:
        self._write(
            "record_safety_event",
            {QTS_SAFETY.name},
            lambda: self._mem.record_safety_event(event),
        )

    def load_safety_events(self, limit: int | None = None) -> list[SafetyEventRecord]:
        return self._read("load_safety_events", lambda: self._mem.load_safety_events(limit))

    # ------------------------------------------------------------------ state documents

    def save_state(self, key: str, value: JsonDict) -> None:
        def save() -> None:
            self._mem.save_state(key, value)
            self._state_keys.add(key)

        self._write(f"save_state {key}", {QTS_STATE.name}, save)

    def load_state(self, key: str) -> JsonDict | None:
        return self._read(f"load_state {key}", lambda: self._mem.load_state(key))

    # ------------------------------------------------------------------ lifecycle

    def transaction(self) -> AbstractContextManager[None]:
        """One request for the whole outermost block; a nested block that raises undoes only
        itself (in the mirror; nothing of it is ever sent)."""
        return Transaction(self)

    def close(self) -> None:
        """Undo an open transaction (nothing of it was sent) and let go of the mirror."""
        if self._closed:
            return
        self._mem.close()
        self._closed = True
        self._depth = 0
        self._dirty.clear()
        if self._close_client:
            self._client.close()

    def __enter__(self) -> SheetsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _implements_port(store: SheetsStore) -> TradingStore:
    """Never called: makes mypy prove that SheetsStore satisfies the port."""
    return store
