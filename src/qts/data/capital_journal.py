"""The capital journal: the append-only history of operating-state transitions, pool transfers,
pool locks and daily pool balances, next to the current documents kept as state.

Current values are two state documents every store keeps (``operating_state``, ``capital``);
the history is a port of its own, :class:`CapitalJournal`, which SQLite, PostgreSQL and the
memory store implement with a table. A store without it (Google Sheets, hybrid) keeps the history
in a state document instead (:class:`StateDocJournal`), so every backend works.

:func:`read_capital` is the read API for dashboards and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from qts.data.ports import JsonDict

STATE_KEY = "operating_state"
CAPITAL_KEY = "capital"
CAPITAL_DAY_ROW = "day_row"  # in the capital document: the pools of the day in progress
# the closed-trade and pool-history windows of the capital document, written when they change
CAPITAL_WINDOWS_KEY = "capital.windows"
# the window rows appended since that document was last written (ADR 0021): with daily bars a
# day's index would otherwise rewrite the whole windows document every cycle
CAPITAL_WINDOWS_TAIL_KEY = "capital.windows.tail"
OVERRIDE_REQUEST_KEY = "operating_state_override_request"
JOURNAL_DOC_KEY = "capital_journal"
KINDS = ("transition", "transfer", "lock", "unlock", "pools", "override_requested", "resync")


@dataclass(frozen=True, slots=True)
class CapitalEventRecord:
    """One line of the capital history; ``payload`` is plain JSON (won as integers)."""

    ts: datetime
    kind: str
    payload: JsonDict = field(default_factory=dict)


@runtime_checkable
class CapitalJournal(Protocol):
    def record_capital_events(self, rows: list[CapitalEventRecord]) -> None:
        """Append rows to the history (append-only), atomically."""
        ...

    def load_capital_events(
        self, kind: str | None = None, limit: int | None = None
    ) -> list[CapitalEventRecord]:
        """The history in recording order, of one kind if given, only the last ``limit``."""
        ...


class _DocStore(Protocol):
    def save_state(self, key: str, value: JsonDict) -> None: ...

    def load_state(self, key: str) -> JsonDict | None: ...


class StateDocJournal:
    """The history as one state document, for stores without a capital table."""

    def __init__(self, store: _DocStore) -> None:
        self.store = store

    def record_capital_events(self, rows: list[CapitalEventRecord]) -> None:
        if not rows:
            return
        doc = self.store.load_state(JOURNAL_DOC_KEY) or {"rows": []}
        doc["rows"] = list(doc.get("rows", [])) + [
            {"ts": r.ts.isoformat(), "kind": r.kind, "payload": r.payload} for r in rows
        ]
        self.store.save_state(JOURNAL_DOC_KEY, doc)

    def load_capital_events(
        self, kind: str | None = None, limit: int | None = None
    ) -> list[CapitalEventRecord]:
        doc = self.store.load_state(JOURNAL_DOC_KEY) or {"rows": []}
        rows = [
            CapitalEventRecord(datetime.fromisoformat(r["ts"]), r["kind"], dict(r["payload"]))
            for r in doc.get("rows", [])
            if kind is None or r["kind"] == kind
        ]
        if limit is not None:
            rows = rows[max(len(rows) - limit, 0) :] if limit > 0 else []
        return rows


def journal_for(store: Any) -> CapitalJournal:
    """The store itself when it keeps a capital table, else a state-document journal on it."""
    if isinstance(store, CapitalJournal):
        return store
    return StateDocJournal(store)


@dataclass(frozen=True, slots=True)
class CapitalReadout:
    """What a dashboard shows: the operating state, the pools, and the latest history."""

    state: JsonDict | None
    capital: JsonDict | None
    transitions: list[CapitalEventRecord]
    transfers: list[CapitalEventRecord]

    @property
    def current_state(self) -> str | None:
        return str(self.state["current_state"]) if self.state else None

    @property
    def pools(self) -> dict[str, JsonDict]:
        """Pool contracts by pool id (``SCALP`` / ``SWING`` / ``PORTFOLIO``) as last stored."""
        return dict((self.capital or {}).get("pools", {}))


def read_capital(store: Any, limit: int = 20) -> CapitalReadout:
    """Read the operating state, the pools and the last ``limit`` transitions and transfers."""
    journal = journal_for(store)
    return CapitalReadout(
        store.load_state(STATE_KEY),
        store.load_state(CAPITAL_KEY),
        journal.load_capital_events("transition", limit),
        journal.load_capital_events("transfer", limit),
    )
