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
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from qts.engines.capital import allocation as alloc
from qts.engines.capital.config import CapitalConfig
from qts.engines.capital.pool import (
    POOLS,
    CapitalBook,
    PoolSnapshot,
    PoolState,
    Transfer,
    TransferError,
    _history_row,
)
from qts.engines.capital.promotion import (
    ClosedTrade,
    PoolStats,
    demotions,
    pool_stats,
    scalp_to_swing_misses,
    swing_to_portfolio_misses,
    transfer_amount,
)
from qts.engines.capital.rows import JsonRows
from qts.engines.capital.view import CapitalView
from qts.engines.state.machine import StateMachine, StateStatus, Transition
from qts.engines.state.profile import PROFILES, OperatingState
from qts.engines.state.rules import StateInputs
from qts.model.enums import OrderSide, Track
from qts.model.ledger import LedgerEntry

ADOPTED = "adopted"  # the strategy tag of holdings adopted from the broker (qts.execution.oms)


@dataclass(frozen=True, slots=True)
class BookedEntry:
    """A ledger entry and the track of the order it filled."""

    entry: LedgerEntry
    track: Track


@dataclass(frozen=True, slots=True)
class CycleInputs:
    ts: datetime
    cash: int
    invested: dict[Track, int]
    unrealized: dict[Track, int] = field(default_factory=dict)
    held: dict[Track, int] = field(default_factory=dict)
    order_holds: dict[Track, int] = field(default_factory=dict)
    entries: Sequence[BookedEntry] = ()
    safety: str = "NORMAL"
    vol_index: float | None = None
    day_start_equity: int = 0
    circuit_breaker: bool = False

    @property
    def equity(self) -> int:
        return self.cash + sum(self.invested.values())


@dataclass(frozen=True, slots=True)
class CycleOutcome:
    view: CapitalView
    transitions: tuple[Transition, ...] = ()
    transfers: tuple[Transfer, ...] = ()
    codes: tuple[tuple[str, str], ...] = ()
    events: tuple[dict[str, Any], ...] = ()
    row: dict[str, Any] = field(default_factory=dict)


def _trade_row(c: ClosedTrade) -> list[Any]:
    return [c.day.isoformat(), c.pnl, c.holding_days]


# window sizes: a track's closed trades, a pool's daily index values
TRADES_WINDOW, HISTORY_WINDOW = 500, 95


def with_tail(windows: dict[str, Any], tail: dict[str, Any]) -> dict[str, Any]:
    """``windows`` (:meth:`CapitalFlow.windows_json`) with the rows appended since it was
    written (:meth:`CapitalFlow.tail_json`), each window cut to its size as the flow cuts it."""
    out: dict[str, Any] = {}
    for kind, size in (("trades", TRADES_WINDOW), ("history", HISTORY_WINDOW)):
        texts = dict(windows.get(kind, {}))
        for k, rows in tail.get(kind, {}).items():
            joined = json.loads(texts.get(k, "[]")) + rows
            texts[k] = JsonRows[Any](lambda r: r).text(joined[-size:])
        out[kind] = texts
    return out


def with_windows(memory: dict[str, Any], windows: dict[str, Any]) -> dict[str, Any]:
    """``memory`` (a :meth:`CapitalFlow.to_json` document) with the windows stored apart
    (:meth:`CapitalFlow.windows_json`: JSON texts)."""
    trades = {k: json.loads(v) for k, v in windows.get("trades", {}).items()}
    out = {**memory, "trades": trades or memory.get("trades", {})}
    book = memory.get("book")
    if book:
        history = {k: json.loads(v) for k, v in windows.get("history", {}).items()}
        out["book"] = {
            k: {**v, "history": history.get(k, v.get("history", []))} for k, v in book.items()
        }
    return out


