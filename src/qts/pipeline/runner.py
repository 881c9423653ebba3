"""One ETEDA cycle, end to end, with its bookkeeping.

Before the stages run, the runner marks positions to the new bars and, on the first bar of a
trading day, rolls the day (base prices for the daily limits, the day's starting equity,
settlement). After Act, the cycle's decisions, equity point and checkpoint are committed together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Protocol

import numpy as np

from qts.core.errors import StorageError
from qts.core.heap import SETTLE_CYCLES, settle_heap
from qts.data.ports import (
    CHECKPOINT_KEY,
    AccountState,
    DecisionRecord,
    EquityPoint,
    TradingStore,
)
from qts.engines.capital.gates import scaled_limits
from qts.engines.contracts import CalcData, CycleReport, Decisions
from qts.engines.indicators import IndicatorBank
from qts.engines.risk import RiskGate, RiskLimits
from qts.engines.strategy.base import Strategy
from qts.engines.strategy.failure import StrategyFailed
from qts.execution.emergency import TradingControls
from qts.execution.oms import OrderManager
from qts.model.enums import OrderSide
from qts.model.frame import BarFrame
from qts.pipeline.act import ScalpRoute, act
from qts.pipeline.capital import CapitalStep
from qts.pipeline.decide import DecidePolicy, decide
from qts.pipeline.evaluate import evaluate
from qts.pipeline.extract import MarketState, extract
from qts.pipeline.transform import transform
from qts.safety.codes import Stage
from qts.safety.guard import (
    GuardPolicy,
    check_act,
    check_decisions,
    check_extract,
    check_transform,
)
from qts.safety.supervisor import SafetySupervisor

log = logging.getLogger(__name__)
STAGE_FAIL_SAFE = {
    Stage.EXTRACT: "FS010",
    Stage.TRANSFORM: "FS020",
    Stage.EVALUATE: "FS030",
    Stage.DECIDE: "FS030",
    Stage.ACT: "FS040",
}


class CycleCache(Protocol):
    """The hot cache's cycle hook: the marks are current, publish risk state and positions."""

    def after_transform(self, calc: CalcData) -> None: ...


@dataclass(frozen=True, slots=True)
class SessionView:
    """What the clock says about the market at a cycle."""

    open: bool
    minutes_to_close: float


