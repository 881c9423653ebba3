"""Priority event dispatch: the threaded ``EventDispatcher`` and the synchronous
``InlineDispatcher`` (backtests, deterministic simulation), with one interface.

Threads (defaults; see docs/adr/0005-event-dispatch-threads.md): one dedicated P0 thread, two P1
workers, four P2 workers, one best-effort P3 worker. Each worker owns one lane (a queue holding its
share of the class capacity); an event's lane is chosen by ``hash(event.key)``, so events with the
same key (symbol) are handled in order by one thread.

Under the GIL "P0 is never delayed" needs what the OS does not give us: a short switch interval
(a thread woken for a P0 event otherwise waits up to 5 ms for the GIL while a busy thread runs),
and threads that stand aside: before each event lower-priority workers check the P0 backlog and,
if P0 events are waiting, block (releasing the GIL) until it is empty; publishers do the same in
``publish``. A stuck P0 handler cannot starve them: they wait at most a bounded time and then wait
again only after P0 has made progress.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from qts.core.errors import QtsError
from qts.events.event import Event
from qts.events.metrics import LatencyHistogram, QueueMetrics, class_snapshot, merge_histograms
from qts.events.priority import DEFAULT_CLASS_CONFIG, ClassConfig, EventPriority, OverflowPolicy
from qts.events.queue import BlockingQueue, EventQueue, QueueClosed, make_queue

Handler = Callable[[Event], object]

FS_P0_OVERFLOW = "FS110"
FS_P0_HANDLER_FAILED = "FS113"
GR_CRITICAL_ONLY = "GR090"

P0, P1, P2, P3 = EventPriority.P0, EventPriority.P1, EventPriority.P2, EventPriority.P3

# Degradation level → paused classes. Level 3 is critical-only (GR090): P0 alone runs.
PAUSED_BY_LEVEL: dict[int, frozenset[EventPriority]] = {
    0: frozenset(),
    1: frozenset({P3}),
    2: frozenset({P2, P3}),
    3: frozenset({P1, P2, P3}),
}

_stamp = object.__setattr__
_now_ns = time.monotonic_ns


@dataclass(frozen=True, slots=True)
class Alert:
    """A fault or mode change for the owner (safety machine, notifications)."""

    code: str
    message: str
    priority: EventPriority | None = None
    event: Event | None = None


AlertSink = Callable[[Alert], None]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A P0 event one of whose handlers still failed after every retry."""

    event: Event
    handler: str
    error: str
    attempts: int


class DispatcherClosed(QtsError):
    """The dispatcher was stopped and accepts no more events."""


def _default_classes() -> dict[EventPriority, ClassConfig]:
    return dict(DEFAULT_CLASS_CONFIG)


