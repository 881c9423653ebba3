"""The capital engine: pools, operating state and their rules, one step per ETEDA cycle.

Pure: it is handed the cycle's time, the account's cash, the market value of each track's
positions, the ledger entries booked since the last step (with their track) and the safety
state; it returns the view ETEDA trades on, plus what happened (transitions, transfers, safety
codes) for the caller to persist and report. Its whole memory is :meth:`to_json`.

Per step: book the new fills into their pools (a buy moves money from available to invested, a
sale back, fees and P&L stay with the pool) → cover an overdrawn pool → reconcile Σ pool cash
with the account (FS084) → Safety locks (FS080, FS081, FS085) → evaluate the operating state →
on the first cycle of a trading day: mark the pools' value index, drawdown locks (FS082),
demotions, promotions (weekly / quarterly), rebalancing (≤ 5 % of capital a day) → the view.

The step's pieces have a module each: ``cycle`` (what a step is handed and returns),
``booking`` (the fills into their pools, overdrawn pools covered), ``daily`` (the first cycle
of a trading day) and ``windows`` (the closed-trade and pool-history windows stored apart).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from qts.engines.capital import allocation as alloc
from qts.engines.capital.booking import ADOPTED, book_entries, cover_overdrafts
from qts.engines.capital.config import CapitalConfig
from qts.engines.capital.cycle import BookedEntry, CycleInputs, CycleOutcome
from qts.engines.capital.daily import close_day, daily_transfers
from qts.engines.capital.pool import POOLS, CapitalBook, PoolSnapshot, PoolState, Transfer
from qts.engines.capital.promotion import ClosedTrade, PoolStats, pool_stats
from qts.engines.capital.rows import JsonRows
from qts.engines.capital.view import CapitalView
from qts.engines.capital.windows import (
    HISTORY_WINDOW,
    TRADES_WINDOW,
    _trade_row,
    with_tail,
    with_windows,
)
from qts.engines.state.machine import StateMachine, StateStatus
from qts.engines.state.profile import PROFILES
from qts.engines.state.rules import StateInputs
from qts.model.enums import Track

# the names callers and tests import from here, wherever they are defined
__all__ = [
    "ADOPTED",
    "HISTORY_WINDOW",
    "TRADES_WINDOW",
    "BookedEntry",
    "CapitalFlow",
    "CycleInputs",
    "CycleOutcome",
    "locked_pools",
    "with_tail",
    "with_windows",
]


class CapitalFlow:
    def __init__(
        self,
        config: CapitalConfig,
        machine: StateMachine,
        book: CapitalBook | None = None,
        memory: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.machine = machine
        self.book = book
        m = memory or {}
        self.day: date | None = date.fromisoformat(m["day"]) if m.get("day") else None
        self.start: datetime | None = datetime.fromisoformat(m["start"]) if m.get("start") else None
        self.initial_equity = int(m.get("initial_equity", 0))
        self.peak_equity = int(m.get("peak_equity", 0))
        self.last_equity = int(m.get("last_equity", 0))
        self.day_open_equity = int(m.get("day_open_equity", 0))
        self.profitable_days = int(m.get("profitable_days", 0))
        self.moved_today = int(m.get("moved_today", 0))
        self.rebalance_reason: str = str(m.get("rebalance_reason", ""))
        self.last_demotion: dict[str, str] = dict(m.get("last_demotion", {}))
        self.trades: dict[Track, list[ClosedTrade]] = {
            Track(k): [ClosedTrade(date.fromisoformat(a), int(b), float(c)) for a, b, c in v]
            for k, v in m.get("trades", {}).items()
        }
        self._trade_rows: dict[Track, JsonRows[ClosedTrade]] = {}
        self.loss_streak: dict[Track, int] = {
            Track(k): int(v) for k, v in m.get("loss_streak", {}).items()
        }
        self.opened: dict[str, str] = dict(m.get("opened", {}))
        self.fs080 = bool(m.get("fs080", False))
        self.ledger_seq = int(m.get("ledger_seq", 0))
        self._seen_today: set[str] = set(m.get("seen_today", []))
        # moves whenever a closed trade or a pool's daily index joins its window
        self.windows_version = 0
        # the rows appended since the windows document was last written (tail_json)
        self._tail: dict[str, dict[str, list[Any]]] = {"trades": {}, "history": {}}
        self.tail_rows = 0

    # --- persistence -------------------------------------------------------------------------

    def to_json(self, windows: bool = True) -> dict[str, Any]:
        """The flow's memory document; with ``windows=False`` without the closed-trade and
        pool-history windows (:meth:`windows_json`), which change at most a few times a day and
        are then stored apart, written only when :attr:`windows_version` moves."""
        doc = {
            "book": self.book.to_json(windows) if self.book else None,
            "day": self.day.isoformat() if self.day else None,
            "start": self.start.isoformat() if self.start else None,
            "initial_equity": self.initial_equity,
            "peak_equity": self.peak_equity,
            "last_equity": self.last_equity,
            "day_open_equity": self.day_open_equity,
            "profitable_days": self.profitable_days,
            "moved_today": self.moved_today,
            "rebalance_reason": self.rebalance_reason,
            "last_demotion": self.last_demotion,
            "loss_streak": {t.value: v for t, v in self.loss_streak.items()},
            "opened": self.opened,
            "fs080": self.fs080,
            "ledger_seq": self.ledger_seq,
            "seen_today": sorted(self._seen_today),
        }
        if windows:
            doc["trades"] = self._trades_json()
        return doc

    def windows_json(self) -> dict[str, Any]:
        """The closed-trade windows by track and the pools' daily index history, each as its
        JSON text: a window's entries are encoded once, not its ~800 numbers again each time
        (with daily bars the history moves every cycle)."""
        book = self.book
        return {
            "trades": {
                t.value: self._trade_rows.setdefault(t, JsonRows(_trade_row)).text(v)
                for t, v in self.trades.items()
            },
            "history": {t.value: book[t].history_text() for t in POOLS} if book else {},
        }

    def tail_json(self) -> dict[str, Any]:
        """The window rows appended since :meth:`windows_saved`: written instead of the whole
        windows document, a day's index costs its three rows, not the ~16 KB document."""
        return self._tail

    def windows_saved(self) -> None:
        """The windows document now holds every row: the tail starts again."""
        self._tail = {"trades": {}, "history": {}}
        self.tail_rows = 0

    def _trades_json(self) -> dict[str, Any]:
        return {
            t.value: self._trade_rows.setdefault(t, JsonRows(_trade_row)).rows(v)
            for t, v in self.trades.items()
        }

    @classmethod
    def restore(
        cls,
        config: CapitalConfig,
        state: dict[str, Any] | None,
        memory: dict[str, Any] | None,
        windows: dict[str, Any] | None = None,
    ) -> CapitalFlow | None:
        """The flow from its stored documents, or None when nothing is stored. ``windows``
        (:meth:`windows_json`) replaces the windows in ``memory`` when they are stored apart."""
        if not state:
            return None
        if memory and windows:
            memory = with_windows(memory, windows)
        machine = StateMachine(StateStatus.from_json(state), config.transitions)
        book = CapitalBook.from_json(memory["book"]) if memory and memory.get("book") else None
        return cls(config, machine, book, memory)

    @classmethod
    def new(cls, config: CapitalConfig, ts: datetime) -> CapitalFlow:
        return cls(config, StateMachine.start(config.initial_state, ts, config.transitions))

    # --- the step ----------------------------------------------------------------------------

    def step(self, x: CycleInputs) -> CycleOutcome:
        ts, equity = x.ts, x.equity
        codes: list[tuple[str, str]] = []
        transfers: list[Transfer] = []
        events: list[dict[str, Any]] = []
        entries = x.entries
        if self.book is None:
            self._open(x)
            events.append({"kind": "opened", "ts": ts.isoformat(), "equity": equity})
            # the opening allocation starts from the account's cash and positions, which already
            # hold every fill booked so far (e.g. holdings adopted from the broker): booking them
            # again would take their cost from the pools twice
            entries = ()
        book = self.book
        assert book is not None
        book_entries(self, entries)
        transfers += cover_overdrafts(self, ts, codes)
        if book.cash != x.cash:
            diff = x.cash - book.cash
            target = max(POOLS, key=lambda t: book[t].cash)
            book[target].cash += diff
            book[target].contributed += diff
            msg = f"pools hold {book.cash - diff:,} won of cash, the account {x.cash:,}"
            codes.append(("FS084", f"{msg}: {diff:+,} resynchronised into {target}"))
            events.append({"kind": "resync", "ts": ts.isoformat(), "pool": target, "diff": diff})
        totals = {t: book[t].cash + x.invested.get(t, 0) for t in POOLS}
        self._safety_locks(x, totals, codes, events)
        # the operating state
        self.peak_equity = max(self.peak_equity, equity)
        before = self.machine.state
        transitions = self.machine.evaluate(self._state_inputs(x))
        if self.machine.state is not before:
            self.rebalance_reason = f"STATE {before}→{self.machine.state}"
            for t in POOLS:
                book[t].earmarked = 0
        new_day = ts.date() != self.day
        if new_day:
            prev = self.day
            close_day(self, x, totals, codes, events)
            transfers += daily_transfers(self, x, prev, totals, codes, events)
        self.last_equity = equity
        totals = {t: book[t].cash + x.invested.get(t, 0) for t in POOLS}
        view = self._view(x, totals)
        row = {
            "date": ts.date().isoformat(),
            "state": self.machine.state.value,
            "scalp": totals[Track.SCALP],
            "swing": totals[Track.SWING],
            "portfolio": totals[Track.PORTFOLIO],
            "equity": equity,
        }
        return CycleOutcome(
            view, tuple(transitions), tuple(transfers), tuple(codes), tuple(events), row
        )

    # --- pieces ------------------------------------------------------------------------------

    def _open(self, x: CycleInputs) -> None:
        """First allocation at the initial state's targets; open positions stay with their
        track, so a pool's cash is its target less what its positions are worth."""
        equity = max(x.equity, 0)
        targets = alloc.target_amounts(
            equity, PROFILES[self.machine.state], self.config.min_amounts
        )
        want = {t: max(0, targets[t] - x.invested.get(t, 0)) for t in POOLS}
        cash = {t: 0 for t in POOLS}
        wanted = sum(want.values())
        if wanted > 0 and x.cash > 0:
            for t in POOLS:
                cash[t] = x.cash * want[t] // wanted
        rest = x.cash - sum(cash.values())
        cash[max(POOLS, key=lambda t: want[t])] += rest
        self.book = CapitalBook.open(cash)
        for t in POOLS:
            self.book[t].last_total = cash[t] + x.invested.get(t, 0)
            self.book[t].contributed = self.book[t].last_total
        self.start = x.ts
        self.initial_equity = equity
        self.peak_equity = equity
        self.day_open_equity = x.day_start_equity or equity

    def _safety_locks(
        self,
        x: CycleInputs,
        totals: dict[Track, int],
        codes: list[tuple[str, str]],
        events: list[dict[str, Any]],
    ) -> None:
        book = self.book
        assert book is not None
        ts = x.ts
        if x.equity <= 0:
            if not self.fs080:
                codes.append(("FS080", f"total capital {x.equity:,} won"))
            self.fs080 = True
        else:
            self.fs080 = False
        if x.safety == "LOCKDOWN":
            newly = [t for t in POOLS if book[t].lock("FS085", "Safety LOCKDOWN", ts)]
            if newly:
                codes.append(("FS085", "Safety LOCKDOWN: every pool locked"))
                events += [self._lock_event(t, ts) for t in newly]
        else:
            for t in POOLS:
                if book[t].locked and book[t].lock_code == "FS085":
                    book[t].unlock()
                    events.append({"kind": "unlock", "ts": ts.isoformat(), "pool": t.value})
        for t in POOLS:
            if totals[t] < 0 and book[t].lock("FS081", f"pool total {totals[t]:,} won", ts):
                codes.append(("FS081", f"{t} pool is negative: {totals[t]:,} won"))
                events.append(self._lock_event(t, ts))
            elif totals[t] >= 0 and book[t].lock_code == "FS081":
                book[t].unlock()
                events.append({"kind": "unlock", "ts": ts.isoformat(), "pool": t.value})

    def _lock_event(self, t: Track, ts: datetime) -> dict[str, Any]:
        p = self.book[t] if self.book else None
        return {
            "kind": "lock",
            "ts": ts.isoformat(),
            "pool": t.value,
            "code": p.lock_code if p else "",
            "reason": p.lock_reason if p else "",
        }

    def _state_inputs(self, x: CycleInputs) -> StateInputs:
        equity = x.equity
        dd = 1 - equity / self.peak_equity if self.peak_equity > 0 else 0.0
        start_eq = x.day_start_equity
        daily_loss = max(0.0, (start_eq - equity) / start_eq) if start_eq > 0 else 0.0
        cagr = None
        growth = 0.0
        if self.initial_equity > 0 and self.start is not None:
            growth = equity / self.initial_equity - 1
            days = (x.ts - self.start).total_seconds() / 86_400
            if days >= 30 and equity > 0:
                cagr = (equity / self.initial_equity) ** (365 / days) - 1
        today = x.ts.date()
        since = today - timedelta(days=30)
        recent = [t for v in self.trades.values() for t in v if t.day >= since]
        win = len([t for t in recent if t.pnl > 0]) / len(recent) if recent else None
        return StateInputs(
            ts=x.ts,
            drawdown=max(0.0, dd),
            vol_index=x.vol_index,
            scalp_loss_streak=self.loss_streak.get(Track.SCALP, 0),
            daily_loss=daily_loss,
            safety=x.safety,
            circuit_breaker=x.circuit_breaker,
            profitable_days=self.profitable_days,
            cagr=cagr,
            growth=growth,
            win_rate_30d=win,
            has_vol_index=x.has_vol_index,
        )

    def _stats(self, today: date) -> dict[Track, PoolStats]:
        book = self.book
        assert book is not None
        return {
            t: pool_stats(
                book[t].history,
                book[t].drawdown,
                self.trades.get(t, []),
                self.loss_streak.get(t, 0),
                today,
            )
            for t in POOLS
        }

    def guard_once(self, code: str, message: str, report: Any) -> None:
        """Report a guardrail of the cycle's decisions at most once per trading day."""
        codes: list[tuple[str, str]] = []
        self._guard(codes, code, message)
        for c, m in codes:
            report(c, m)

    def _guard(self, codes: list[tuple[str, str]], code: str, message: str) -> None:
        """Capital guardrails are reported once per trading day."""
        if code not in self._seen_today:
            self._seen_today.add(code)
            codes.append((code, message))

    def _view(self, x: CycleInputs, totals: dict[Track, int]) -> CapitalView:
        book = self.book
        assert book is not None
        total = sum(totals.values())
        profile = PROFILES[self.machine.state]
        targets, _ = alloc.normalise(profile.targets)
        pools = {}
        for t in POOLS:
            p = book[t]
            invested = x.invested.get(t, 0)
            reserved = min(p.earmarked + x.order_holds.get(t, 0), max(0, p.cash))
            unrealized = x.unrealized.get(t, 0)
            pools[t] = PoolSnapshot(
                pool_id=t,
                timestamp=x.ts,
                total_capital=totals[t],
                invested_capital=invested,
                reserved_capital=reserved,
                realized_pnl=totals[t] - p.contributed - unrealized,
                unrealized_pnl=unrealized,
                accumulated_profit=totals[t] - p.contributed - p.profit_base,
                allocation_pct=(
                    (Decimal(totals[t]) / Decimal(total)).quantize(Decimal("0.0001"))
                    if total > 0
                    else Decimal(0)
                ),
                target_allocation_pct=targets[t],
                last_promotion_time=p.last_promotion,
                pool_state=p.state,
                lock_reason=p.lock_reason,
                lock_timestamp=p.lock_ts,
            )
        return CapitalView(self.machine.state, pools, bool(self.rebalance_reason))

    # --- operator ----------------------------------------------------------------------------

    def request_rebalance(self, reason: str = "MANUAL") -> None:
        self.rebalance_reason = reason


def locked_pools(view: CapitalView) -> list[Track]:
    return [t for t, p in view.pools.items() if p.pool_state is PoolState.LOCKED]
