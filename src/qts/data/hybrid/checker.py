"""The consistency checker: do two stores hold the same trading state, row by row?

Why: CD-001 allows the cut-over from Google Sheets to PostgreSQL only after the checker has
reported zero differences for 14 consecutive days (configurable). Each difference names the
table, the row's key, the field and both values, so an operator can see exactly what diverged.

Rows are matched by their natural key: orders by client order id, fills by fill id, the ledger
by seq, positions by symbol, equity points by instant, state documents by key, pending
settlements by date. Decisions and safety events are append-only logs without a key: they are
matched by position (the n-th row of each), so one missing row also shows the rows after it.
Values are compared as the port returns them (timestamps as instants, money as integers).

The streak: :meth:`ConsistencyChecker.run` records each check under its KST calendar day in
the outbox file; a day is clean if every check that day found no difference and no pending
outbox op. The streak is the number of consecutive clean days ending today or yesterday (so a
check that has not run yet today does not break it); a day without any check breaks it, so the
checker must run every day, weekends included.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from qts.core.errors import StorageError
from qts.core.time import KST, require_aware
from qts.data.hybrid.outbox import MARKER_KEY, CheckDay, Outbox
from qts.data.ports import TradingStore

DEFAULT_REQUIRED_DAYS = 14
ROW = "*"  # the field of a difference that is a whole row present on one side only


@dataclass(frozen=True, slots=True)
class Difference:
    """One mismatch; ``left``/``right`` are None when the row is missing on that side."""

    table: str
    key: str
    field: str
    left: Any
    right: Any

    def __str__(self) -> str:
        return f"{self.table}[{self.key}].{self.field}: {self.left!r} != {self.right!r}"


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What one comparison found; clean means no difference and nothing pending."""

    differences: list[Difference]
    rows: dict[str, int] = field(default_factory=dict)
    pending: int = 0

    @property
    def clean(self) -> bool:
        return not self.differences and self.pending == 0


def _fields(value: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return {"value": value}


def _compare_rows(
    table: str, left: dict[str, Any], right: dict[str, Any], out: list[Difference]
) -> int:
    """Rows keyed alike on both sides, field by field; returns how many keys were compared."""
    keys = list(left) + [k for k in right if k not in left]
    for key in keys:
        a, b = left.get(key), right.get(key)
        if a is None or b is None:
            if a is not b:
                out.append(Difference(table, key, ROW, a, b))
            continue
        fa, fb = _fields(a), _fields(b)
        for name in fa.keys() | fb.keys():
            if fa.get(name) != fb.get(name):
                out.append(Difference(table, key, name, fa.get(name), fb.get(name)))
    return len(keys)


def _by_position(rows: Iterable[Any]) -> dict[str, Any]:
    return {str(i): row for i, row in enumerate(rows, start=1)}


def compare_stores(
    left: TradingStore, right: TradingStore, *, state_keys: Iterable[str] = ()
) -> CheckReport:
    """Every difference between two stores' trading state (see the module docstring)."""
    out: list[Difference] = []
    rows: dict[str, int] = {}

    def table(name: str, read: Callable[[TradingStore], dict[str, Any]]) -> None:
        rows[name] = _compare_rows(name, read(left), read(right), out)

    table("run_meta", lambda s: {"run": s.run_meta()})
    table("orders", lambda s: {o.client_order_id: o for o in s.load_orders()})
    table("fills", lambda s: {f.fill_id: f for f in s.load_fills()})
    table("ledger", lambda s: {str(e.seq): e for e in s.load_ledger()})
    table("positions", lambda s: dict(s.load_positions()))

    def account(s: TradingStore) -> dict[str, Any]:
        state = s.load_account()
        if state is None:
            return {}
        doc: dict[str, Any] = {"cash": state.cash}
        doc.update({f"pending {d.isoformat()}": amount for d, amount in state.pending.items()})
        return doc

    table("account", account)
    table("decisions", lambda s: _by_position(s.load_decisions()))
    table("equity", lambda s: {p.ts.astimezone(UTC).isoformat(): p for p in s.load_equity()})
    table("safety_events", lambda s: _by_position(s.load_safety_events()))
    keys = sorted({k for k in state_keys if k != MARKER_KEY})
    table(
        "state",
        lambda s: {k: v for k in keys if (v := s.load_state(k)) is not None},
    )
    return CheckReport(out, rows)


class ConsistencyChecker:
    """Compares the hybrid store's two targets and keeps the clean-day streak in the outbox.

    ``names`` are the outbox targets of ``left`` and ``right``: their pending ops count
    against a clean check, since a lagging target legitimately differs. ``state_keys`` are
    compared as well as every key the outbox has seen written.
    """

    def __init__(
        self,
        left: TradingStore,
        right: TradingStore,
        outbox: Outbox,
        *,
        names: tuple[str, str] = ("sheets", "db"),
        state_keys: Iterable[str] = (),
    ) -> None:
        self.left = left
        self.right = right
        self.outbox = outbox
        self.names = names
        self.state_keys = tuple(state_keys)

    def check(self) -> CheckReport:
        """Compare now (nothing is recorded)."""
        keys = set(self.state_keys) | set(self.outbox.state_keys())
        report = compare_stores(self.left, self.right, state_keys=keys)
        pending = sum(
            self.outbox.pending_count(n)
            for n in self.names
            if n in self.outbox.targets() and not self.outbox.detached(n)
        )
        return dataclasses.replace(report, pending=pending)

    def run(self, now: datetime) -> CheckReport:
        """Compare and record the result under ``now``'s KST day."""
        report = self.check()
        self.record(now, report)
        return report

    def record(self, now: datetime, report: CheckReport) -> CheckDay:
        require_aware(now, "check time")
        return self.outbox.record_check(_day(now), now, len(report.differences), report.pending)

    def streak(self, now: datetime) -> int:
        """Consecutive clean days ending today or yesterday (KST)."""
        days = {d.day: d for d in self.outbox.check_days()}
        today = _day(now)
        day = today if today in days else today - timedelta(days=1)
        count = 0
        while (entry := days.get(day)) is not None and entry.clean:
            count += 1
            day -= timedelta(days=1)
        return count

    def can_cut_over(self, now: datetime, required_days: int = DEFAULT_REQUIRED_DAYS) -> bool:
        """CD-001: reads and writes may move to the database alone after ``required_days``
        consecutive clean days."""
        if required_days < 1:
            raise StorageError(f"cutover: required_days must be at least 1, got {required_days}")
        return self.streak(now) >= required_days


def _day(now: datetime) -> date:
    return require_aware(now, "check time").astimezone(KST).date()
