"""Wires the scalp execution micro-pipeline into a run: its read interfaces over the order
manager, the broker's book, the safety supervisor and the spine, and its clock on the spine.

- PreCheck reads through :class:`RunPreCheckInputs` (a cache-backed reader may replace it).
- Quotes come from the broker's order book when it has one (the simulated exchange, the KIS
  fake through the simulator) — otherwise the feedback defaults stand in.
- EmergencyEscape flattens through a P0 ``EMERGENCY_ORDER`` on the spine (the micro risk loop's
  exit path), reports FS092 and may suspend ETEDA.
- Time reaches the pipeline from the spine: once per bar on a simulated clock (after the venue's
  reports), every 100 ms on the wall clock (a P0 ``SCALP_TIMER`` event).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from qts.brokers.base import OrderUpdate
from qts.core.clock import Clock
from qts.data.feedback import FeedbackLoop
from qts.data.market_ports import MarketDataStore
from qts.events import Dispatcher, Event, EventPriority, EventType
from qts.execution.emergency import TradingControls
from qts.execution.oms import OrderManager
from qts.execution.stages.pipeline import ScalpConfig, ScalpPipeline
from qts.execution.stages.ports import Quote
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.rules import rules_for
from qts.market.krx.sessions import accepts_orders, phase_at
from qts.market.krx.tick_size import tick_table
from qts.model.enums import OrderSide, Track
from qts.model.fill import Fill
from qts.risk import ActionType, MicroRiskAction
from qts.safety.supervisor import SafetySupervisor

log = logging.getLogger(__name__)
SCALP_TIMER = "SCALP_TIMER"
TIMER_PERIOD = timedelta(milliseconds=100)
ETEDA_SUSPEND = timedelta(seconds=60)
RETRY_EXIT = timedelta(seconds=1)


class RunPreCheckInputs:
    """PreCheck's view of the run: the order manager's books, the broker, the calendar and the
    safety state."""

    def __init__(
        self,
        oms: OrderManager,
        safety: SafetySupervisor,
        controls: TradingControls,
        calendar: KrxCalendar,
        order_hours: Callable[[], bool] | None = None,
    ) -> None:
        self.oms = oms
        self.safety = safety
        self.controls = controls
        self.calendar = calendar
        self.order_hours = order_hours
        self.pipeline: ScalpPipeline | None = None

    def has_live_execution(self, symbol: str, strategy: str, side: OrderSide) -> bool:
        # one that can no longer make progress (nothing open at the broker, nothing to send)
        # does not count: the pipeline settles it from the books when the order comes again
        p = self.pipeline
        return p is not None and p.running(symbol, strategy, side)

    def position_qty(self, symbol: str) -> int:
        return self.oms.account.held_qty(symbol)

    def available_cash(self) -> int:
        committed = 0
        for o in self.oms.open_orders():
            if o.side is OrderSide.BUY:
                committed += o.remaining * (o.limit_price or 0)
        return self.oms.account.buying_power - committed

    def broker_connected(self) -> bool:
        connected = getattr(self.oms.broker, "connected", None)
        return bool(connected()) if callable(connected) else True

    def reconnect(self) -> bool:
        again = getattr(self.oms.broker, "reconnect", None)
        if not callable(again):
            return False
        try:
            again()
        except Exception:
            log.exception("scalp precheck: reconnect failed")
            return False
        return self.broker_connected()

    def market_open(self, symbol: str, now: datetime) -> bool:
        if self.order_hours is not None:  # a broker's hours, on the venue's clock
            return self.order_hours()
        return accepts_orders(phase_at(now, self.calendar))

    def risk_check(self, symbol: str, side: OrderSide, qty: int, price: int) -> str:
        if not self.safety.trading_allowed:
            return f"safety state {self.safety.state.value}"
        if side is OrderSide.BUY and not self.controls.entries_allowed(symbol):
            return "entries blocked by the micro risk loop"
        return ""


class BrokerMarketView:
    """Best bid/ask from the broker's order book, when the broker has one."""

    def __init__(self, oms: OrderManager) -> None:
        self.oms = oms

    def quote(self, symbol: str) -> Quote | None:
        depth = getattr(self.oms.broker, "depth", None)
        if not callable(depth):
            return None
        book = depth(symbol, 1)
        if not book or not book[0] or not book[1]:
            return None
        (bid, bq), (ask, aq) = book[0][0], book[1][0]
        return Quote(int(bid), int(bq), int(ask), int(aq))

    def avg_daily_volume(self, symbol: str) -> int:
        return 0


