"""The event spine of one run, and the protection that rides on it.

Market data goes in as P1 ticks (to the position shadow), the venue's fills and order notices as
P0 events (booked by the order manager on the P0 handler), the micro risk loop's decisions as P0
emergency orders, its warnings and the cycle reports as P3. With a simulated clock the loop runs
the micro risk loop once per bar and waits for the spine to be idle before each ETEDA cycle, so
runs stay reproducible; with the wall clock the micro risk loop runs on its own 100 ms thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from qts.app.cache import CachedShadow, EngineCache
from qts.brokers.base import OrderUpdate
from qts.core.clock import Clock
from qts.engines.contracts import CycleReport
from qts.events import Dispatcher, Event, EventPriority, EventType, InlineDispatcher
from qts.events.metrics import LatencyHistogram
from qts.execution.emergency import EmergencyExecutor, TradingControls
from qts.execution.oms import EMERGENCY_STRATEGY, OrderManager
from qts.model.enums import OrderStatus
from qts.model.fill import Fill
from qts.model.frame import BarFrame
from qts.model.position import Position
from qts.risk import MicroRiskAction, MicroRiskConfig, MicroRiskLoop, RiskWarning, ShadowBook
from qts.safety.supervisor import SafetySupervisor

log = logging.getLogger(__name__)
ORDER_UPDATE = "ORDER_UPDATE"
RISK_WARNING = "RISK_WARNING"


class _Sink:
    """The micro loop's outbox: never blocks it on the order manager's locks."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    def emit(self, action: MicroRiskAction) -> None:
        self.dispatcher.publish(
            Event.of(EventType.EMERGENCY_ORDER, action, key=action.symbol, source="MICRO_RISK")
        )

    def warn(self, warning: RiskWarning) -> None:
        self.dispatcher.publish(
            Event(RISK_WARNING, EventPriority.P3, warning, warning.symbol, "MICRO_RISK")
        )