def _quarter(d: date) -> tuple[int, int]:
    return d.year, (d.month - 1) // 3


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
        self._book_entries(entries)
        transfers += self._cover_overdrafts(ts, codes)
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
            self._new_day(x, totals, codes, events)
            transfers += self._daily(x, prev, totals, codes, events)
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

    def _book_entries(self, entries: Sequence[BookedEntry]) -> None:
        book = self.book
        assert book is not None
        for be in entries:
            e = be.entry
            if e.seq <= self.ledger_seq:
                continue
            self.ledger_seq = e.seq
            if e.strategy == ADOPTED:
                # holdings adopted from the broker at start-up: the opening allocation counted
                # them as the track's positions and the account's cash never paid for them here
                continue
            book[be.track].cash += e.net_amount
            if e.side is OrderSide.BUY:
                if e.position_after == e.qty:
                    self.opened[e.symbol] = e.ts.isoformat()
                continue
            held = 0.0
            if e.position_after == 0:
                opened = self.opened.pop(e.symbol, None)
                if opened:
                    held = (e.ts - datetime.fromisoformat(opened)).total_seconds() / 86_400
            trades = self.trades.setdefault(be.track, [])
            closed = ClosedTrade(e.ts.date(), e.pnl, held)
            trades.append(closed)
            self.windows_version += 1
            self._tail["trades"].setdefault(be.track.value, []).append(_trade_row(closed))
            self.tail_rows += 1
            if len(trades) > TRADES_WINDOW:
                del trades[:-TRADES_WINDOW]
            streak = self.loss_streak.get(be.track, 0)
            self.loss_streak[be.track] = streak + 1 if e.pnl < 0 else 0

    def _cover_overdrafts(self, ts: datetime, codes: list[tuple[str, str]]) -> list[Transfer]:
        """A pool whose buy filled above the price it was sized at is topped up by the pool with
        the most cash, so no pool's available capital is negative."""
        book = self.book
        assert book is not None
        out = []
        for t in POOLS:
            short = -book[t].cash
            if short <= 0 or book[t].locked:
                continue
            donor = max(
                (d for d in POOLS if d is not t and not book[d].locked),
                key=lambda d: book[d].cash,
                default=None,
            )
            if donor is None or book[donor].cash < short:
                continue
            try:
                out.append(book.transfer(donor, t, short, "COVER", f"{t} overdrawn", ts))
            except TransferError as exc:
                codes.append(("FS083", str(exc)))
        return out

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
        )

    def _new_day(
        self,
        x: CycleInputs,
        totals: dict[Track, int],
        codes: list[tuple[str, str]],
        events: list[dict[str, Any]],
    ) -> None:
        """Close the previous day's books: profitable-day streak, pool value indices, FS082."""
        book = self.book
        assert book is not None
        if self.day is not None:
            self.profitable_days = (
                self.profitable_days + 1 if self.last_equity >= self.day_open_equity else 0
            )
        self.day = x.ts.date()
        self.day_open_equity = x.day_start_equity or x.equity
        self.moved_today = 0
        self._seen_today.clear()
        for t in POOLS:
            p = book[t]
            now = totals[t]
            if p.last_total > 0 and now - p.flow >= 0:
                p.index *= (now - p.flow) / p.last_total
            p.peak = max(p.peak, p.index)
            p.history.append((self.day, p.index))
            self.windows_version += 1
            self._tail["history"].setdefault(t.value, []).append(_history_row(p.history[-1]))
            self.tail_rows += 1
            if len(p.history) > HISTORY_WINDOW:
                del p.history[:-HISTORY_WINDOW]
            p.flow, p.last_total = 0, now
            limit = self.config.lock_drawdown
            if p.drawdown > limit and p.lock("FS082", f"drawdown {p.drawdown:.1%}", x.ts):
                codes.append(("FS082", f"{t} pool drawdown {p.drawdown:.1%} > {limit:.0%}"))
                events.append(self._lock_event(t, x.ts))
            elif p.locked and p.lock_code == "FS082":
                waited = p.lock_ts is not None and (
                    (x.ts - p.lock_ts).total_seconds() / 86_400 >= self.config.lock_release_days
                )
                flat = x.held.get(t, 0) == 0
                if p.drawdown <= limit or (waited and flat):
                    p.peak = p.index  # a fresh start: the loss is behind the pool
                    p.unlock()
                    events.append({"kind": "unlock", "ts": x.ts.isoformat(), "pool": t.value})

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

    def _daily(
        self,
        x: CycleInputs,
        prev: date | None,
        totals: dict[Track, int],
        codes: list[tuple[str, str]],
        events: list[dict[str, Any]],
    ) -> list[Transfer]:
        book = self.book
        assert book is not None
        ts, today = x.ts, x.ts.date()
        out: list[Transfer] = []
        stats = self._stats(today)
        free = {t: max(0, book[t].cash - x.order_holds.get(t, 0)) for t in POOLS}

        def move(src: Track, dst: Track, amount: int, kind: str, reason: str) -> Transfer | None:
            amount = min(amount, free[src])
            if amount <= 0:
                return None
            try:
                tr = book.transfer(src, dst, amount, kind, reason, ts, free=free)
            except TransferError as exc:
                codes.append(("FS083", str(exc)))
                return None
            free[src] -= amount
            totals[src] -= amount
            totals[dst] += amount
            out.append(tr)
            return tr

        # demotions: a rule fires at most once per cooldown
        for d in demotions(totals, stats, self.config.demotion):
            last = self.last_demotion.get(d.rule)
            cool = self.config.demotion.cooldown_days
            if last and (today - date.fromisoformat(last)).days < cool:
                continue
            if book[d.src].locked or book[d.dst].locked or d.amount <= 0:
                continue
            if move(d.src, d.dst, d.amount, "DEMOTION", d.reason):
                self.last_demotion[d.rule] = today.isoformat()
        # promotions: Scalp → Swing weekly (first cycle of a week: Monday 08:30 before the
        # open), Swing → Portfolio quarterly (first cycle after the quarter's last close)
        if prev is not None and today.isocalendar()[:2] != prev.isocalendar()[:2]:
            self._promote(Track.SCALP, Track.SWING, totals, stats, ts, codes, move)
        if prev is not None and _quarter(today) != _quarter(prev):
            self._promote(Track.SWING, Track.PORTFOLIO, totals, stats, ts, codes, move)
        # rebalancing toward the state's targets
        profile = PROFILES[self.machine.state]
        total = sum(totals.values())
        targets = alloc.target_amounts(total, profile, self.config.min_amounts)
        drift = alloc.drift(totals, targets)
        worst = max(drift, key=lambda t: drift[t])
        if drift[worst] > self.config.drift_threshold:
            self._guard(codes, "GR055", f"{worst} is {drift[worst]:.1%} off its target")
            if self.machine.state is OperatingState.BALANCED:
                self._guard(codes, "GR081", f"pool imbalance in BALANCED: {worst} drifted")
            self.rebalance_reason = self.rebalance_reason or f"DRIFT {worst} {drift[worst]:.1%}"
        if (
            self.config.monthly_rebalance
            and profile.rebalancing_enabled
            and prev is not None
            and (today.year, today.month) != (prev.year, prev.month)
        ):
            self.rebalance_reason = self.rebalance_reason or "SCHEDULED_MONTHLY"
        for t in POOLS:
            lo, _hi = alloc.HARD_BOUNDS[t]
            share = Decimal(totals[t]) / Decimal(total) if total > 0 else Decimal(0)
            if share < lo:
                self._guard(codes, "GR051", f"{t} at {share:.1%} < its minimum {lo:.0%}")
                self.rebalance_reason = self.rebalance_reason or f"{t} BELOW_MINIMUM"
        if self.rebalance_reason:
            self._rebalance(totals, free, targets, codes, move)
        return out

    def _promote(
        self,
        src: Track,
        dst: Track,
        totals: dict[Track, int],
        stats: dict[Track, PoolStats],
        ts: datetime,
        codes: list[tuple[str, str]],
        move: Any,
    ) -> None:
        book = self.book
        assert book is not None
        p = book[src]
        profit = totals[src] - p.contributed - p.profit_base
        if src is Track.SCALP:
            c1 = self.config.scalp_to_swing
            misses, ratio = scalp_to_swing_misses(profit, stats[src], c1), c1.ratio
        else:
            c2 = self.config.swing_to_portfolio
            misses, ratio = swing_to_portfolio_misses(profit, stats[src], c2), c2.ratio
        if misses or p.locked or book[dst].locked:
            return
        total = sum(totals.values())
        hi = alloc.HARD_BOUNDS[dst][1]
        if total > 0 and Decimal(totals[dst]) / Decimal(total) >= hi:
            self._guard(codes, "GR052", f"{dst} above its maximum {hi:.0%}: no promotion into it")
            return
        amount = transfer_amount(profit, ratio)
        free = max(0, p.cash - p.earmarked)
        if amount > free:
            self._guard(codes, "GR053", f"promotion {amount:,} > {src} available {free:,}")
            amount = free
        tr = move(
            src, dst, amount, "PROMOTION", f"PROFIT_THRESHOLD_EXCEEDED {profit:,} × {ratio:g}"
        )
        if tr is None:
            return
        p.profit_base = totals[src] - p.contributed  # accumulated profit resets to 0
        p.last_promotion = ts

    def _rebalance(
        self,
        totals: dict[Track, int],
        free: dict[Track, int],
        targets: dict[Track, int],
        codes: list[tuple[str, str]],
        move: Any,
    ) -> None:
        book = self.book
        assert book is not None
        total = sum(totals.values())
        budget = alloc.daily_budget(total, self.config.max_daily_rebalance_pct) - self.moved_today
        locked = frozenset(t for t in POOLS if book[t].locked)
        p = alloc.plan(totals, free, targets, budget, self.config.min_transfer, locked)
        for leg in p.legs:
            tr = move(leg.src, leg.dst, leg.amount, "REBALANCE", self.rebalance_reason)
            if tr is not None:
                self.moved_today += tr.amount
        if p.delayed:
            self._guard(
                codes, "GR054", "rebalancing held to the daily limit; it continues tomorrow"
            )
        for t in POOLS:
            book[t].earmarked = min(p.outflow[t], max(0, book[t].cash))
        if p.done:
            self.rebalance_reason = ""

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
