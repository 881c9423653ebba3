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

The parts live apart: ``interface`` (the ``Dispatcher`` protocol, handlers, alerts, dead letters,
``DispatcherClosed``), ``config`` (``DispatcherConfig``), ``core`` (what both dispatchers share:
subscriptions, queues, handler invocation, degradation, metrics) and ``inline``
(``InlineDispatcher``). This module holds the threaded ``EventDispatcher`` and still exports every
name it did.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from qts.events.config import DispatcherConfig
from qts.events.core import PAUSED_BY_LEVEL, _DispatcherCore, _name, _now_ns
from qts.events.event import Event
from qts.events.inline import InlineDispatcher
from qts.events.interface import (
    FS_P0_HANDLER_FAILED,
    FS_P0_OVERFLOW,
    GR_CRITICAL_ONLY,
    Alert,
    AlertSink,
    DeadLetter,
    Dispatcher,
    DispatcherClosed,
    Handler,
)
from qts.events.priority import P0, P1, P2, P3, EventPriority
from qts.events.queue import EventQueue, QueueClosed

# the names callers and tests import from here, wherever they are defined
__all__ = [
    "FS_P0_HANDLER_FAILED",
    "FS_P0_OVERFLOW",
    "GR_CRITICAL_ONLY",
    "PAUSED_BY_LEVEL",
    "Alert",
    "AlertSink",
    "DeadLetter",
    "Dispatcher",
    "DispatcherClosed",
    "DispatcherConfig",
    "EventDispatcher",
    "Handler",
    "InlineDispatcher",
]


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
