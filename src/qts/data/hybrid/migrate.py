"""Copy a run's history from one store into another (``qts db migrate-from-sheets``).

Why: dual-write only keeps two stores equal from the moment it starts; the database must first
receive everything Google Sheets already holds. The copy is a sync, not a dump: it writes only
what the destination lacks or holds differently, so running it again copies nothing, and a run
interrupted half-way is finished by the next one.

What it writes, through the port only: the run meta (``init_run``); every order in the source's
first-save order; every fill with its ledger entry, in ledger order (``record_fill`` with the
order's, the position's and the account's *final* state: the later steps leave exactly the
source's final state, and the intermediate states are not part of the port); positions; the
account; decision and safety logs (append-only: the destination's rows must be the source's
first rows, and the rest are appended); equity points; the given state documents.

What it refuses (:class:`MigrationConflict`, raised before that table is written): a
destination that belongs to another run, holds a ledger row or fill the source does not, or
whose logs are not a prefix of the source's. Those need an operator, not a copy.

Rollback needs no copy: switching the hybrid store to ``SHEETS_ONLY`` keeps writing Sheets, which
never stopped receiving every write (see docs/runbooks/migration.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from qts.core.errors import StorageError
from qts.data.hybrid.outbox import MARKER_KEY
from qts.data.ports import AccountState, TradingStore
from qts.model.order import Order
from qts.model.position import Position


class MigrationConflict(StorageError):
    """The destination holds something the source contradicts; nothing of that table was
    copied."""


@dataclass(frozen=True, slots=True)
class MigrationProgress:
    """Reported after each committed batch: ``done`` of ``total`` rows of ``table`` checked,
    ``copied`` of them written so far."""

    table: str
    done: int
    total: int
    copied: int


@dataclass(slots=True)
class MigrationReport:
    """Rows seen in the source and rows written to the destination, per table."""

    seen: dict[str, int] = field(default_factory=dict)
    copied: dict[str, int] = field(default_factory=dict)

    @property
    def total_copied(self) -> int:
        return sum(self.copied.values())


ProgressSink = Callable[[MigrationProgress], None]


class _Copier:
    def __init__(self, dest: TradingStore, progress: ProgressSink | None, batch_size: int) -> None:
        self.dest = dest
        self.progress = progress
        self.batch_size = max(batch_size, 1)
        self.report = MigrationReport()

    def copy(self, table: str, total: int, writes: Sequence[Callable[[], Any]]) -> None:
        """Run ``writes`` (one per row to copy) in transactions of ``batch_size``."""
        self.report.seen[table] = total
        self.report.copied[table] = 0
        if not writes:
            self._report(table, total, total)
            return
        for start in range(0, len(writes), self.batch_size):
            chunk = writes[start : start + self.batch_size]
            with self.dest.transaction():
                for write in chunk:
                    write()
            self.report.copied[table] += len(chunk)
            done = total - len(writes) + start + len(chunk)
            self._report(table, done, total)

    def _report(self, table: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(MigrationProgress(table, done, total, self.report.copied[table]))


def _suffix(table: str, source: Sequence[Any], dest: Sequence[Any]) -> Sequence[Any]:
    """An append-only log: what the destination lacks, if it holds the source's first rows."""
    if list(dest) != list(source[: len(dest)]):
        raise MigrationConflict(
            f"migrate: {table}: the destination's {len(dest)} rows are not the source's first "
            f"{len(dest)}; reconcile by hand"
        )
    return source[len(dest) :]


