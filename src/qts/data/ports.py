"""Storage ports: what the trading core needs from any durable store.

The port speaks the domain (orders, fills, positions, ledger entries, integer won, aware
datetimes) and nothing of the engine behind it, so SQLite, PostgreSQL and Google Sheets adapters
are interchangeable and one contract test suite can run against each of them.

Persist before acting: every write returns only once it is durable (as durable as the adapter
was configured to be), and :meth:`TradingStore.record_fill` books a fill, its ledger row, the
order, the position and the cash in one atomic step, so a crash leaves either all of it or none.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from qts.model.fill import Fill
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.model.position import Position

JsonDict = dict[str, Any]
# the state document of the last committed cycle: its time on the run's own clock, its day
CHECKPOINT_KEY = "cycle_checkpoint"


@dataclass(frozen=True, slots=True)
class RunMeta:
    """Identity of the run a store belongs to; a store holds the state of exactly one run.

    ``run_id``, ``mode``, ``initial_cash`` and ``seed`` are its identity: reopening the store for
    a run that differs in any of them is refused, because the positions and cash inside would
    belong to someone else. ``started_at`` and ``config`` are kept from the first start.
    """

    run_id: str
    mode: str
    initial_cash: int
    started_at: datetime
    seed: int | None = None
    config: JsonDict = field(default_factory=dict)

    def identity(self) -> tuple[str, str, int, int | None]:
        return (self.run_id, self.mode, self.initial_cash, self.seed)


@dataclass(frozen=True, slots=True)
class AccountState:
    """The durable part of an account: cash (D+2 deposit) and the amounts still to settle."""

    cash: int
    pending: dict[date, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One ETEDA decision, kept for audit whether or not it led to an order."""

    ts: datetime
    cycle_id: str
    symbol: str
    action: str
    strategy: str = ""
    price: int | None = None
    qty: int | None = None
    approved: bool = False
    reason: str = ""
    act_status: str = ""
    metadata: JsonDict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """One point of the PnL history, all in won; one point per timestamp."""

    ts: datetime
    cash: int
    market_value: int
    equity: int
    realized: int
    unrealized: int
    fees: int


@dataclass(frozen=True, slots=True)
class SafetyEventRecord:
    """One line of the safety history: a code reported, a transition, a recovery."""

    ts: datetime
    kind: str
    code: str
    message: str
    state_before: str
    state_after: str
    operator: str = ""


@runtime_checkable
class TradingStore(Protocol):
    """Durable state of one run.

    The durable adapters (SQLite, PostgreSQL) may be shared by the threads of a run; a
    transaction then excludes the other threads until it ends. MemoryStore, for single-threaded
    backtests, belongs to the thread that created it.

    Every write method is atomic on its own; :meth:`transaction` groups several into one commit.
    Errors of the underlying store surface as :class:`qts.core.errors.StorageError`.
    """

    # run metadata
    def init_run(self, meta: RunMeta) -> RunMeta:
        """Store ``meta`` on first use and open the account with its initial cash (unless an
        account is already stored); afterwards return the stored meta unchanged.

        Raises StorageError if the stored run's identity differs from ``meta``'s.
        """
        ...

    def run_meta(self) -> RunMeta | None: ...

    # orders
    def save_order(self, order: Order) -> None:
        """Insert or update the order keyed by its client order id.

        Raises StorageError if an order with that id exists with another symbol, side, type,
        quantity, limit price or creation time: the id then names two different orders.
        """
        ...

    def load_orders(self, open_only: bool = False) -> list[Order]:
        """Orders in the order they were first saved.

        ``open_only`` keeps the non-terminal ones, NEW included: a NEW order in the store may or
        may not have reached the venue before a crash, so recovery must reconcile it.
        """
        ...

    def get_order(self, client_order_id: str) -> Order | None: ...

    # fills, ledger, positions, cash
    def record_fill(
        self,
        fill: Fill,
        entry: LedgerEntry,
        order: Order,
        position: Position,
        cash: int,
        pending: dict[date, int],
    ) -> bool:
        """Book one fill atomically: the fill, its ledger row, the order, the position, the cash.

        ``order``, ``position``, ``cash`` and ``pending`` are the states *after* the fill was
        applied (``order.fill_ids`` contains it). Returns False, and writes nothing, if the fill
        id is already stored. Raises StorageError, and writes nothing, if the records do not
        describe the same execution or any part cannot be stored (e.g. a ledger seq that does
        not follow the last one).
        """
        ...

    def load_fills(self) -> list[Fill]: ...

    def load_ledger(self) -> list[LedgerEntry]:
        """Every ledger entry, by seq."""
        ...

    def load_positions(self) -> dict[str, Position]:
        """Every position ever held, closed ones included (they carry realized PnL)."""
        ...

    def save_positions(self, positions: Iterable[Position]) -> None:
        """Upsert position snapshots changed without a fill (marks, high/low since open)."""
        ...

    def load_account(self) -> AccountState | None: ...

    def save_account(self, state: AccountState) -> None:
        """Replace cash and pending settlements, e.g. after settlement or a broker sync."""
        ...

    # audit and history
    def record_decisions(self, rows: list[DecisionRecord]) -> None: ...

    def load_decisions(self, cycle_id: str | None = None) -> list[DecisionRecord]: ...

    def record_equity(self, point: EquityPoint) -> None:
        """Store one PnL point; a second point at the same timestamp replaces the first."""
        ...

    def load_equity(self) -> list[EquityPoint]:
        """PnL history in time order."""
        ...

    # safety history
    def record_safety_event(self, event: SafetyEventRecord) -> None:
        """Append one line to the safety history (append-only)."""
        ...

    def load_safety_events(self, limit: int | None = None) -> list[SafetyEventRecord]:
        """The safety history in the order it was recorded; only the last ``limit`` if given."""
        ...

    # safety and operating state
    def save_state(self, key: str, value: JsonDict) -> None:
        """Replace the JSON document stored under ``key``."""
        ...

    def load_state(self, key: str) -> JsonDict | None: ...

    # lifecycle
    def transaction(self) -> AbstractContextManager[None]:
        """Group writes into one commit; nested use joins the outer one.

        An exception inside a nested block undoes that block only; the outer block decides
        whether the rest commits.
        """
        ...

    def close(self) -> None: ...