class EtedaRunner:
    def __init__(
        self,
        oms: OrderManager,
        store: TradingStore,
        strategies: Sequence[Strategy],
        limits: RiskLimits,
        policy: DecidePolicy,
        safety: SafetySupervisor,
        record_decisions: bool = True,
        guard: GuardPolicy | None = None,
    ) -> None:
        self.oms = oms
        self.store = store
        self.strategies = list(strategies)
        self.gate = RiskGate(limits)
        self.policy = policy
        self.record_decisions = record_decisions
        self.safety = safety
        self.guard = guard or GuardPolicy()
        self.controls: TradingControls | None = None
        self.scalp: ScalpRoute | None = None  # the scalp execution pipeline, when wired
        self.cache: CycleCache | None = None
        width = len(oms.universe)
        self.bank = IndicatorBank([s for st in self.strategies for s in st.indicators()], width)
        self.last_close = np.zeros(width, dtype=np.int64)
        self.base_price = np.zeros(width, dtype=np.int64)
        self.day: date | None = None
        self._unsettled_cycles = SETTLE_CYCLES  # the first day settles what start-up built
        self._bar_day: date | None = None
        self._account_dirty = False
        self._marked: set[str] = set()  # positions with a new high/low since the last commit
        self.day_start_equity = oms.account.equity
        self.trading_enabled = True
        self.cycles = 0
        self._last_strategy_failure = ""
        self.limits = limits
        self.capital: CapitalStep | None = None  # pools and operating state (build_engine)
        self._restore_checkpoint()

    # --- bookkeeping -------------------------------------------------------------------------

    def _restore_checkpoint(self) -> None:
        state = self.store.load_state(CHECKPOINT_KEY)
        if state:
            self.day_start_equity = int(state["day_start_equity"])
            self.day = date.fromisoformat(state["day"])
            self.oms.account.settle(self.day)

    @property
    def checkpoint_ts(self) -> str | None:
        state = self.store.load_state(CHECKPOINT_KEY)
        return str(state["ts"]) if state else None

    def _roll_bar_day(self, frame: BarFrame) -> None:
        day = frame.start.date()
        if day != self._bar_day:
            self.base_price = self.last_close.copy()
            self._bar_day = day

    def _roll_day(self, frame: BarFrame) -> None:
        self._roll_bar_day(frame)
        day = frame.start.date()
        self._unsettled_cycles += 1
        if day == self.day:
            return
        if self._unsettled_cycles >= SETTLE_CYCLES:
            settle_heap()
            self._unsettled_cycles = 0
        if self.oms.account.settle(day) or self.oms.account.pending:
            self._account_dirty = True
        self.day = day
        self.day_start_equity = self.oms.account.cash + int(self.oms.qty @ self.last_close)

    def _mark(self, frame: BarFrame, positions: bool = True) -> None:
        mask = frame.active
        np.copyto(self.last_close, frame.close, where=mask)
        if not positions:
            return
        oms = self.oms
        # the held symbols with a bar, from the order manager's quantity column (kept in step
        # with the positions by every fill): no scan of every position the run ever had
        held = np.flatnonzero(mask & (oms.qty > 0)).tolist()
        if not held:
            return
        closes = frame.close.take(held).tolist()
        symbols = frame.universe.symbols
        books = oms.account.positions
        high = oms.high
        for i, close in zip(held, closes, strict=True):
            pos = books[symbols[i]]
            if pos.mark(close):
                self._marked.add(pos.symbol)
                high[i] = pos.high_since_open

    def warm_up(self, frame: BarFrame) -> None:
        """Replay a bar that an earlier process already traded on: indicators and prices only.

        Positions keep the marks stored with the checkpoint; re-marking them with bars from
        before they were opened would corrupt their excursions."""
        self._roll_bar_day(frame)
        self._mark(frame, positions=False)
        self.bank.update(frame)

    # --- the cycle ---------------------------------------------------------------------------

    def run_cycle(self, frame: BarFrame, ts: datetime, session: SessionView) -> CycleReport:
        """One cycle. A stage that fails raises its fail-safe code and ends the cycle there;
        only a storage failure escapes (nothing can be trusted that cannot be recorded)."""
        safety = self.safety
        safety.begin_cycle()
        self._roll_day(frame)
        self._mark(frame)
        cycle_id = ts.isoformat()
        market = MarketState(
            self.base_price, self.last_close, session.open, session.minutes_to_close
        )
        report = CycleReport(cycle_id, ts, None)
        equity = self.oms.account.cash + int(self.oms.qty @ self.last_close)
        unrealized = 0
        try:
            stage = Stage.EXTRACT
            capital = None
            if self.capital is not None:
                capital = self.capital.step(
                    ts,
                    frame,
                    self.last_close,
                    safety.state.value,
                    self.day_start_equity,
                    safety.report,
                )
                self.gate.limits = scaled_limits(self.limits, capital.profile.risk_multiplier)
            raw = extract(
                cycle_id,
                ts,
                frame,
                market,
                self.oms,
                self.day_start_equity,
                safety.state.value,
                self.trading_enabled,
                capital,
            )
            self._report(check_extract(raw, ts, self.guard))
            stage = Stage.TRANSFORM
            calc = transform(raw, self.bank, self.last_close)
            self._report(check_transform(calc))
            equity, unrealized = calc.total_equity, int(calc.unrealized_pnl.sum())
            if self.cache is not None:
                self.cache.after_transform(calc)
            stage = Stage.EVALUATE
            ev = evaluate(calc, self.strategies, self.gate)
            stage = Stage.DECIDE
            decisions = self._apply_controls(decide(ev, self.policy, safety.state.value), ts)
            if self.capital is not None and decisions.blocked:
                self.capital.guard_blocks([d.reason for d in decisions.blocked], safety.report)
            self._report(check_decisions(decisions))
            stage = Stage.ACT
            executions = act(decisions, self.oms, cycle_id, ts, self.scalp)
            findings, accepted = check_act(executions)
            if accepted:
                safety.broker_ok()
            self._report(findings)
            report = CycleReport(cycle_id, ts, decisions, executions)
        except StorageError:
            raise
        except StrategyFailed as exc:  # a user's strategy: one line, once while it repeats
            if str(exc) != self._last_strategy_failure:
                log.error("%s stage failed at %s: %s", stage, ts, exc)
            self._last_strategy_failure = str(exc)
            safety.report(STAGE_FAIL_SAFE[stage], f"{stage} failed: {exc}")
        except Exception as exc:
            code = STAGE_FAIL_SAFE[stage]
            log.exception("%s stage failed at %s", stage, ts)
            safety.report(code, f"{stage} failed: {type(exc).__name__}: {exc}")
        self._commit(report, equity, unrealized)
        safety.end_cycle()
        self.cycles += 1
        return report

    def _apply_controls(self, decisions: Decisions, ts: datetime) -> Decisions:
        """The micro risk loop's blocks: no entries for blocked symbols, nothing while ETEDA is
        suspended (exits included: the micro loop owns the positions then)."""
        c = self.controls
        if c is None or not decisions.orders:
            return decisions
        keep, blocked = [], list(decisions.blocked)
        for od in decisions.orders:
            if c.suspended(ts):
                blocked.append(replace(od, action=None, reason="ETEDA_SUSPENDED (micro risk loop)"))
            elif od.action is OrderSide.BUY and not c.entries_allowed(od.symbol):
                blocked.append(replace(od, action=None, reason="ENTRIES_BLOCKED (micro risk loop)"))
            else:
                keep.append(od)
        return replace(decisions, orders=tuple(keep), blocked=tuple(blocked))

    def _report(self, findings: list[tuple[str, str]]) -> None:
        for code, message in findings:
            self.safety.report(code, message)

    def _commit(self, report: CycleReport, equity: int, unrealized: int) -> None:
        try:
            self._commit_rows(report, equity, unrealized)
        except BaseException:
            if self.capital is not None:
                self.capital.rolled_back()
            raise

    def _commit_rows(self, report: CycleReport, equity: int, unrealized: int) -> None:
        account = self.oms.account
        # the lock order (qts.core.locks): the order manager's lock before the store's
        # transaction, as every fill and emergency exit takes them
        with self.oms.lock, self.store.transaction():
            self.oms.save_answers()
            if self.record_decisions and report.decisions and report.decisions.evaluation.results:
                self.store.record_decisions(self._decision_records(report))
            realized = self.oms.realized_pnl
            self.store.record_equity(
                EquityPoint(
                    ts=report.ts,
                    cash=account.cash,
                    market_value=equity - account.cash,
                    equity=equity,
                    realized=realized,
                    unrealized=unrealized,
                    fees=account.ledger.total_fees(),
                )
            )
            marked = self._marked
            if marked:
                books = account.positions
                self.store.save_positions([books[s] for s in sorted(marked)])
                marked.clear()
            if self._account_dirty:
                self.store.save_account(AccountState(account.cash, dict(account.pending)))
                self._account_dirty = False
            if self.capital is not None:
                self.capital.persist()
            self.store.save_state(
                CHECKPOINT_KEY,
                {
                    "ts": report.ts.isoformat(),
                    "day": (self.day or report.ts.date()).isoformat(),
                    "day_start_equity": self.day_start_equity,
                },
            )

    def _decision_records(self, report: CycleReport) -> list[DecisionRecord]:
        """Every evaluated decision of the cycle (each one, at 1,000 symbols ~40 a cycle).
        Fields in the record's order, metadata given: a frozen dataclass's keywords and default
        factory cost half again as much."""
        assert report.decisions is not None
        ts, cycle_id = report.ts, report.cycle_id
        status = {e.symbol: e.status for e in report.executions}
        by_symbol = {d.symbol: d for d in (*report.decisions.orders, *report.decisions.blocked)}
        out: list[DecisionRecord] = []
        for r in report.decisions.evaluation.results:
            decision = r.decision
            symbol = decision.symbol
            od = by_symbol.get(symbol)
            out.append(
                DecisionRecord(
                    ts,
                    cycle_id,
                    symbol,
                    decision.signal.value,
                    decision.strategy,
                    r.price,
                    r.final_qty,
                    r.risk.approved,
                    od.reason if od else r.risk.reason,
                    status.get(symbol, "blocked"),
                    {},
                )
            )
        return out