class SpineEscape:
    """EmergencyEscape's effects: P0 exit order, safety codes, ETEDA suspension."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        oms: OrderManager,
        safety: SafetySupervisor,
        controls: TradingControls,
        clock: Clock,
    ) -> None:
        self.dispatcher = dispatcher
        self.oms = oms
        self.safety = safety
        self.controls = controls
        self.clock = clock
        # symbols an escape must flatten, until they are flat: an exit the venue did not take
        # (broker down) is sent again once a second while nothing is open for the symbol
        self.pending: dict[str, str] = {}
        self.last_sent: dict[str, datetime] = {}

    def retry(self, now: datetime) -> None:
        for symbol, reason in list(self.pending.items()):
            if self.oms.account.held_qty(symbol) <= 0:
                del self.pending[symbol]
                continue
            if any(o.symbol == symbol and o.side is OrderSide.SELL for o in self.oms.open_orders()):
                continue
            last = self.last_sent.get(symbol)
            if last is None or now - last >= RETRY_EXIT:
                self.publish_exit(symbol, reason)

    def flatten(self, symbol: str, reason: str) -> None:
        self.pending[symbol] = reason
        self.publish_exit(symbol, reason)

    def publish_exit(self, symbol: str, reason: str) -> None:
        qty = self.oms.account.held_qty(symbol)
        if qty <= 0:
            return
        self.last_sent[symbol] = self.clock.now()
        action = MicroRiskAction(ActionType.FULL_EXIT, symbol, qty, reason)
        self.dispatcher.publish(
            Event.of(EventType.EMERGENCY_ORDER, action, key=symbol, source="SCALP_ESCAPE")
        )

    def report(self, code: str, message: str) -> None:
        self.safety.report(code, message)

    def suspend_eteda(self, reason: str) -> None:
        until = self.clock.now() + ETEDA_SUSPEND
        current = self.controls.suspended_until
        if current is None or current < until:
            self.controls.suspended_until = until


class ScalpWiring:
    """The pipeline of one run, subscribed to the spine."""

    def __init__(
        self,
        run_id: str,
        oms: OrderManager,
        safety: SafetySupervisor,
        controls: TradingControls,
        dispatcher: Dispatcher,
        clock: Clock,
        calendar: KrxCalendar,
        market_store: MarketDataStore | None = None,
        config: ScalpConfig | None = None,
        *,
        order_hours: Callable[[], bool] | None = None,
    ) -> None:
        self.clock = clock
        self.dispatcher = dispatcher
        self.inputs = RunPreCheckInputs(oms, safety, controls, calendar, order_hours)
        self.escape = SpineEscape(dispatcher, oms, safety, controls, clock)
        self._was_connected = True
        self.feedback = FeedbackLoop(market_store)
        self.feedback.load(clock.now())
        self.pipeline = ScalpPipeline(
            run_id,
            oms,
            oms.store,
            self.inputs,
            self.escape,
            clock.now,
            market=BrokerMarketView(oms),
            feedback=self.feedback,
            config=config,
            grid=lambda s, day: (
                rules_for(i, day).grid if (i := oms.instruments.get(s)) else tick_table(day)
            ),
        )
        self.inputs.pipeline = self.pipeline
        self.pipeline.recover(clock.now())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tick_queued = threading.Event()
        dispatcher.subscribe(SCALP_TIMER, self._on_timer_event)

    def handles(self, track: Track) -> bool:
        return track is Track.SCALP

    # --- spine hooks -------------------------------------------------------------------------

    def on_fill(self, fill: Fill) -> None:
        self.pipeline.on_fill(fill)

    def on_update(self, update: OrderUpdate) -> None:
        self.pipeline.on_update(update)

    def on_time(self, now: datetime) -> None:
        connected = self.inputs.broker_connected()
        if self._was_connected and not connected and self.pipeline.live:
            log.error(
                "broker connection lost with %d scalp execution(s) running: escape",
                len(self.pipeline.live),
            )
            self.pipeline.escape("BROKER_DISCONNECT")
        self._was_connected = connected
        # outside the venue's hours nothing is adjusted or escaped: the broker refuses it, and
        # what is still open expires with the session
        hours = self.inputs.order_hours
        if hours is None or hours():
            self.pipeline.on_timer(now)
            if self.escape.pending:
                self.escape.retry(now)
        self.feedback.tick(now)

    def _on_timer_event(self, event: Event) -> None:
        self._tick_queued.clear()  # before the work: a tick during it queues the next one
        self.on_time(self.clock.now())

    # --- what the console shows ------------------------------------------------------------

    def status_line(self) -> str:
        """Mean slippage and quality of the executions measured so far (status panel)."""
        s = self.feedback.overall()
        live = len(self.pipeline.live)
        if s.samples == 0:
            return f"scalp execution: {live} running, no finished execution yet"
        return (
            f"scalp execution: {s.samples} measured, {live} running  mean slippage "
            f"{s.avg_slippage_bps:+.1f} bps  quality {s.avg_quality_score:.3f}  "
            f"fill ratio {s.avg_fill_ratio:.1%}  latency {s.avg_fill_latency_ms:,.0f} ms"
        )

    def day_report(self) -> str:
        """The day's execution quality, for the end-of-run report."""
        done = self.pipeline.finished
        outcomes: dict[str, int] = {}
        for ex in done:
            outcomes[ex.state.value] = outcomes.get(ex.state.value, 0) + 1
        s = self.feedback.overall()
        by = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "none"
        if s.samples == 0:
            return f"scalp executions: {by}; no execution measured"
        return (
            f"scalp executions: {by}; mean slippage {s.avg_slippage_bps:+.2f} bps, "
            f"quality {s.avg_quality_score:.3f}, fill ratio {s.avg_fill_ratio:.1%}, "
            f"impact {s.avg_market_impact_bps:.1f} bps; {self.feedback.stored} feedback rows "
            f"stored, {self.feedback.failures} feedback failures"
        )

    # --- wall-clock timer --------------------------------------------------------------------

    def start_timer(self) -> None:
        self._thread = threading.Thread(target=self._tick, name="scalp-timer", daemon=True)
        self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(TIMER_PERIOD.total_seconds()):
            if self.pipeline.live or self.feedback.pending or self.escape.pending:
                self.publish_tick()

    def publish_tick(self) -> bool:
        """Queue a timer event unless one is still queued: a tick means "look now", so ticks
        behind a slow P0 handler (broker calls at the rate limit) coalesce instead of filling
        the P0 queue (FS110) and holding up a stop."""
        if self._tick_queued.is_set():
            return False
        self._tick_queued.set()
        try:
            self.dispatcher.publish(
                Event(SCALP_TIMER, EventPriority.P0, None, "scalp", "SCALP_TIMER")
            )
        except BaseException:
            self._tick_queued.clear()
            raise
        return True

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.feedback.flush(self.clock.now())
        if self.feedback.store is not None:
            try:
                self.feedback.store.close()
            except Exception:
                log.exception("closing the feedback store failed")
