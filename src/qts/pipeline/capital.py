"""The capital step of a cycle: feed the capital engine, apply operator requests, persist.

This is the edge between the pure capital engine (``engines.capital.flow``) and the run: it reads
the order manager's books (cash, positions by track, open buys, new ledger rows), the volatility
index and the safety state, and writes the current documents and the journal inside the cycle's
own commit, so a crash leaves the pools and the books in step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from qts.data.capital_journal import (
    CAPITAL_DAY_ROW,
    CAPITAL_KEY,
    CAPITAL_WINDOWS_KEY,
    CAPITAL_WINDOWS_TAIL_KEY,
    OVERRIDE_REQUEST_KEY,
    STATE_KEY,
    CapitalEventRecord,
    journal_for,
)
from qts.data.ports import TradingStore
from qts.engines.capital.config import CapitalConfig
from qts.engines.capital.flow import (
    BookedEntry,
    CapitalFlow,
    CycleInputs,
    CycleOutcome,
    with_tail,
)
from qts.engines.capital.pool import POOLS
from qts.engines.capital.view import CapitalView
from qts.engines.state.machine import OverrideRefused
from qts.engines.state.profile import OperatingState
from qts.execution.oms import OrderManager
from qts.model.enums import OrderSide, Track
from qts.model.frame import BarFrame

log = logging.getLogger(__name__)
Report = Callable[[str, str], object]


# the window rows a tail holds before the windows document is written whole again: ~10 days
# of three daily index rows, so a day writes ~1 KB of rows on average instead of ~16 KB
TAIL_ROWS = 32


class CapitalStep:
    def __init__(
        self,
        config: CapitalConfig,
        store: TradingStore,
        oms: OrderManager,
        vol_index: Callable[[BarFrame], float | None] | None = None,
        keep_rows: bool = False,
    ) -> None:
        self.config = config
        self.store = store
        self.oms = oms
        self.vol_index = vol_index
        self.journal = journal_for(store)
        windows = store.load_state(CAPITAL_WINDOWS_KEY)
        tail = store.load_state(CAPITAL_WINDOWS_TAIL_KEY) or {}
        appended = any(tail.get(k) for k in ("trades", "history"))
        if windows is not None and appended:
            windows = with_tail(windows, tail)
        stored_doc = store.load_state(CAPITAL_KEY)
        self.flow = CapitalFlow.restore(config, store.load_state(STATE_KEY), stored_doc, windows)
        # the windows version last written (-1: not stored apart yet, or a stored tail this
        # flow does not hold as its own: write the whole windows document first)
        stored = windows is not None and not appended and self.flow is not None
        self._windows_saved = 0 if stored else -1
        self.outcome: CycleOutcome | None = None
        self.view: CapitalView | None = None
        self.keep_rows = keep_rows
        self.rows: dict[str, dict[str, Any]] = {}  # one per day, the day's last (backtests)
        self.transitions: list[dict[str, Any]] = []
        self.transfers: list[dict[str, Any]] = []
        self._pending: list[CapitalEventRecord] = []
        # the pools' row of the day in progress, journaled when the next day starts: kept in
        # the capital document so a day a restart cuts in two still gets its row
        self._last_row: dict[str, Any] | None = (stored_doc or {}).get(CAPITAL_DAY_ROW)
        self.level: float | None = None

    # --- the cycle ---------------------------------------------------------------------------

    def step(
        self,
        ts: datetime,
        frame: BarFrame,
        last_close: np.ndarray,
        safety: str,
        day_start_equity: int,
        report: Report,
    ) -> CapitalView:
        if self.flow is None:
            self.flow = CapitalFlow.new(self.config, ts)
        self._apply_override_request(ts)
        if self.vol_index is not None:
            level = self.vol_index(frame)
            if level is not None:
                self.level = level
        x = self._inputs(ts, last_close, safety, day_start_equity)
        out = self.flow.step(x)
        for code, message in out.codes:
            report(code, message)
        self.outcome, self.view = out, out.view
        self._collect(out, ts)
        return out.view

    def _inputs(
        self, ts: datetime, last_close: np.ndarray, safety: str, day_start_equity: int
    ) -> CycleInputs:
        oms = self.oms
        flow = self.flow
        assert flow is not None
        universe = oms.universe
        invested = {t: 0 for t in POOLS}
        unrealized = {t: 0 for t in POOLS}
        held = {t: 0 for t in POOLS}
        holds = {t: 0 for t in POOLS}
        with oms.lock:
            account = oms.account
            for p in account.open_positions():
                price = (
                    int(last_close[universe.index(p.symbol)])
                    if p.symbol in universe
                    else p.last_price
                )
                value = p.qty * (price or p.last_price)
                invested[p.track] += value
                unrealized[p.track] += value - p.cost_basis
                held[p.track] += 1
            for o in oms.open_orders():
                if o.side is OrderSide.BUY:
                    ref = o.limit_price or (
                        int(last_close[universe.index(o.symbol)]) if o.symbol in universe else 0
                    )
                    holds[o.track] += o.remaining * ref
            entries = [
                BookedEntry(e, self._track_of(e.client_order_id, e.symbol))
                for e in account.ledger.entries[self._first_new(account.ledger.entries) :]
            ]
            cash = account.cash
        return CycleInputs(
            ts=ts,
            cash=cash,
            invested=invested,
            unrealized=unrealized,
            held=held,
            order_holds=holds,
            entries=entries,
            safety=safety,
            vol_index=self.level,
            has_vol_index=self.vol_index is not None,
            day_start_equity=day_start_equity,
        )

    def _first_new(self, entries: list[Any]) -> int:
        """Index of the first ledger entry the flow has not booked (entries are by seq)."""
        assert self.flow is not None
        seq = self.flow.ledger_seq
        if not entries or entries[-1].seq <= seq:
            return len(entries)
        lo, hi = 0, len(entries)
        while lo < hi:
            mid = (lo + hi) // 2
            if entries[mid].seq <= seq:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _track_of(self, coid: str, symbol: str) -> Track:
        order = self.oms.orders.get(coid)
        if order is not None:
            return order.track
        pos = self.oms.account.positions.get(symbol)
        return pos.track if pos else Track.SWING

    def _apply_override_request(self, ts: datetime) -> None:
        """``qts state set`` writes a request; the running process applies it here, once."""
        flow = self.flow
        assert flow is not None
        req = self.store.load_state(OVERRIDE_REQUEST_KEY)
        if not req or req.get("id") == flow.machine.status.applied_request:
            return
        try:
            # the CLI checks the expiry against the wall clock; a run on a simulated clock keeps
            # the same bound: at most max_override_days from the cycle that applies it
            longest = ts + timedelta(days=self.config.transitions.max_override_days)
            t = flow.machine.apply_override(
                OperatingState(req["state"]),
                min(datetime.fromisoformat(req["until"]), longest),
                str(req.get("reason", "")),
                str(req.get("operator", "")),
                ts,
                str(req["id"]),
            )
        except (OverrideRefused, ValueError, KeyError) as exc:
            flow.machine.status.applied_request = str(req.get("id", ""))
            log.warning("operating-state override %s not applied: %s", req.get("id"), exc)
            self._pending.append(
                CapitalEventRecord(ts, "override_refused", {"id": req.get("id"), "why": str(exc)})
            )
            return
        flow.request_rebalance(f"STATE {t.from_state}→{t.to_state} (manual)")
        self._pending.append(CapitalEventRecord(ts, "transition", t.to_json()))
        if self.keep_rows:
            self.transitions.append(t.to_json())

    def _collect(self, out: CycleOutcome, ts: datetime) -> None:
        rows = self._pending
        for t in out.transitions:
            rows.append(CapitalEventRecord(t.ts, "transition", t.to_json()))
        for tr in out.transfers:
            rows.append(CapitalEventRecord(tr.ts, "transfer", tr.to_json()))
        for e in out.events:
            rows.append(CapitalEventRecord(ts, str(e["kind"]), e))
        row = out.row
        if self._last_row is not None and self._last_row["date"] != row["date"]:
            rows.append(CapitalEventRecord(ts, "pools", self._last_row))
        self._last_row = row
        if self.keep_rows:
            self.rows[row["date"]] = row
            self.transitions += [t.to_json() for t in out.transitions]
            self.transfers += [tr.to_json() for tr in out.transfers]

    # --- persistence -------------------------------------------------------------------------

    def persist(self) -> None:
        """Write the current documents and the new journal rows (inside the cycle's commit).
        When a trade or a daily index joined the windows, the rows appended since the windows
        document was written go to its tail; past :data:`TAIL_ROWS` the document is written
        whole and the tail starts again (a day's index costs a few rows, not ~16 KB)."""
        flow, view = self.flow, self.view
        if flow is None:
            return
        self.store.save_state(STATE_KEY, flow.machine.status.to_json())
        doc = flow.to_json(windows=False)
        if flow.windows_version != self._windows_saved:
            if self._windows_saved < 0 or flow.tail_rows > TAIL_ROWS:
                self.store.save_state(CAPITAL_WINDOWS_KEY, flow.windows_json())
                flow.windows_saved()
            self.store.save_state(CAPITAL_WINDOWS_TAIL_KEY, flow.tail_json())
            self._windows_saved = flow.windows_version
        if view is not None:
            doc["pools"] = {t.value: p.to_json() for t, p in view.pools.items()}
            doc["state"] = view.state.value
            doc["vol_index"] = self.level
            doc["rebalance_pending"] = view.rebalance_pending
        if self._last_row is not None:
            doc[CAPITAL_DAY_ROW] = self._last_row
        self.store.save_state(CAPITAL_KEY, doc)
        if self._pending:
            self.journal.record_capital_events(self._pending)
            self._pending = []

    def rolled_back(self) -> None:
        """The commit that held :meth:`persist`'s writes failed: write the windows again."""
        self._windows_saved = -1

    def guard_blocks(self, reasons: list[str], report: Report) -> None:
        """GR082 / GR080 for buys the state refused, once a day each."""
        flow = self.flow
        if flow is None:
            return
        for reason in reasons:
            if reason.startswith("NEW_ENTRY_BLOCKED"):
                flow.guard_once("GR082", "DEFENSIVE: a new entry was blocked", report)
            elif reason.startswith("DAILY_TRADE_LIMIT ("):
                flow.guard_once("GR080", f"operating-state trade limit: {reason}", report)