def migrate(
    source: TradingStore,
    dest: TradingStore,
    *,
    state_keys: Iterable[str] = (),
    progress: ProgressSink | None = None,
    batch_size: int = 500,
) -> MigrationReport:
    """Make ``dest`` hold everything ``source`` holds (see the module docstring)."""
    copier = _Copier(dest, progress, batch_size)

    # run meta
    meta = source.run_meta()
    theirs = dest.run_meta()
    if meta is not None and theirs is not None and theirs != meta:
        raise MigrationConflict(f"migrate: run_meta: destination has {theirs}, source {meta}")
    copier.copy(
        "run_meta",
        int(meta is not None),
        [_bind(dest.init_run, meta)] if meta is not None and theirs is None else [],
    )

    # orders, in first-save order
    orders = source.load_orders()
    held = {o.client_order_id: o for o in dest.load_orders()}
    clashes = [
        o.client_order_id
        for o in orders
        if (h := held.get(o.client_order_id)) is not None and _identity(h) != _identity(o)
    ]
    if clashes:
        raise MigrationConflict(
            f"migrate: orders: the destination's {clashes} name different orders"
        )
    copier.copy(
        "orders",
        len(orders),
        [_bind(dest.save_order, o) for o in orders if held.get(o.client_order_id) != o],
    )

    # fills with their ledger entries, in ledger order
    by_order = {o.client_order_id: o for o in orders}
    fills = {f.fill_id: f for f in source.load_fills()}
    ledger = source.load_ledger()
    positions = source.load_positions()
    account = source.load_account() or AccountState(0)
    dest_ledger = {e.seq: e for e in dest.load_ledger()}
    dest_fills = {f.fill_id for f in dest.load_fills()}
    booked = {e.fill_id for e in ledger}
    unbooked = [fid for fid in fills if fid not in booked]
    if unbooked:
        raise MigrationConflict(f"migrate: fills without a ledger entry in the source: {unbooked}")
    extra = sorted(set(dest_ledger) - {e.seq for e in ledger})
    if extra:
        raise MigrationConflict(f"migrate: ledger seqs only in the destination: {extra}")
    fill_writes: list[Callable[[], Any]] = []
    for entry in ledger:
        if entry.seq in dest_ledger:
            if dest_ledger[entry.seq] != entry:
                raise MigrationConflict(
                    f"migrate: ledger seq {entry.seq} differs: destination "
                    f"{dest_ledger[entry.seq]}, source {entry}"
                )
            continue
        fill = fills.get(entry.fill_id)
        order = by_order.get(entry.client_order_id)
        if fill is None or order is None:
            raise MigrationConflict(
                f"migrate: ledger seq {entry.seq}: fill {entry.fill_id} or order "
                f"{entry.client_order_id} is missing from the source"
            )
        if fill.fill_id in dest_fills:
            raise MigrationConflict(
                f"migrate: fill {fill.fill_id} is booked in the destination under another seq"
            )
        position = positions.get(fill.symbol, Position(fill.symbol))
        fill_writes.append(
            _bind(dest.record_fill, fill, entry, order, position, account.cash, account.pending)
        )
    copier.copy("fills", len(ledger), fill_writes)

    # positions and the account
    dest_positions = dest.load_positions()
    changed = [p for s, p in positions.items() if dest_positions.get(s) != p]
    copier.copy("positions", len(positions), [_bind(dest.save_positions, [p]) for p in changed])
    source_account = source.load_account()
    copier.copy(
        "account",
        int(source_account is not None),
        [_bind(dest.save_account, source_account)]
        if source_account is not None and dest.load_account() != source_account
        else [],
    )

    # append-only logs
    decisions = source.load_decisions()
    new_decisions = _suffix("decisions", decisions, dest.load_decisions())
    copier.copy(
        "decisions", len(decisions), [_bind(dest.record_decisions, [d]) for d in new_decisions]
    )
    events = source.load_safety_events()
    new_events = _suffix("safety_events", events, dest.load_safety_events())
    copier.copy(
        "safety_events", len(events), [_bind(dest.record_safety_event, e) for e in new_events]
    )

    # equity points (one per instant) and state documents
    points = source.load_equity()
    dest_points = {p.ts.astimezone(UTC): p for p in dest.load_equity()}
    copier.copy(
        "equity",
        len(points),
        [
            _bind(dest.record_equity, p)
            for p in points
            if dest_points.get(p.ts.astimezone(UTC)) != p
        ],
    )
    keys = sorted({k for k in state_keys if k != MARKER_KEY})
    docs = {k: v for k in keys if (v := source.load_state(k)) is not None}
    copier.copy(
        "state",
        len(docs),
        [_bind(dest.save_state, k, v) for k, v in docs.items() if dest.load_state(k) != v],
    )
    return copier.report


def _identity(order: Order) -> tuple[Any, ...]:
    """What makes an order id name one order (the port refuses to change it)."""
    return (
        order.symbol,
        str(order.side),
        str(order.order_type),
        order.qty,
        order.limit_price,
        order.created_at,
    )


def _bind(call: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    return lambda: call(*args)