def _default_nice() -> dict[EventPriority, int]:
    return {P0: -5}


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    """Dispatcher settings.

    - ``switch_interval_s``: ``sys.setswitchinterval`` while running (restored on stop); None
      leaves the interpreter's value alone.
    - ``yield_to_p0``: lower-priority workers stand aside (block without the GIL) before each
      event while P0 events wait, for at most ``p0_yield_timeout_s`` per P0 stall.
    - ``yield_publishers``: publishers do the same inside ``publish`` (a P0 publisher after its
      put: it hands the GIL to the P0 thread), for at most ``publisher_yield_timeout_s``; never
      the P0 thread itself. It is a wait for P0 to run, never for queue space.
    - ``thread_nice``: best-effort OS nice value per class's threads (Linux only; a value the
      process may not set is skipped and reported in ``metrics()["os_priority"]``).
    - ``p0_max_retries``: retries after the first failed attempt of a P0 handler (so 1 + 3
      attempts by default), then the event is dead-lettered and FS113 raised.
    - ``sample_seed``: seeds the SAMPLE queues (lane i gets seed + i) for exact, repeatable runs.
    - ``keep_latency_samples``: keep every latency sample (ns), for benchmarks.
    - ``poll_s``: how often idle workers look at stop and pause flags.
    """

    classes: Mapping[EventPriority, ClassConfig] = field(default_factory=_default_classes)
    switch_interval_s: float | None = 0.0002
    yield_to_p0: bool = True
    yield_publishers: bool = True
    p0_yield_timeout_s: float = 0.01
    publisher_yield_timeout_s: float = 0.001
    thread_nice: Mapping[EventPriority, int] = field(default_factory=_default_nice)
    p0_max_retries: int = 3
    dead_letter_capacity: int = 1_000
    sample_seed: int | None = None
    keep_latency_samples: bool = False
    poll_s: float = 0.1

    def __post_init__(self) -> None:
        missing = [p.name for p in EventPriority if p not in self.classes]
        if missing:
            raise ValueError(f"classes: no configuration for {', '.join(missing)}")
        p0 = self.classes[P0]
        if p0.policy is not OverflowPolicy.BLOCK or p0.workers != 1:
            raise ValueError(
                "classes: P0 must use BLOCK with exactly one worker (never dropped, in order)"
            )
        if self.switch_interval_s is not None and self.switch_interval_s <= 0:
            raise ValueError(f"switch_interval_s must be > 0, got {self.switch_interval_s}")
        if self.p0_max_retries < 0:
            raise ValueError(f"p0_max_retries must be >= 0, got {self.p0_max_retries}")
        if min(self.p0_yield_timeout_s, self.publisher_yield_timeout_s, self.poll_s) <= 0:
            raise ValueError("p0_yield_timeout_s, publisher_yield_timeout_s and poll_s must be > 0")


class Dispatcher(Protocol):
    """What publishers and subscribers depend on; both dispatchers implement it."""

    def subscribe(self, target: str | EventPriority, handler: Handler) -> None: ...

    def unsubscribe(self, target: str | EventPriority, handler: Handler) -> bool: ...

    def publish(self, event: Event) -> bool: ...

    def start(self) -> None: ...

    def stop(self, drain: bool = True, timeout: float | None = None) -> bool: ...

    def wait_idle(
        self, priority: EventPriority | None = None, timeout: float | None = None
    ) -> bool: ...

    def set_degradation(self, level: int) -> None: ...

    @property
    def degradation_level(self) -> int: ...

    def fill_ratios(self) -> dict[EventPriority, float]: ...

    def metrics(self) -> dict[str, Any]: ...


