"""The synchronous dispatcher: handlers run in the publishing thread, strictly by priority, so
a backtest or simulation is deterministic and pays for no threads. Its ``publish``, ``drain`` and
the core's ``_handle`` are on the backtest's hot path.
"""

from __future__ import annotations

from qts.events.config import DispatcherConfig
from qts.events.core import _DispatcherCore
from qts.events.event import Event
from qts.events.interface import AlertSink, DispatcherClosed
from qts.events.priority import P0, P1, P2, P3, EventPriority
from qts.events.queue import EventQueue


class InlineDispatcher(_DispatcherCore):
    """Runs handlers synchronously in the publishing thread, strictly by priority, for backtests
    and deterministic simulation. Queues, overflow policies, retries and metrics are the threaded
    dispatcher's; there are no threads, so a class has one lane and a full P0 queue accepts the
    event beyond capacity (reported as FS110) instead of blocking. Use from one thread.

    With ``auto_drain`` (default) ``publish`` handles everything queued before returning; an event
    published by a handler is queued and handled by the running drain in priority order (a P0
    event published by a P1 handler runs before the next P1 event). Without it, events wait for
    ``drain()``.
    """

    def __init__(
        self,
        config: DispatcherConfig | None = None,
        *,
        on_alert: AlertSink | None = None,
        auto_drain: bool = True,
    ) -> None:
        super().__init__(config, on_alert, lambda cc: 1)
        self.auto_drain = auto_drain
        self._draining = False

    def publish(self, event: Event) -> bool:
        if self._closed:
            raise DispatcherClosed("event dispatcher is stopped")
        self._stamp_id(event)
        if event.priority is P0:
            accepted = self._p0q.put(event, wait=False)
        else:
            accepted = self._lanes[event.priority][0].put(event)
        if self.auto_drain and not self._draining:
            self.drain()
        return accepted

    def drain(self) -> int:
        """Handle queued events, highest priority first, until the queues of every unpaused
        class are empty; returns how many were handled. Re-entrant calls (from a handler) return
        0: the outer drain carries on."""
        if self._draining:
            return 0
        self._draining = True
        handled = 0
        try:
            while (queue := self._next_queue()) is not None:
                event = queue.take(1)[0]
                try:
                    self._handle(event, queue.metrics)
                finally:
                    queue.done(1)
                handled += 1
        finally:
            self._draining = False
        return handled

    def _next_queue(self) -> EventQueue | None:
        for lanes in self._lanes:  # in priority order, P0 first (iterating the enum cost more)
            queue = lanes[0]
            if len(queue) and not queue.paused:
                return queue
        return None

    def start(self) -> None:
        """Nothing to start; present for interface parity."""

    def stop(self, drain: bool = True, timeout: float | None = None) -> bool:
        """Close; with ``drain`` handle everything queued (paused classes included), otherwise
        discard P1–P3 backlogs but still handle P0."""
        if self._closed:
            return True
        self._closed = True
        if not drain:
            for prio in (P1, P2, P3):
                self._lanes[prio][0].clear()
        self._resume_all()
        self.drain()
        for lanes in self._lanes:
            lanes[0].close()
        return True

    def wait_idle(
        self, priority: EventPriority | None = None, timeout: float | None = None
    ) -> bool:
        """Drain, then report whether the class (or all classes) has nothing outstanding (a
        paused class keeps its backlog)."""
        self.drain()
        lanes = self._lanes if priority is None else [self._lanes[priority]]
        return all(q.outstanding == 0 for group in lanes for q in group)
