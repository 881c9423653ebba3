"""The hybrid store: Google Sheets and PostgreSQL behind one :class:`TradingStore` (CD-001).

Modes (``DATA_SOURCE_MODE``), with the target reads prefer first:

=============  ==============  ================
mode           writes go to    reads from
=============  ==============  ================
SHEETS_ONLY    sheets          sheets
DUAL_WRITE     sheets, db      sheets, else db
DB_PRIMARY     sheets, db      db, else sheets
DB_ONLY        db              db
=============  ==============  ================

How a write travels. The write is serialised first (so the caller's objects are captured as
they are now). Then one *host* target, the first readable one in read order, applies it inside
one of its own transactions; while that transaction is open the write is appended to the
durable :class:`~qts.data.hybrid.outbox.Outbox`, the host's replay marker is set, and the host
commits. Only then is the write replayed on the other target from the outbox. So:

- the caller gets the host's answer: its return value, or its refusal. A host that fails but
  still answers a read may have refused the write or may have hit a passing fault (its pool
  handed out a connection that had just been killed), so the other target referees: the write
  is refused (the host's StorageError, nothing written anywhere) only if every target that can
  take writes fails it; with no other target, the host gets one more try;
- a write the caller saw succeed is in the outbox (and normally in the host) before the call
  returns, so an outage of either target loses nothing; a target that fails is left behind
  and catches up, in order, through :meth:`HybridStore.flush`, the next writes (after a
  backoff), or a :class:`RetryWorker`;
- if the host is down, the other target becomes the host for that write; if neither can take
  it, the caller gets StorageError and nothing was written.

Reads. A target is *readable* when it has applied every write in the outbox meant for it. Reads
go to the first readable target in read order (catching a lagging target up first if it
answers) and fall back to the other one, with an alert, when the preferred one fails. The
guarantee: **a read reflects every write this store (or a previous process on the same outbox)
acknowledged, or raises StorageError**; it never returns older data from a lagging target.

Transactions. :meth:`HybridStore.transaction` opens a transaction on the host and runs every
write and read inside it there (nested blocks are the host's nested blocks, so the port's
semantics hold exactly: reads see the block's writes, a failing write undoes only itself, an
inner block that raises is undone alone). The block's writes are kept in memory and appended
to the outbox as one batch when the outermost block ends, just before the host commits; the
other target replays the batch as one transaction. A block that raises appends nothing.

Alerts go to ``on_alert`` (the lead wires the safety notifier): a target becoming unavailable,
recovering, and reads falling back to the secondary. They are raised on changes, not per call.

Threads: like every TradingStore, one HybridStore is used from one thread. Retrying in the
background needs stores of its own, so :class:`RetryWorker` opens its own connections.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any

from qts.core.errors import StorageError
from qts.data.hybrid.alerts import AlertSink, HybridAlert, TargetHealth, emit_alert, log_alert
from qts.data.hybrid.hosting import HOSTED, REFUSED, try_host
from qts.data.hybrid.modes import DB, SHEETS, DataSourceMode
from qts.data.hybrid.outbox import MARKER_KEY, Outbox, apply_op, encode_op
from qts.data.hybrid.replay import RetryWorker, replay_pending
from qts.data.hybrid.transaction import OpenTransaction, Transaction
from qts.data.ports import (
    AccountState,
    DecisionRecord,
    EquityPoint,
    JsonDict,
    RunMeta,
    SafetyEventRecord,
    TradingStore,
)
from qts.model.fill import Fill
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.model.position import Position

__all__ = [
    "DB",
    "SHEETS",
    "DataSourceMode",
    "HybridAlert",
    "HybridStore",
    "RetryWorker",
    "replay_pending",
]


class HybridStore:
    """:class:`~qts.data.ports.TradingStore` over a sheets store and a database store.

    ``sheets`` and ``db`` are the two targets (any TradingStore adapters); ``outbox`` is owned
    from here on (closed by :meth:`close`). ``retry_inline``: after a target failed, writes
    retry it themselves once its backoff (``base_delay`` doubling up to ``max_delay`` seconds)
    has passed; set it False when a :class:`RetryWorker` retries in the background, so a
    trading thread never waits on a dead connection.
    """

    def __init__(
        self,
        sheets: TradingStore,
        db: TradingStore,
        outbox: Outbox,
        mode: DataSourceMode | str = DataSourceMode.DUAL_WRITE,
        *,
        on_alert: AlertSink | None = None,
        retry_inline: bool = True,
        base_delay: float = 0.5,
        max_delay: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        replay_batch: int = 200,
    ) -> None:
        self._stores: dict[str, TradingStore] = {SHEETS: sheets, DB: db}
        self._outbox = outbox
        self._sink: AlertSink = on_alert or log_alert
        self._retry_inline = retry_inline
        self._clock = clock
        self._replay_batch = replay_batch
        self._health = {n: TargetHealth(n, self._sink, base_delay, max_delay) for n in self._stores}
        self._tx: OpenTransaction | None = None
        self._closed = False
        self._fallback_from: str | None = None
        outbox.register(self._stores)
        mode = DataSourceMode(mode)
        self._check_mode(mode)
        self._mode = mode

    # ------------------------------------------------------------------ mode and status

    @property
    def mode(self) -> DataSourceMode:
        return self._mode

    @property
    def outbox(self) -> Outbox:
        return self._outbox

    def target(self, name: str) -> TradingStore:
        """The store behind target ``name`` (:data:`SHEETS` or :data:`DB`)."""
        return self._stores[name]

    def _check_mode(self, mode: DataSourceMode) -> None:
        for name in mode.targets:
            if self._outbox.detached(name):
                raise StorageError(
                    f"hybrid: {name} missed writes while the mode did not write it; copy the "
                    f"other store into it (qts db migrate) and reattach it before mode {mode}"
                )

    def set_mode(self, mode: DataSourceMode | str) -> None:
        """Switch modes (e.g. rollback to SHEETS_ONLY); pending ops of a target the new mode
        no longer writes stay in the outbox and are not replayed (it is detached at the next
        write and needs a re-sync before it is written again)."""
        self._check_open()
        if self._tx is not None:
            raise StorageError("hybrid: cannot change the mode inside a transaction")
        mode = DataSourceMode(mode)
        self._check_mode(mode)
        self._mode = mode
        self._fallback_from = None

    def pending(self) -> dict[str, int]:
        """Outbox ops each target of the mode has not applied yet."""
        self._check_open()
        return {n: self._outbox.pending_count(n) for n in self._mode.targets}

    def flush(self) -> dict[str, int]:
        """Replay now, ignoring backoff, every target of the mode that lags; returns what is
        still pending per target (all zero when both are caught up)."""
        self._check_open()
        if self._tx is not None:
            raise StorageError("hybrid: cannot flush inside a transaction")
        for name in self._mode.targets:
            self._catch_up(name, force=True, wait=True)
        self._outbox.sync()
        return self.pending()

    # ------------------------------------------------------------------ plumbing

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("hybrid: store is closed")

    def _failed(self, name: str, exc: BaseException) -> None:
        self._outbox.unverify(name)
        self._health[name].failed(self._clock(), exc, self._outbox.pending_count(name))

    def _answers(self, name: str) -> bool:
        """After a failed write: a store that still answers a read refused the write."""
        try:
            self._stores[name].load_state(MARKER_KEY)
        except StorageError:
            return False
        return True

    def _catch_up(self, name: str, *, force: bool, wait: bool = False) -> bool:
        """Replay what ``name`` lags behind; True if it is now readable.

        With ``wait`` (nothing else can serve the caller, or an explicit flush) a failed replay
        is tried once more if the store still answers a read: a dropped connection or a lost
        acknowledgement is not an outage, and the marker makes the second replay exact.
        """
        outbox = self._outbox
        if outbox.caught_up(name):
            return True
        if outbox.detached(name) or (not force and self._health[name].waiting(self._clock())):
            return False
        lock = outbox.lock(name)
        if not lock.acquire(blocking=wait):
            return False  # the retry worker is replaying it right now
        try:
            for attempt in (1, 2):
                try:
                    replay_pending(outbox, name, self._stores[name], max_ops=self._replay_batch)
                except StorageError as exc:
                    if attempt == 1 and wait and self._answers(name):
                        continue
                    self._failed(name, exc)
                    return False
                break
        finally:
            lock.release()
        self._health[name].ok()
        return outbox.caught_up(name)

    def _choose(self) -> Iterator[str]:
        """Targets to read from or host a write, best first: readable ones not backing off, in
        read order; then any that can be made readable now."""
        now = self._clock()
        tried: set[str] = set()
        for name in self._mode.targets:
            if self._outbox.caught_up(name) and not self._health[name].waiting(now):
                tried.add(name)
                yield name
        for name in self._mode.targets:
            # Nothing else can answer: worth waiting for a replay the worker is running.
            if name not in tried and self._catch_up(name, force=True, wait=True):
                yield name

    def _current(self) -> set[str]:
        return {n for n in self._mode.targets if self._outbox.caught_up(n)}

    def _replicate(self, done: str, current: set[str]) -> None:
        """After ``done`` hosted a write: bring the other targets up to date. One that failed
        before is retried only once its backoff passed (and only if writes retry inline), unless
        it was up to date before this write: then someone (the retry worker) caught it up and
        it is healthy again."""
        for name in self._mode.targets:
            if name == done or self._outbox.caught_up(name):
                continue
            health = self._health[name]
            retry = self._retry_inline and not health.waiting(self._clock())
            if health.failures and name not in current and not retry:
                continue
            self._catch_up(name, force=True)

    # ------------------------------------------------------------------ writes

    def _write(
        self,
        method: str,
        args: dict[str, Any],
        *,
        entry: Callable[[Any], str | None] | None = None,
        state_key: str | None = None,
    ) -> Any:
        """Apply one write through a host and the outbox (see the module docstring).

        ``entry`` turns the host's result into the outbox payload (None: nothing was written);
        by default the call as given.
        """
        self._check_open()
        payload = encode_op(method, args)  # captures the caller's objects as they are now

        def outbox_entry(result: Any) -> str | None:
            return payload if entry is None else entry(result)

        tx = self._tx
        if tx is not None:
            result = apply_op(self._stores[tx.host], method, args)
            text = outbox_entry(result)
            if text is not None:
                tx.frames[-1].append((text, state_key))
            return result
        errors: list[str] = []
        refusals: list[tuple[str, StorageError]] = []
        hosts: list[str] = []
        current = self._current()
        for name in self._choose():
            hosts.append(name)
            outcome, value = try_host(self, name, method, args, outbox_entry, state_key)
            if outcome == HOSTED:
                self._replicate(name, current)
                return value
            if outcome == REFUSED:
                refusals.append((name, value))
            errors.append(f"{name}: {value}")
        if refusals:
            name, error = refusals[0]
            if hosts == [name]:
                # Nobody else could judge the write: one failure of a store that still answers
                # may be a dropped connection its pool has replaced since. Once more.
                outcome, value = try_host(self, name, method, args, outbox_entry, state_key)
                if outcome == HOSTED:
                    self._replicate(name, current)
                    return value
            raise error
        raise StorageError(
            f"hybrid: {method}: no store could take the write ("
            + ("; ".join(errors) or "no target is up to date")
            + ")"
        )

    def init_run(self, meta: RunMeta) -> RunMeta:
        # The other target must store what the host stored, not a later start's meta.
        stored: RunMeta = self._write(
            "init_run", {"meta": meta}, entry=lambda r: encode_op("init_run", {"meta": r})
        )
        return stored

    def save_order(self, order: Order) -> None:
        self._write("save_order", {"order": order})

    def record_fill(
        self,
        fill: Fill,
        entry: LedgerEntry,
        order: Order,
        position: Position,
        cash: int,
        pending: dict[date, int],
    ) -> bool:
        args = {
            "fill": fill,
            "entry": entry,
            "order": order,
            "position": position,
            "cash": cash,
            "pending": pending,
        }
        payload = encode_op("record_fill", args)
        booked: bool = self._write(
            "record_fill", args, entry=lambda booked: payload if booked else None
        )
        return booked

    def save_positions(self, positions: Iterable[Position]) -> None:
        rows = list(positions)
        if not rows:
            self._check_open()
            return
        self._write("save_positions", {"positions": rows})

    def save_account(self, state: AccountState) -> None:
        self._write("save_account", {"state": state})

    def record_decisions(self, rows: list[DecisionRecord]) -> None:
        rows = list(rows)
        if not rows:
            self._check_open()
            return
        self._write("record_decisions", {"rows": rows})

    def record_equity(self, point: EquityPoint) -> None:
        self._write("record_equity", {"point": point})

    def record_safety_event(self, event: SafetyEventRecord) -> None:
        self._write("record_safety_event", {"event": event})

    def save_state(self, key: str, value: JsonDict) -> None:
        if key == MARKER_KEY:
            raise StorageError(f"hybrid: save_state {key}: key reserved for the outbox marker")
        self._write("save_state", {"key": key, "value": value}, state_key=key)

    # ------------------------------------------------------------------ reads

    def _read(self, what: str, read: Callable[[TradingStore], Any]) -> Any:
        self._check_open()
        if self._tx is not None:
            return read(self._stores[self._tx.host])
        preferred = self._mode.targets[0]
        errors: list[str] = []
        for name in self._choose():
            try:
                result = read(self._stores[name])
            except StorageError as exc:
                self._failed(name, exc)
                errors.append(f"{name}: {exc}")
                continue
            if name == preferred:
                self._fallback_from = None
            elif self._fallback_from is None:
                self._fallback_from = preferred
                emit_alert(
                    self._sink,
                    HybridAlert(
                        "fallback_read",
                        preferred,
                        f"hybrid store: reading from {name} because {preferred} failed or lags "
                        f"({'; '.join(errors) or 'backing off'})",
                    ),
                )
            return result
        raise StorageError(
            f"hybrid: {what}: no up-to-date store answered ("
            + ("; ".join(errors) or "every target lags and cannot catch up")
            + ")"
        )

    def run_meta(self) -> RunMeta | None:
        meta: RunMeta | None = self._read("run_meta", lambda s: s.run_meta())
        return meta

    def load_orders(self, open_only: bool = False) -> list[Order]:
        orders: list[Order] = self._read("load_orders", lambda s: s.load_orders(open_only))
        return orders

    def get_order(self, client_order_id: str) -> Order | None:
        order: Order | None = self._read("get_order", lambda s: s.get_order(client_order_id))
        return order

    def load_fills(self) -> list[Fill]:
        fills: list[Fill] = self._read("load_fills", lambda s: s.load_fills())
        return fills

    def load_ledger(self) -> list[LedgerEntry]:
        entries: list[LedgerEntry] = self._read("load_ledger", lambda s: s.load_ledger())
        return entries

    def load_positions(self) -> dict[str, Position]:
        positions: dict[str, Position] = self._read("load_positions", lambda s: s.load_positions())
        return positions

    def load_account(self) -> AccountState | None:
        account: AccountState | None = self._read("load_account", lambda s: s.load_account())
        return account

    def load_decisions(self, cycle_id: str | None = None) -> list[DecisionRecord]:
        rows: list[DecisionRecord] = self._read(
            "load_decisions", lambda s: s.load_decisions(cycle_id)
        )
        return rows

    def load_equity(self) -> list[EquityPoint]:
        points: list[EquityPoint] = self._read("load_equity", lambda s: s.load_equity())
        return points

    def load_safety_events(self, limit: int | None = None) -> list[SafetyEventRecord]:
        events: list[SafetyEventRecord] = self._read(
            "load_safety_events", lambda s: s.load_safety_events(limit)
        )
        return events

    def load_state(self, key: str) -> JsonDict | None:
        value: JsonDict | None = self._read("load_state", lambda s: s.load_state(key))
        return value

    # ------------------------------------------------------------------ transactions

    def transaction(self) -> Transaction:
        """One commit on the host, one outbox batch; nested blocks nest on the host."""
        return Transaction(self)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close both targets and the outbox (an open transaction is rolled back, its ops
        dropped); pending ops stay in the outbox for the next start. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        tx, self._tx = self._tx, None
        errors: list[str] = []
        if tx is not None:
            # end the host's open blocks (innermost first) so its lock is let go; closing the
            # host then rolls back what they wrote
            for block in reversed(tx.blocks):
                try:
                    block.__exit__(StorageError, StorageError("closed"), None)
                except StorageError as exc:
                    errors.append(f"{tx.host}: {exc}")
            tx.lock.release()
        for name, store in self._stores.items():
            try:
                store.close()
            except StorageError as exc:
                errors.append(f"{name}: {exc}")
        self._outbox.close()
        if errors:
            raise StorageError("hybrid: close: " + "; ".join(errors))

    def __enter__(self) -> HybridStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _implements_port(store: HybridStore) -> TradingStore:
    """Never called: makes mypy prove that HybridStore satisfies the port."""
    return store