class _SwitchInterval:
    """Process-wide ``sys.setswitchinterval`` shared by running dispatchers: the first saves the
    interpreter's value, each may lower it, the last to stop restores it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 0.0

    def acquire(self, interval: float) -> None:
        with self._lock:
            if self._users == 0:
                self._saved = sys.getswitchinterval()
            self._users += 1
            if interval < sys.getswitchinterval():
                sys.setswitchinterval(interval)

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                sys.setswitchinterval(self._saved)


_SWITCH = _SwitchInterval()


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


class EventDispatcher(_DispatcherCore):
    """Threaded priority dispatcher. ``publish`` never waits for queue space for P1–P3; for P0
    it blocks while the P0 queue is full (BLOCK), except when called from the P0 thread itself.
    With ``yield_publishers`` a publisher may also stand aside for a waiting P0 event, for at
    most ``publisher_yield_timeout_s`` (1 ms by default)."""

    def __init__(
        self, config: DispatcherConfig | None = None, *, on_alert: AlertSink | None = None
    ) -> None:
        super().__init__(config, on_alert, lambda cc: cc.workers)
        self._allowed = [threading.Event() for _ in EventPriority]
        for flag in self._allowed:
            flag.set()
        self._threads: list[threading.Thread] = []
        self._state = "new"
        self._state_lock = threading.Lock()
        self._p0_ident: int | None = None
        # Truthy while P0 events wait; () when publishers are not to stand aside.
        self._publisher_gate = self._p0q.backlog() if self.config.yield_publishers else ()
        self._publishers_stalled_at = -1
        self._switch_held = False
        self.os_priority: dict[str, str] = {}

    @property
    def running(self) -> bool:
        return self._state == "running"

    def publish(self, event: Event) -> bool:
        """Queue an event; True if queued (False: sampled out, or dropped by a full P3 queue).
        Raises ``DispatcherClosed`` after ``stop``."""
        if self._closed:
            raise DispatcherClosed("event dispatcher is stopped")
        self._stamp_id(event)
        lanes = self._lanes[event.priority]
        queue = lanes[0] if len(lanes) == 1 else lanes[hash(event.key) % len(lanes)]
        try:
            if queue is self._p0q:
                own = threading.get_ident() == self._p0_ident
                self._p0q.put(event, wait=not own)
                if self._publisher_gate and not own:
                    self._stand_aside()  # hand the GIL over to the P0 thread
                return True
            if self._publisher_gate:
                self._stand_aside()
            return queue.put(event)
        except QueueClosed:
            raise DispatcherClosed("event dispatcher is stopped") from None

    def _stand_aside(self) -> None:
        """Block (without the GIL) while P0 events wait, unless called from the P0 thread or P0
        has stalled (then once per P0 progress, like the workers)."""
        p0_taken = self._p0q.metrics.dequeued
        if (
            self._publisher_gate
            and p0_taken != self._publishers_stalled_at
            and threading.get_ident() != self._p0_ident
            and not self._p0q.wait_empty(self.config.publisher_yield_timeout_s)
        ):
            self._publishers_stalled_at = p0_taken

    def start(self) -> None:
        """Start the worker threads (once) and lower the switch interval."""
        with self._state_lock:
            if self._state != "new":
                raise RuntimeError("an EventDispatcher starts once")
            self._state = "running"
        self._spawn()

    def _spawn(self) -> None:
        if self.config.switch_interval_s is not None:
            _SWITCH.acquire(self.config.switch_interval_s)
            self._switch_held = True
        # P0 is non-daemon so pending fills are handled even if the owner forgets stop(); it
        # notices the main thread has ended, drains its queue and exits.
        threads = [threading.Thread(target=self._run_p0, name="qts-events-P0", daemon=False)]
        for prio in (P1, P2, P3):
            for i, queue in enumerate(self._lanes[prio]):
                threads.append(
                    threading.Thread(
                        target=self._run_lane,
                        args=(prio, queue, self.config.classes[prio].max_batch),
                        name=f"qts-events-{prio.name}-{i}",
                        daemon=True,
                    )
                )
        self._threads = threads
        for thread in threads:
            thread.start()

    def stop(self, drain: bool = True, timeout: float | None = None) -> bool:
        """Stop accepting events and end the workers. With ``drain`` every queued event is
        handled first (paused classes included); without it P1–P3 backlogs are discarded (counted
        as ``discarded``), but P0 is always drained: a P0 event is never dropped. Producers
        already blocked on a full P0 queue complete. Returns False if a worker is still running
        at ``timeout`` (a handler that does not return)."""
        if any(t is threading.current_thread() for t in self._threads):
            raise RuntimeError("stop() called from a dispatcher thread")
        with self._state_lock:
            previous, self._state = self._state, "stopped"
        if previous == "stopped":
            return not any(t.is_alive() for t in self._threads)
        self._closed = True
        if drain:
            self._resume_all()
        else:
            for prio in (P1, P2, P3):
                for queue in self._lanes[prio]:
                    queue.clear()
        if previous == "new":  # never started: its threads still drain what was queued
            self._spawn()
        for lanes in self._lanes:
            for queue in lanes:
                queue.close()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if self._switch_held:
            self._switch_held = False
            _SWITCH.release()
        return not any(t.is_alive() for t in self._threads)

    def wait_idle(
        self, priority: EventPriority | None = None, timeout: float | None = None
    ) -> bool:
        """Wait until every event of a class (or of all classes) accepted so far is handled,
        including events their handlers publish meanwhile; False on timeout. A paused class does
        not become idle."""
        queues = (
            [q for lanes in self._lanes for q in lanes]
            if priority is None
            else list(self._lanes[priority])
        )
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            accepted = sum(q.metrics.enqueued for q in queues)
            for queue in queues:
                remaining = None if deadline is None else deadline - time.monotonic()
                if not queue.wait_idle(remaining):
                    return False
            # Idle only if nothing was accepted while we waited: a handler of one lane may have
            # published into a lane we had already seen idle.
            if all(q.outstanding == 0 for q in queues) and accepted == sum(
                q.metrics.enqueued for q in queues
            ):
                return True

    def _resume_all(self) -> None:
        super()._resume_all()
        for flag in self._allowed:
            flag.set()

    def _apply_pause(self) -> None:
        # Order matters: a worker whose queue is paused waits on its flag, so the flag is
        # cleared before the queue pauses and set after it resumes (no busy loop in between).
        paused = PAUSED_BY_LEVEL[self._level]
        for prio in (P1, P2, P3):
            if prio in paused:
                self._allowed[prio].clear()
        super()._apply_pause()
        for prio in (P1, P2, P3):
            if prio not in paused:
                self._allowed[prio].set()

    def metrics(self) -> dict[str, Any]:
        snap = super().metrics()
        snap["running"] = self.running
        snap["switch_interval_s"] = sys.getswitchinterval()
        snap["os_priority"] = dict(self.os_priority)
        return snap

    # -- worker threads --

    def _apply_os_priority(self, priority: EventPriority) -> None:
        """Best effort (CD-003), Linux only: the configured nice value for this class's thread;
        refused (raising priority needs CAP_SYS_NICE) or unsupported is fine. Records what was
        applied in ``os_priority`` (thread name → "nice N" or "none")."""
        nice = self.config.thread_nice.get(priority)
        if nice is None or not sys.platform.startswith("linux"):
            return
        applied = "none"
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
            applied = f"nice {nice}"
        except OSError:
            pass
        self.os_priority[threading.current_thread().name] = applied

    def _run_p0(self) -> None:
        self._p0_ident = threading.get_ident()
        self._apply_os_priority(P0)
        queue = self._p0q
        metrics = queue.metrics
        poll = self.config.poll_s
        main = threading.main_thread()
        while True:
            batch = queue.take(1, poll)
            if batch:
                try:
                    self._handle(batch[0], metrics)
                finally:
                    queue.done(1)
            elif queue.finished:
                return
            elif not main.is_alive():  # interpreter shutdown without stop(): drain, then exit
                self._closed = True
                queue.close()

    def _run_lane(self, prio: EventPriority, queue: EventQueue, max_batch: int) -> None:
        self._apply_os_priority(prio)
        allowed = self._allowed[prio]
        p0q = self._p0q
        p0_backlog = p0q.backlog() if self.config.yield_to_p0 else ()
        p0_metrics = p0q.metrics
        p0_wait_empty = p0q.wait_empty
        yield_timeout = self.config.p0_yield_timeout_s
        poll = self.config.poll_s
        metrics = queue.metrics
        record = metrics.latency.record
        last_errors = self.last_errors
        stalled_at = -1
        while True:
            batch = queue.take(max_batch, poll)
            if not batch:
                if queue.finished:
                    return
                if queue.paused:
                    allowed.wait(poll)
                continue
            routes = self._routes[prio]
            try:
                for event in batch:
                    # Stand aside while P0 events wait: block without the GIL until the P0 queue
                    # is empty. If P0 makes no progress within the timeout, carry on and do not
                    # wait again until it has.
                    if (
                        p0_backlog
                        and p0_metrics.dequeued != stalled_at
                        and not p0_wait_empty(yield_timeout)
                    ):
                        stalled_at = p0_metrics.dequeued
                    record(_now_ns() - event.ts_enqueue)
                    handlers = routes.get(event.event_type)
                    if handlers is None:
                        handlers = self._resolve(prio, event.event_type)
                    for handler in handlers:
                        try:
                            handler(event)
                        except Exception as exc:
                            metrics.handler_errors += 1
                            last_errors[prio] = f"{_name(handler)}: {exc!r}"
            finally:
                queue.done(len(batch))


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