class RunSpine:
    def __init__(
        self,
        dispatcher: Dispatcher,
        oms: OrderManager,
        safety: SafetySupervisor,
        clock: Clock,
        *,
        protect: bool = True,
        threaded_micro_loop: bool = False,
        micro_config: MicroRiskConfig | None = None,
        vol_index: Callable[[BarFrame], float | None] | None = None,
        cache: EngineCache | None = None,
        order_hours: Callable[[], bool] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.oms = oms
        self.safety = safety
        self.clock = clock
        self.protect = protect
        self.threaded = threaded_micro_loop
        self.vol_index = vol_index
        self.controls = TradingControls()
        self.shadow = ShadowBook(clock)
        self.cache = cache
        # with a cache, the loop's sync step reads the held symbols' prices through it
        book = self.shadow if cache is None else CachedShadow(self.shadow, cache)
        # nice -10 is best effort (ADR 0006): with the dispatcher's 0.2 ms switch interval it
        # keeps the 100 ms period within ±5 ms while the other core is busy
        self.micro = MicroRiskLoop(book, _Sink(dispatcher), clock, micro_config, nice=-10)
        self.emergency = EmergencyExecutor(
            oms, safety, clock, self.controls, self.micro, order_hours
        )
        self.ui: list[Callable[[CycleReport, list[Fill]], None]] = []
        self._decision_observers = 0
        self.fills: list[Fill] = []
        self.prints = 0  # live prints handed to the micro loop (on_print)
        self.index_values = 0
        # wall time from a bar's arrival to the end of its cycle (the loop thread alone records)
        self.cycle_latency = LatencyHistogram()
        self._cycle_t0 = 0
        # the scalp pipeline listens to fills and notices after they are booked, and to time
        self.fill_listeners: list[Callable[[Fill], None]] = []
        self.update_listeners: list[Callable[[OrderUpdate], None]] = []
        self.timers: list[Callable[[datetime], None]] = []
        if cache is not None:  # write-through before anyone reads the position
            oms.position_listeners.append(cache.on_position)
        self.last_index: float | None = None  # the latest live index level (operating state)
        if protect:
            oms.position_listeners.append(self._sync_position)
            for pos in oms.account.open_positions():
                self._sync_position(pos)
        d = dispatcher
        d.subscribe(EventType.FILL_RECEIVED, self._on_fill)
        d.subscribe(ORDER_UPDATE, self._on_update)
        d.subscribe(EventType.EMERGENCY_ORDER, self._on_emergency)
        d.subscribe(EventType.PRICE_TICK, self._on_tick)
        d.subscribe(EventType.INDEX_UPDATE, self._on_index)
        d.subscribe(RISK_WARNING, self._on_warning)
        d.subscribe(EventType.DASHBOARD_UPDATE, self._on_dashboard)
        if cache is not None:
            cache.attach(d, safety)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.dispatcher.start()
        if self.protect and self.threaded:
            self.micro.start()

    def stop(self) -> None:
        if self.micro.running:
            self.micro.stop()
        self.dispatcher.stop(drain=True)

    # --- what the loop calls -----------------------------------------------------------------

    def before_cycle(self, frame: BarFrame, venue_events: list[Fill | OrderUpdate]) -> list[Fill]:
        """Publish the bar and the venue's reports, let every handler finish, and (on a
        simulated clock) let the micro risk loop look at the positions once."""
        self._cycle_t0 = time.perf_counter_ns()
        self.fills = []
        now = frame.end
        d = self.dispatcher
        if self.cache is not None:
            self.cache.on_frame(frame)
        if self.protect:
            held = [p.symbol for p in self.oms.account.open_positions()]
            universe = frame.universe
            for symbol in held:
                if symbol in universe:
                    i = universe.index(symbol)
                    if frame.active[i]:
                        d.publish(
                            Event.of(
                                EventType.PRICE_TICK,
                                (symbol, int(frame.close[i]), now),
                                key=symbol,
                                source="FEED",
                            )
                        )
            level = self.vol_index(frame) if self.vol_index else None
            if level is not None:
                d.publish(Event.of(EventType.INDEX_UPDATE, (level, now), key="VKOSPI"))
        for ev in venue_events:
            self._publish_venue(ev)
        d.wait_idle()
        if self.timers:
            self._run_timers(now)
        if self.protect and not self.threaded:
            self.shadow.heartbeat(now)
            self.micro.run_once(now)
            d.wait_idle()
        return self.fills

    def settle(self, venue_events: list[Fill | OrderUpdate]) -> None:
        """Book what the venue reported after the last cycle."""
        for ev in venue_events:
            self._publish_venue(ev)
        self.dispatcher.wait_idle()
        if self.timers:
            self._run_timers(self.clock.now())

    def _run_timers(self, now: datetime) -> None:
        """Time for the scalp pipeline on a simulated clock: after the bar's reports."""
        for timer in self.timers:
            try:
                timer(now)
            except Exception:
                log.exception("timer failed")
        self.dispatcher.wait_idle()

    def _publish_venue(self, ev: Fill | OrderUpdate) -> None:
        if isinstance(ev, Fill):
            self.dispatcher.publish(
                Event.of(EventType.FILL_RECEIVED, ev, key=ev.symbol, source="VENUE")
            )
        else:
            self.dispatcher.publish(
                Event(ORDER_UPDATE, EventPriority.P0, ev, ev.client_order_id, "VENUE")
            )

    def on_print(self, symbol: str, price: int, ts: datetime) -> None:
        """A trade print from a live feed: the micro risk loop sees every one (P1), not only
        the bar closes ``before_cycle`` publishes."""
        self.prints += 1
        if self.protect:  # the tick handler pushes it to the cache too
            self.dispatcher.publish(
                Event.of(EventType.PRICE_TICK, (symbol, price, ts), key=symbol, source="FEED")
            )
        elif self.cache is not None:  # the hot cache's real-time price push
            self.cache.on_tick(symbol, price, ts)

    def on_index(self, level: float, ts: datetime) -> None:
        """A volatility index value from a live feed (the kill switch's input)."""
        self.index_values += 1
        self.last_index = level
        if self.protect:
            self.dispatcher.publish(Event.of(EventType.INDEX_UPDATE, (level, ts), key="VKOSPI"))

    def subscribe_decisions(self, handler: Callable[[Event], None]) -> None:
        """Observers of the decisions (P2), e.g. the feedback loop or a dashboard."""
        self.dispatcher.subscribe(EventType.ORDER_DECISION, handler)
        self._decision_observers += 1

    def after_cycle(self, report: CycleReport, fills: list[Fill]) -> None:
        """Publish what the cycle decided (P2) and its report for the UI (P3); events nobody
        listens to are not made at all (a backtest has no console)."""
        if self._cycle_t0:
            self.cycle_latency.record(time.perf_counter_ns() - self._cycle_t0)
        d = self.dispatcher
        if report.decisions is not None and self._decision_observers:
            for od in report.decisions.orders:
                d.publish(Event.of(EventType.ORDER_DECISION, od, key=od.symbol, source="ETEDA"))
        if self.ui:
            d.publish(
                Event.of(EventType.DASHBOARD_UPDATE, (report, fills), key="R_DASH", source="ETEDA")
            )
        if isinstance(d, InlineDispatcher):
            d.drain()

    def entries_allowed(self, symbol: str, now: datetime) -> bool:
        return self.controls.entries_allowed(symbol) and not self.controls.suspended(now)

    # --- handlers ----------------------------------------------------------------------------

    def _on_fill(self, event: Event) -> None:
        fill: Fill = event.payload
        if self.oms.book_fill(fill):
            self.fills.append(fill)
            for listener in self.fill_listeners:
                listener(fill)

    def _on_update(self, event: Event) -> None:
        update: OrderUpdate = event.payload
        self.oms.apply_update(update)
        for listener in self.update_listeners:
            listener(update)
        order = self.oms.orders.get(update.client_order_id)
        failed = (OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED)
        if order is not None and order.strategy == EMERGENCY_STRATEGY and order.status in failed:
            self.micro.on_exit_failed(order.symbol, update.reason)

    def _on_emergency(self, event: Event) -> None:
        self.emergency.handle(event.payload)

    def _on_tick(self, event: Event) -> None:
        symbol, price, ts = event.payload
        if self.cache is not None:  # the market-data push; the loop's sync step reads it back
            self.cache.on_tick(symbol, price, ts)
        else:
            self.shadow.on_price(symbol, price, ts)
        # positions reach the shadow synchronously from every fill, so it is never behind main
        self.shadow.heartbeat(ts)

    def _on_index(self, event: Event) -> None:
        level, ts = event.payload
        self.micro.on_vol_index(level, ts)

    def _on_warning(self, event: Event) -> None:
        w: RiskWarning = event.payload
        self.safety.report(w.code.value, f"{w.symbol}: {w.message}")

    def _on_dashboard(self, event: Event) -> None:
        report, fills = event.payload
        for ui in self.ui:
            try:
                ui(report, fills)
            except Exception:
                log.exception("UI update failed")

    def _sync_position(self, pos: Position) -> None:
        inst = self.oms.instruments.get(pos.symbol)
        if self.cache is not None:  # read back through the cache (written through just before)
            cp = self.cache.hot.position(pos.symbol)
            self.shadow.on_position(
                cp.symbol,
                cp.qty,
                cp.cost_basis,
                cp.opened_at,
                cp.track,
                price=cp.last_price or None,
                etf=bool(inst and inst.is_etf),
                ts=self.clock.now(),
            )
            return
        self.shadow.on_position(
            pos.symbol,
            pos.qty,
            pos.cost_basis,
            pos.opened_at,
            pos.track,
            price=pos.last_price or None,
            etf=bool(inst and inst.is_etf),
            ts=self.clock.now(),
        )
