"""The scalp execution micro-pipeline (spec §2): one object per run, one Execution per order.

``execute`` runs PreCheck → OrderSplit → AsyncSend and returns once the venue acknowledged the
first slices: that is all ETEDA's Act waits for. Everything after — fills (``on_fill``), venue
notices (``on_update``) and time (``on_timer``: scheduled slices, the fill monitor's deadline,
AdaptiveAdjust rounds, stage watchdogs) — arrives as events on the run's spine.

Persist before act: the execution's plan (every slice with its client order id) is stored
before the first slice is sent, and each slice is stored as NEW by the order manager before it
goes to the venue; ``recover`` resumes every unfinished plan after a restart (NEW slices are
sent again under the same id, which the venue answers without opening a second order).

Decisions where the spec is vague or contradicts itself are in docs/adr/0008-scalp-pipeline.md.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from qts.brokers.base import OrderUpdate
from qts.core.ids import client_order_id
from qts.data.ports import TradingStore
from qts.engines.contracts import ExecutionResult, OrderDecision
from qts.engines.feedback import expected_entry_price, market_impact_bps, measure, size_cap
from qts.engines.feedback.formulas import MAX_IMPACT_BPS
from qts.execution.algos import SplitKind, SplitPolicy, split_order
from qts.execution.stages.adjust import SlippageConfig, improved_price
from qts.execution.stages.execution import Execution, Slice
from qts.execution.stages.ports import (
    EscapeActions,
    ExecutionVenue,
    FeedbackPort,
    MarketView,
    NoMarket,
)
from qts.execution.stages.precheck import PreCheckInputs, precheck
from qts.execution.stages.send import send_with_retry
from qts.execution.stages.state import ON_TIMEOUT, ExecState
from qts.market.krx.tick_size import TickTable, tick_table
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill
from qts.model.order import Order

log = logging.getLogger(__name__)
STATE_KEY = "scalp_pipeline"
STAGES = ("precheck", "split", "send", "monitor", "adjust", "escape")


@dataclass(frozen=True, slots=True)
class ScalpConfig:
    split: SplitPolicy = field(default_factory=SplitPolicy)
    slippage: SlippageConfig = field(default_factory=SlippageConfig)
    monitor_timeout: timedelta = timedelta(seconds=60)
    order_type: OrderType = OrderType.LIMIT  # marketable limits at the expected entry price
    max_impact_bps: float = MAX_IMPACT_BPS


@dataclass(slots=True)
class StageTimes:
    """Internal time per stage (venue calls excluded), in ms, for the benchmark and metrics."""

    samples: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    internal: list[float] = field(default_factory=list)  # per finished execution


class ScalpPipeline:
    def __init__(
        self,
        run_id: str,
        venue: ExecutionVenue,
        store: TradingStore,
        inputs: PreCheckInputs,
        escape: EscapeActions,
        now: Callable[[], datetime],
        *,
        market: MarketView | None = None,
        feedback: FeedbackPort | None = None,
        config: ScalpConfig | None = None,
        grid: Callable[[str, date], TickTable] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        perf: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.run_id = run_id
        self.venue = venue
        self.store = store
        self.inputs = inputs
        self.escape_actions = escape
        self.now = now
        self.market: MarketView = market or NoMarket()
        self.feedback = feedback
        self.config = config or ScalpConfig()
        # the tick grid of a symbol on a day (default: a KOSPI stock by that day's table)
        self._grid = grid or (lambda _s, day: tick_table(day))
        self.sleep = sleep
        self.perf = perf
        self.lock = threading.RLock()
        self.live: dict[str, Execution] = {}
        self.by_slice: dict[str, Execution] = {}
        self.finished: list[Execution] = []
        self.times = StageTimes()
        self._venue_s = 0.0  # venue time inside the stage being timed

    # --- ETEDA's Act -------------------------------------------------------------------------

    def execute(self, decision: OrderDecision, cycle_id: str, ts: datetime) -> ExecutionResult:
        """PreCheck, split and send; returns after the acknowledgement of the first slices."""
        assert decision.action is not None
        eid = client_order_id(
            self.run_id, cycle_id, decision.strategy, decision.symbol, decision.action.value
        )
        with self.lock:
            known = self.live.get(eid) or next(
                (e for e in self.finished if e.execution_id == eid), None
            )
            if known is not None and known.state is ExecState.MONITORING:
                self._send_due(known, ts)  # a recovered plan: its unsent slices go now
            if known is not None or eid in self.venue.orders:
                return ExecutionResult(
                    eid, decision.symbol, decision.action, decision.qty, "duplicate", "known"
                )
            # an execution of the same order that can no longer make progress (nothing open
            # at the venue, nothing left to send) is settled from the books: it never blocks
            self._settle_stalled(decision.symbol, decision.strategy, decision.action, self.now())
            ex = Execution(
                eid,
                decision.symbol,
                decision.action,
                decision.strategy,
                decision.track,
                decision.qty,
                decision.price,
                self.config.order_type,
                ts,
            )
            if ex.side is OrderSide.SELL:
                self._supersede_entries(ex.symbol, ex.strategy, ts)
            return self._run_front(ex, ts)

    def _supersede_entries(self, symbol: str, strategy: str, now: datetime) -> None:
        """An exit ends the symbol's running entries first: their open slices are cancelled
        and what they bought is what the exit sells."""
        for ex in list(self.live.values()):
            mine = ex.symbol == symbol and ex.strategy == strategy
            if mine and ex.side is OrderSide.BUY and ex.state is ExecState.MONITORING:
                self._cancel_open(ex, now, "superseded by an exit")
                self._complete(ex, "superseded by an exit", now)

    def _run_front(self, ex: Execution, ts: datetime) -> ExecutionResult:
        m = ex.machine
        # Stage 1 — PreCheck
        t0 = self._start()
        # stage watchdogs time the pipeline's own work on the run's clock; ``ts`` is the
        # decision's bar time, which on a live feed lags the clock (a replayed feed: by minutes)
        m.move(ExecState.PRECHECK, self.now())
        grid = self._grid(ex.symbol, self.now().date())
        feedback = self._summary(ex.symbol, ex.strategy)
        price = ex.decision_price
        if ex.order_type is OrderType.LIMIT and price > 0:
            price = expected_entry_price(price, ex.side, feedback.avg_slippage_bps, grid)
        result = precheck(
            self.inputs,
            symbol=ex.symbol,
            strategy=ex.strategy,
            side=ex.side,
            qty=ex.qty,
            price=price,
            now=ts,
            cost_per_share=price + max(1, price // 2_000),  # commission margin (< 0.05 %)
        )
        self._stop("precheck", t0, ex)
        if result.passed and m.expired(self.now()):
            result = replace(result, passed=False, reason="PRECHECK watchdog (5 s)")
        if not result.passed:
            m.move(ExecState.FAILED, self.now())
            ex.outcome = result.reason
            log.warning(
                "scalp %s %s x%d: precheck failed: %s", ex.side, ex.symbol, ex.qty, result.reason
            )
            return self._result(ex, "precheck_failed", result.reason)
        # Stage 2 — OrderSplit (with the feedback's size cap)
        t0 = self._start()
        m.move(ExecState.SPLITTING, self.now())
        quote = self.market.quote(ex.symbol)
        if quote is not None:
            ex.spread_bps = quote.spread_bps
        adv = self.market.avg_daily_volume(ex.symbol)
        impact = (
            market_impact_bps(result.qty, adv, ex.spread_bps)
            if adv > 0 and quote is not None
            else feedback.avg_market_impact_bps
        )
        qty = result.qty
        if ex.side is OrderSide.BUY:
            qty = max(1, size_cap(qty, impact, self.config.max_impact_bps))
        ex.qty = qty
        opposite = None
        if quote is not None:
            opposite = quote.ask_qty if ex.side is OrderSide.BUY else quote.bid_qty
        kind, specs = split_order(qty, ts, self.config.split, opposite)
        ex.kind = kind
        limit = price if ex.order_type is OrderType.LIMIT else None
        ex.slices = [Slice(s, f"{ex.execution_id}.{s.sequence}", limit) for s in specs]
        if len(specs) >= self.config.split.max_slices and kind is not SplitKind.SINGLE:
            self.escape_actions.report("GR060", f"{ex.symbol}: slices capped at {len(specs)}")
        self.live[ex.execution_id] = ex
        for s in ex.slices:
            self.by_slice[s.client_order_id] = ex
        self._persist()  # the plan is on disk before anything is sent
        self._stop("split", t0, ex)
        if m.expired(self.now()):
            m.move(ExecState.FAILED, self.now())
            return self._finish(ex, "rejected", "SPLITTING watchdog (1 s)")
        # Stage 3 — AsyncSend (only the acknowledgement is awaited)
        t0 = self._start()
        m.move(ExecState.SENDING, self.now())
        self._send_due(ex, ts)
        self._stop("send", t0, ex)
        if m.expired(self.now()):
            # the watchdog (10 s) ends the execution: what was sent is cancelled, fills stay
            self._cancel_open(ex, self.now(), "SENDING watchdog")
            m.move(ExecState.FAILED, self.now())
            return self._finish(ex, "error", "SENDING watchdog (10 s)")
        sent = [s for s in ex.slices if s.sent]
        if not sent and all(s.failed for s in ex.slices):
            m.move(ExecState.FAILED, self.now())
            status = "error" if ex.outcome.startswith("MAX_RETRIES_EXCEEDED") else "rejected"
            return self._finish(ex, status, ex.outcome or "every slice failed")
        m.move(ExecState.MONITORING, self.now())
        self._arm_monitor(ex, self.config.monitor_timeout)
        self._persist()
        if ex.filled >= ex.qty:
            self._complete(ex, "filled")
        return self._result(ex, "submitted", f"{kind.value} x{len(ex.slices)}")

    # --- events ------------------------------------------------------------------------------

    def on_fill(self, fill: Fill) -> None:
        with self.lock:
            ex = self.by_slice.get(fill.client_order_id)
            if ex is None or ex.state.is_terminal:
                return
            t0 = self._start()
            sl = ex.slice_of(fill.client_order_id)
            assert sl is not None
            sl.filled += fill.qty
            ex.fills.append((fill.qty, fill.price, fill.ts))
            if sl.filled >= sl.spec.qty:
                sl.closed = True
                if ex.state is ExecState.MONITORING:
                    self._send_due(ex, fill.ts)  # an iceberg's next slice
            self._stop("monitor", t0, ex)
            if ex.filled >= ex.qty and ex.state is ExecState.MONITORING:
                self._complete(ex, "filled")

    def on_update(self, update: OrderUpdate) -> None:
        with self.lock:
            ex = self.by_slice.get(update.client_order_id)
            if ex is None or ex.state.is_terminal:
                return
            sl = ex.slice_of(update.client_order_id)
            assert sl is not None
            if update.client_order_id != sl.client_order_id:
                return  # the notice of an order an adjustment replaced
            if update.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED):
                sl.closed = True
                if update.status is OrderStatus.REJECTED:
                    sl.failed = True
            live = [s for s in ex.slices if not s.closed and not s.failed]
            if not live and ex.state is ExecState.MONITORING:
                # the venue ended every slice (expiry at the close, refusal): stop here
                self._complete(ex, f"venue ended the slices ({update.status.value})")

    def on_timer(self, now: datetime) -> None:
        """Scheduled slices, the monitor deadline, adjustments and watchdogs."""
        with self.lock:
            for ex in list(self.live.values()):
                self._tick(ex, now)

    def running(self, symbol: str, strategy: str, side: OrderSide) -> bool:
        """PreCheck's duplicate guard: an execution of this order is live and can still make
        progress (a slice open at the venue or still to send, or a stage with its watchdog)."""
        with self.lock:
            return any(
                e.symbol == symbol
                and e.strategy == strategy
                and e.side is side
                and self._can_progress(e)
                for e in self.live.values()
            )

    def escape(self, reason: str, symbol: str | None = None) -> int:
        """EmergencyEscape for every live execution (of ``symbol``); returns how many."""
        with self.lock:
            targets = [e for e in self.live.values() if symbol is None or e.symbol == symbol]
            for ex in targets:
                self._escape(ex, reason, self.now())
            return len(targets)

    # --- the back stages ---------------------------------------------------------------------

    def _tick(self, ex: Execution, now: datetime) -> None:
        m = ex.machine
        if ex.state is ExecState.MONITORING:
            t0 = self._start()
            self._send_due(ex, now)
            self._stop("monitor", t0, ex)
            if ex.monitor_until is not None and now >= ex.monitor_until:
                self._monitor_timeout(ex, now)
        elif m.expired(now):
            target = ON_TIMEOUT[ex.state]
            if target is ExecState.ESCAPING:
                self._escape(ex, f"{ex.state.value} watchdog", now)
            elif target is ExecState.FAILED:
                m.move(ExecState.FAILED, now)
                self._finish(ex, "failed", f"{ex.state.value} watchdog")

    def _monitor_timeout(self, ex: Execution, now: datetime) -> None:
        """decisions.md: partially filled → cancel the rest, done (FS093); nothing filled →
        AdaptiveAdjust (≤ 3 rounds), then escape."""
        t0 = self._start()
        unsent = [s for s in ex.slices if not s.sent and not s.failed]
        if ex.filled > 0:
            self._cancel_open(ex, now, "fill timeout")
            self.escape_actions.report(
                "FS093", f"{ex.symbol}: filled {ex.filled}/{ex.qty}, remainder cancelled"
            )
            self._stop("monitor", t0, ex)
            self._complete(ex, "partial", now)
            return
        self._stop("monitor", t0, ex)
        t0 = self._start()
        ex.machine.move(ExecState.ADJUSTING, now)
        cfg = self.config.slippage
        if ex.rounds >= cfg.max_adjustment_rounds or ex.order_type is OrderType.MARKET:
            self._stop("adjust", t0, ex)
            self._escape(ex, "unfilled after the adjustments", now)
            return
        ex.rounds += 1
        quote = self.market.quote(ex.symbol)
        opposite = None
        if quote is not None:
            opposite = quote.ask if ex.side is OrderSide.BUY else quote.bid
        grid = self._grid(ex.symbol, self.now().date())
        for s in ex.slices:
            if s.price is None or s.failed or (s.sent and s.closed):
                continue
            new = improved_price(ex.side, s.price, ex.decision_price, opposite, cfg, grid)
            if new == s.price:
                continue
            if s.open:
                # a price change is a new order at the venue (KIS numbers it anew as well): cancel,
                # then send the rest under a new id; fills of the old id still count for the slice
                ack = self._venue(
                    functools.partial(
                        self.venue.cancel_order, s.client_order_id, now, "price adjustment"
                    )
                )
                if not ack.accepted or s.remaining <= 0:
                    continue
                s.replaced.append(s.client_order_id)
                s.client_order_id = f"{ex.execution_id}.{s.spec.sequence}a{ex.rounds}"
                self.by_slice[s.client_order_id] = ex
                s.price = new
                s.sent = s.closed = False
                self._send_slice(ex, s, now)
                continue
            s.price = new
        ex.machine.move(ExecState.MONITORING, now)
        self._arm_monitor(ex, cfg.adjust_interval, now)
        self._persist()
        self._stop("adjust", t0, ex)
        del unsent

    def _escape(self, ex: Execution, reason: str, now: datetime) -> None:
        """Cancel every pending slice, flatten the symbol (P0 EMERGENCY_ORDER), report FS092;
        a broker disconnect or a Safety FAIL also suspends ETEDA."""
        if not ex.machine.escape(now):
            return
        t0 = self._start()
        for s in ex.slices:
            if not s.sent:
                s.failed = True  # never sent now
        self._cancel_open(ex, now, f"EMERGENCY_ESCAPE: {reason}")
        acted = ex.filled > 0 or ex.side is OrderSide.SELL
        if acted:
            self.escape_actions.flatten(ex.symbol, f"EMERGENCY_ESCAPE: {reason}")
        self.escape_actions.report("FS092", f"{ex.symbol}: escape ({reason})")
        if "BROKER_DISCONNECT" in reason or "SAFETY_FAIL" in reason:
            self.escape_actions.suspend_eteda(reason)
        ex.machine.move(ExecState.ESCAPED, self.now())
        self._stop("escape", t0, ex)
        self._finish(ex, "escaped", reason)

    def _complete(self, ex: Execution, outcome: str, now: datetime | None = None) -> None:
        ex.machine.move(ExecState.COMPLETE, now or self.now())
        self._finish(ex, "complete", outcome)

    # --- helpers -----------------------------------------------------------------------------

    def _send_due(self, ex: Execution, now: datetime) -> None:
        """Send the slices whose time has come (an iceberg slice once the previous filled)."""
        for k, s in enumerate(ex.slices):
            if s.sent or s.failed:
                continue
            if s.spec.after_previous:
                prev = ex.slices[k - 1]
                if not (prev.sent and prev.filled >= prev.spec.qty):
                    break
            elif s.spec.scheduled_time > now:
                continue
            self._send_slice(ex, s, now)

    def _send_slice(self, ex: Execution, s: Slice, now: datetime) -> None:
        order_type = OrderType.LIMIT if s.price is not None else OrderType.MARKET
        order = Order(
            s.client_order_id,
            ex.symbol,
            ex.side,
            order_type,
            s.remaining,
            now,
            s.price,
            ex.strategy,
            ex.track,
        )
        errors: list[str] = []
        outcome = send_with_retry(
            lambda: self._venue(lambda: self.venue.place(order, now)),
            self._sleep,
            on_error=lambda exc: errors.append(f"{type(exc).__name__}: {exc}"),
        )
        if outcome.sent:
            s.sent = True
            return
        s.failed = s.closed = True
        ack = outcome.ack
        if outcome.transport_failed:
            ex.outcome = f"MAX_RETRIES_EXCEEDED: {errors[-1] if errors else ''}"
        else:
            assert ack is not None
            ex.outcome = f"{ack.code}: {ack.reason}" if ack.code else ack.reason
        if ack is not None and ack.code == "UNKNOWN_SYMBOL":
            self.escape_actions.report("FS091", f"{ex.symbol}: {ack.reason}")
        elif ack is not None and ack.code == "INSUFFICIENT_CASH":
            self.escape_actions.report("GR061", f"{ex.symbol}: {ack.reason}")
            for rest in ex.slices:
                if not rest.sent:
                    rest.failed = rest.closed = True
        elif outcome.transport_failed and all(x.failed for x in ex.slices):
            self.escape_actions.report("FS090", f"{ex.symbol}: every send failed")

    def _cancel_open(self, ex: Execution, now: datetime, reason: str) -> None:
        for s in ex.slices:
            if s.open:
                try:
                    self._venue(
                        functools.partial(self.venue.cancel_order, s.client_order_id, now, reason)
                    )
                except Exception:
                    log.exception("cancel of slice %s failed", s.client_order_id)
            elif not s.sent:
                s.failed = True

    def _arm_monitor(self, ex: Execution, window: timedelta, now: datetime | None = None) -> None:
        """The deadline on the pipeline's own clock: the slices' schedule is on the decision's
        (the venue's) time, which may run ahead of it (a replayed feed at ``--speed``), so only
        its length counts, never its clock."""
        ex.monitor_until = (now or self.now()) + self._schedule_left(ex) + window

    @staticmethod
    def _schedule_left(ex: Execution) -> timedelta:
        """At most how long the slices still unsent take to go out (the schedule's length)."""
        if not any(not s.sent and not s.failed for s in ex.slices):
            return timedelta(0)
        times = [s.spec.scheduled_time for s in ex.slices]
        return max(times) - min(times)

    def _open_at_venue(self, s: Slice) -> bool:
        """The slice is sent and not ended, by its record and by the books."""
        if not s.open:
            return False
        order = self.venue.orders.get(s.client_order_id)
        return order is None or not order.status.is_terminal

    def _can_progress(self, ex: Execution) -> bool:
        """Something may still happen to a live execution: a stage other than the fill monitor
        (its watchdog ends it), a slice open at the venue, or a slice that can still be sent."""
        if ex.state is not ExecState.MONITORING:
            return True
        for k, s in enumerate(ex.slices):
            if s.failed:
                continue
            if not s.sent:
                prev = ex.slices[k - 1] if k > 0 else None
                blocked = (
                    s.spec.after_previous
                    and prev is not None
                    and (prev.failed or (prev.closed and prev.filled < prev.spec.qty))
                )
                if not blocked:
                    return True
            elif self._open_at_venue(s):
                return True
        return False

    def _books_filled(self, ex: Execution) -> int:
        """What the books say the execution's orders filled (every id a slice had)."""
        total = 0
        for s in ex.slices:
            for cid in (*s.replaced, s.client_order_id):
                order = self.venue.orders.get(cid)
                if order is not None:
                    total += order.filled_qty
        return total

    def _settle(self, ex: Execution, now: datetime, why: str) -> None:
        """End a monitored execution that can no longer make progress, from the books: fills
        the pipeline missed are counted, and the outcome says what it got."""
        missed = self._books_filled(ex) - ex.filled
        if missed > 0:
            amount = sum(
                o.filled_amount
                for s in ex.slices
                for cid in (*s.replaced, s.client_order_id)
                if (o := self.venue.orders.get(cid)) is not None
            )
            price = amount // max(self._books_filled(ex), 1)
            ex.fills.append((missed, price, now))
        for s in ex.slices:
            if not s.sent:
                s.failed = True
            s.closed = True
        if ex.filled >= ex.qty:
            outcome = "filled"
        elif ex.filled > 0:
            outcome = f"partial: {ex.filled}/{ex.qty} ({why})"
        else:
            outcome = f"nothing filled ({why})"
        log.warning(
            "scalp %s %s x%d settled from the books: %s", ex.side, ex.symbol, ex.qty, outcome
        )
        self._complete(ex, outcome, now)

    def _settle_stalled(self, symbol: str, strategy: str, side: OrderSide, now: datetime) -> None:
        for ex in list(self.live.values()):
            same = ex.symbol == symbol and ex.strategy == strategy and ex.side is side
            if same and not self._can_progress(ex):
                self._settle(ex, now, "no order left at the venue")

    def _finish(self, ex: Execution, status: str, outcome: str) -> ExecutionResult:
        ex.outcome = outcome
        self.live.pop(ex.execution_id, None)
        self.finished.append(ex)
        if len(self.finished) > 1_000:
            del self.finished[:500]
        self.times.internal.append(sum(ex.stage_ms.values()))
        self._persist()
        self._feedback(ex)
        return self._result(ex, status, outcome)

    def _feedback(self, ex: Execution) -> None:
        """Feedback never stops trading: any failure is logged and dropped."""
        if self.feedback is None or (ex.state is ExecState.FAILED and not ex.fills):
            return
        try:
            self.feedback.record(
                measure(
                    time=self.now(),
                    symbol=ex.symbol,
                    order_id=ex.execution_id,
                    strategy=ex.strategy,
                    side=ex.side,
                    decision_price=ex.decision_price,
                    ordered_qty=ex.qty,
                    fills=ex.fills,
                    started_at=ex.started_at,
                    spread_bps=ex.spread_bps,
                    avg_daily_volume=self.market.avg_daily_volume(ex.symbol),
                )
            )
        except Exception:
            log.exception("feedback for %s failed; trading goes on", ex.execution_id)

    def _summary(self, symbol: str, strategy: str) -> Any:
        from qts.engines.feedback.summary import DEFAULTS

        if self.feedback is None:
            return DEFAULTS
        try:
            return self.feedback.summary(symbol, strategy)
        except Exception:
            log.exception("feedback summary for %s failed; using the defaults", symbol)
            return DEFAULTS

    def _result(self, ex: Execution, status: str, message: str) -> ExecutionResult:
        return ExecutionResult(ex.execution_id, ex.symbol, ex.side, ex.qty, status, message)

    def _persist(self) -> None:
        self.store.save_state(STATE_KEY, {eid: ex.plan() for eid, ex in sorted(self.live.items())})

    def _sleep(self, seconds: float) -> None:
        t = self.perf()
        self.sleep(seconds)
        self._venue_s += self.perf() - t  # waiting is not pipeline time

    def _venue(self, call: Callable[[], Any]) -> Any:
        t = self.perf()
        try:
            return call()
        finally:
            self._venue_s += self.perf() - t

    def _start(self) -> float:
        self._venue_s = 0.0
        return self.perf()

    def _stop(self, stage: str, t0: float, ex: Execution) -> None:
        ms = max((self.perf() - t0 - self._venue_s) * 1000.0, 0.0)
        self._venue_s = 0.0
        self.times.samples[stage].append(ms)
        ex.stage_ms[stage] = ex.stage_ms.get(stage, 0.0) + ms

    # --- recovery ----------------------------------------------------------------------------

    def recover(self, now: datetime) -> int:
        """Resume the plans a previous process left unfinished; returns how many."""
        with self.lock:
            plans = self.store.load_state(STATE_KEY) or {}
            for eid, plan in plans.items():
                if eid in self.live:
                    continue
                ex = Execution.from_plan(eid, plan)
                for s in ex.slices:
                    for old in s.replaced:
                        prior = self.venue.orders.get(old)
                        if prior is not None and prior.filled_qty:
                            s.filled += prior.filled_qty
                            ex.fills.append(
                                (prior.filled_qty, prior.filled_amount // prior.filled_qty, now)
                            )
                    order = self.venue.orders.get(s.client_order_id)
                    if order is not None:
                        s.filled += order.filled_qty
                        s.sent = order.status is not OrderStatus.NEW
                        s.closed = order.status.is_terminal or s.filled >= s.spec.qty
                        if order.filled_qty:
                            ex.fills.append(
                                (order.filled_qty, order.filled_amount // order.filled_qty, now)
                            )
                    elif s.sent:
                        s.sent = False  # recorded as sent but unknown here: send again
                for step in (ExecState.PRECHECK, ExecState.SPLITTING, ExecState.SENDING):
                    ex.machine.move(step, now)
                ex.machine.move(ExecState.MONITORING, now)
                self.live[eid] = ex
                for s in ex.slices:
                    for cid in (s.client_order_id, *s.replaced):
                        self.by_slice[cid] = ex
                self._resume(ex, now)
            self._persist()
            return len(plans)

    def _resume(self, ex: Execution, now: datetime) -> None:
        """A restored execution, its slices in step with the books (which start-up
        reconciliation brought in line with the broker), goes on where it can:

        - everything filled: complete;
        - its monitoring window still running: NEW slices (stored, never acknowledged) go out
          with the next timer tick or the re-run cycle; the monitor keeps its deadline, but
          never one further away than a fresh window (a deadline from another clock);
        - the window passed while the process was down: nothing new is sent for a stale plan
          (unsent slices are dropped, NEW orders closed in the books); a slice still open at the
          broker is handled as the deadline would have: cancelled with the execution complete
          when something filled (FS093), else adopted with a fresh window (adjust, escape);
          with nothing open it is settled from what the books say it filled.
        """
        fresh = self._schedule_left(ex) + self.config.monitor_timeout
        if ex.monitor_until is None or ex.monitor_until > now + fresh:
            ex.monitor_until = now + fresh
        if ex.filled >= ex.qty:
            self._complete(ex, "filled", now)
            return
        if ex.monitor_until > now:
            return
        for s in ex.slices:
            if s.sent or s.failed:
                continue
            s.failed = s.closed = True
            order = self.venue.orders.get(s.client_order_id)
            if order is not None and order.status is OrderStatus.NEW:
                self._venue(
                    functools.partial(
                        self.venue.cancel_order,
                        s.client_order_id,
                        now,
                        "scalp plan expired while the process was down",
                    )
                )
        if not any(self._open_at_venue(s) for s in ex.slices):
            self._settle(ex, now, "monitoring window passed while the process was down")
        elif ex.filled > 0:
            self._monitor_timeout(ex, now)
        else:
            self._arm_monitor(ex, self.config.monitor_timeout, now)
