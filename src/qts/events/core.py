"""What the threaded and the inline dispatcher share: subscriptions, the class queues, handler
invocation (P0 with retries and dead letters), alerts, degradation and metrics. Each dispatcher
adds only how events reach ``_handle``: worker threads, or a drain in the publishing thread.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from qts.events.config import DispatcherConfig
from qts.events.event import Event
from qts.events.interface import (
    FS_P0_HANDLER_FAILED,
    FS_P0_OVERFLOW,
    GR_CRITICAL_ONLY,
    Alert,
    AlertSink,
    DeadLetter,
    Handler,
)
from qts.events.metrics import LatencyHistogram, QueueMetrics, class_snapshot, merge_histograms
from qts.events.priority import P0, P1, P2, P3, ClassConfig, EventPriority
from qts.events.queue import BlockingQueue, EventQueue, make_queue

# Degradation level → paused classes. Level 3 is critical-only (GR090): P0 alone runs.
PAUSED_BY_LEVEL: dict[int, frozenset[EventPriority]] = {
    0: frozenset(),
    1: frozenset({P3}),
    2: frozenset({P2, P3}),
    3: frozenset({P1, P2, P3}),
}

_stamp = object.__setattr__
_now_ns = time.monotonic_ns


class _DispatcherCore:
    """Subscriptions, queues, handler invocation, alerts, degradation and metrics."""

    def __init__(
        self,
        config: DispatcherConfig | None,
        on_alert: AlertSink | None,
        lanes_of: Callable[[ClassConfig], int],
    ) -> None:
        self.config = config if config is not None else DispatcherConfig()
        self._on_alert = on_alert
        cfg = self.config
        self._lanes: list[tuple[EventQueue, ...]] = []
        for prio in EventPriority:
            cc = cfg.classes[prio]
            n = lanes_of(cc)
            self._lanes.append(
                tuple(
                    make_queue(
                        cc,
                        cc.capacity // n,
                        on_overflow=self._on_p0_overflow if prio is P0 else None,
                        seed=None if cfg.sample_seed is None else cfg.sample_seed + i,
                        keep_samples=cfg.keep_latency_samples,
                    )
                    for i in range(n)
                )
            )
        self._p0q = cast(BlockingQueue, self._lanes[P0][0])
        self._by_type: dict[str, tuple[Handler, ...]] = {}
        self._by_priority: list[tuple[Handler, ...]] = [() for _ in EventPriority]
        self._routes: list[dict[str, tuple[Handler, ...]]] = [{} for _ in EventPriority]
        self._sub_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._level = 0
        self._closed = False
        self.dead_letters: deque[DeadLetter] = deque(maxlen=cfg.dead_letter_capacity)
        self.last_errors: dict[EventPriority, str] = {}
        self.alert_errors = 0

    # -- subscriptions --

    def subscribe(self, target: str | EventPriority, handler: Handler) -> None:
        """Call ``handler`` for every event of an event type, or of a whole priority class.
        Type handlers run before class handlers, each in subscription order."""
        with self._sub_lock:
            if isinstance(target, EventPriority):
                self._by_priority[target] += (handler,)
            else:
                self._by_type[target] = (*self._by_type.get(target, ()), handler)
            self._routes = [{} for _ in EventPriority]

    def unsubscribe(self, target: str | EventPriority, handler: Handler) -> bool:
        """Remove one subscription of ``handler``; False if it was not subscribed."""
        with self._sub_lock:
            current = (
                self._by_priority[target]
                if isinstance(target, EventPriority)
                else self._by_type.get(target, ())
            )
            if handler not in current:
                return False
            i = current.index(handler)
            remaining = current[:i] + current[i + 1 :]
            if isinstance(target, EventPriority):
                self._by_priority[target] = remaining
            else:
                self._by_type[target] = remaining
            self._routes = [{} for _ in EventPriority]
            return True

    def _resolve(self, prio: EventPriority, event_type: str) -> tuple[Handler, ...]:
        handlers = self._by_type.get(event_type, ()) + self._by_priority[prio]
        self._routes[prio][event_type] = handlers
        return handlers

    # -- handling --

    def _stamp_id(self, event: Event) -> None:
        if event.event_id:
            raise ValueError(f"event {event.event_id} ({event.event_type}) was already published")
        _stamp(event, "event_id", next(self._ids))

    def _handle(self, event: Event, metrics: QueueMetrics) -> None:
        """Record the latency and run the handlers (P0 with retries)."""
        metrics.latency.record(_now_ns() - event.ts_enqueue)
        handlers = self._routes[event.priority].get(event.event_type)
        if handlers is None:
            handlers = self._resolve(event.priority, event.event_type)
        if event.priority is P0:
            self._handle_p0(event, handlers, metrics)
            return
        for handler in handlers:
            try:
                handler(event)
            except Exception as exc:
                metrics.handler_errors += 1
                self.last_errors[event.priority] = f"{_name(handler)}: {exc!r}"

    def _handle_p0(
        self, event: Event, handlers: tuple[Handler, ...], metrics: QueueMetrics
    ) -> None:
        """Each handler is retried in place (up to ``p0_max_retries``): re-queueing would let later
        P0 events overtake this one. A handler that keeps failing is dead-lettered (FS113); the
        other handlers still run, and the event is never dropped."""
        max_attempts = self.config.p0_max_retries + 1
        for handler in handlers:
            attempts = 0
            while True:
                attempts += 1
                try:
                    handler(event)
                    break
                except Exception as exc:
                    metrics.handler_errors += 1
                    error = f"{_name(handler)}: {exc!r}"
                    self.last_errors[P0] = error
                    if attempts >= max_attempts:
                        metrics.dead_lettered += 1
                        self.dead_letters.append(
                            DeadLetter(event, _name(handler), repr(exc), attempts)
                        )
                        self._alert(
                            FS_P0_HANDLER_FAILED,
                            f"P0 handler failed after {attempts} attempts: {error}",
                            P0,
                            event,
                        )
                        break

    # -- alerts --

    def _alert(
        self, code: str, message: str, priority: EventPriority | None, event: Event | None
    ) -> None:
        """Report to the owner; a failing sink must not take a worker thread down with it."""
        if self._on_alert is None:
            return
        try:
            self._on_alert(Alert(code, message, priority, event))
        except Exception:
            self.alert_errors += 1

    def _on_p0_overflow(self, event: Event) -> None:
        self._alert(
            FS_P0_OVERFLOW,
            f"P0 queue overflow: queue of {self._p0q.capacity} full while publishing "
            f"{event.event_type} (producer blocked > {self._p0q.block_alert_s * 1000:g} ms "
            "or accepted beyond capacity); no P0 event is dropped",
            P0,
            event,
        )

    # -- degradation and back-pressure --

    @property
    def degradation_level(self) -> int:
        return self._level

    def set_degradation(self, level: int) -> None:
        """0 normal · 1 P3 paused · 2 P2+P3 paused · 3 critical only (P0), raising GR090. Paused
        classes keep accepting events under their overflow policy; their workers stop taking
        them (a batch already taken is finished)."""
        if level not in PAUSED_BY_LEVEL:
            raise ValueError(f"degradation level must be 0..3, got {level}")
        previous, self._level = self._level, level
        self._apply_pause()
        if level == 3 and previous != 3:
            self._alert(
                GR_CRITICAL_ONLY, "critical-only event mode: only P0 is handled", None, None
            )

    def _apply_pause(self) -> None:
        paused = PAUSED_BY_LEVEL[self._level]
        for prio in (P1, P2, P3):
            for queue in self._lanes[prio]:
                queue.set_paused(prio in paused)

    def _resume_all(self) -> None:
        """Unpause every queue (stop with drain handles paused backlogs too)."""
        for lanes in self._lanes:
            for queue in lanes:
                queue.set_paused(False)

    def is_paused(self, priority: EventPriority) -> bool:
        return priority in PAUSED_BY_LEVEL[self._level]

    def fill_ratios(self) -> dict[EventPriority, float]:
        """Depth / capacity of each class's fullest lane (a lane overflows on its own)."""
        return {p: max(len(q) / q.capacity for q in self._lanes[p]) for p in EventPriority}

    def backpressure(self) -> dict[EventPriority, str]:
        """NORMAL, WARNING or CRITICAL per class, from its fill ratio and thresholds."""
        states = {}
        for prio, ratio in self.fill_ratios().items():
            cc = self.config.classes[prio]
            states[prio] = (
                "CRITICAL"
                if ratio >= cc.critical_fill
                else "WARNING"
                if ratio >= cc.warn_fill
                else "NORMAL"
            )
        return states

    # -- metrics --

    def latency(self, priority: EventPriority) -> LatencyHistogram:
        """Enqueue→handler-start latencies of a class, merged over its lanes."""
        return merge_histograms(q.metrics.latency for q in self._lanes[priority])

    def queues(self, priority: EventPriority) -> tuple[EventQueue, ...]:
        """The lanes of a class (read their metrics; do not put or take)."""
        return self._lanes[priority]

    def metrics(self) -> dict[str, Any]:
        """Snapshot of every class's counters, depth, back-pressure and latency, as plain data."""
        pressure = self.backpressure()
        classes: dict[str, Any] = {}
        for prio in EventPriority:
            cc = self.config.classes[prio]
            lanes = self._lanes[prio]
            snap = class_snapshot(
                [q.metrics for q in lanes], [len(q) for q in lanes], lanes[0].capacity
            )
            classes[prio.name] = {
                "policy": cc.policy.value,
                "capacity": sum(q.capacity for q in lanes),
                "lanes": len(lanes),
                "paused": self.is_paused(prio),
                "backpressure": pressure[prio],
                "last_error": self.last_errors.get(prio),
                **snap,
            }
        return {
            "degradation_level": self._level,
            "closed": self._closed,
            "dead_letters": len(self.dead_letters),
            "alert_errors": self.alert_errors,
            "classes": classes,
        }


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)
