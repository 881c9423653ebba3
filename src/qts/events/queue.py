"""Bounded event queues, one class per overflow policy.

All four are safe for any number of producers. A consumer takes batches; a blocking ``take`` waits
on a private "doorbell" lock that a producer releases only when the consumer is asleep, so a busy
queue costs a producer one uncontended lock and a deque append, and waking the consumer is one C
call (a ``threading.Condition`` would cost a Python-level waiter list per wait). The price is that
one consumer at a time may block in ``take``; the dispatcher gives each queue exactly one worker.

``outstanding`` counts events accepted and not yet finished (queued or being handled: the consumer
calls ``done`` after its handlers return), which is what ``wait_idle`` waits on.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from _thread import LockType
from _thread import allocate_lock as _allocate_lock
from collections import deque
from collections.abc import Callable, Sized
from typing import ClassVar

from qts.core.errors import QtsError
from qts.events.event import Event
from qts.events.metrics import QueueMetrics
from qts.events.priority import ClassConfig, OverflowPolicy

OverflowHook = Callable[[Event], None]

_stamp = object.__setattr__  # the queue stamps ts_enqueue on an otherwise frozen event
_now_ns = time.monotonic_ns


class QueueClosed(QtsError):
    """The queue was closed and accepts no more events."""


class EventQueue:
    """Common machinery: the deque, the lock, the consumer's doorbell and the idle condition."""

    policy: ClassVar[OverflowPolicy]

    def __init__(self, capacity: int, *, keep_samples: bool = False) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.metrics = QueueMetrics(keep_samples)
        self._items: deque[object] = deque()
        self._lock = threading.Lock()
        self._bell = threading.Lock()
        self._bell.acquire()  # held while nobody has rung; a producer releases it to wake
        self._sleeping = False
        self._outstanding = 0
        self._idle = threading.Condition(self._lock)
        self._idle_waiters = 0
        self._closed = False
        self._paused = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def depth(self) -> int:
        return len(self._items)

    @property
    def outstanding(self) -> int:
        """Accepted events not yet finished: queued or being handled."""
        return self._outstanding

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def finished(self) -> bool:
        """Closed and nothing left to take: the consumer may exit."""
        return self._closed and not self._items

    def set_paused(self, paused: bool) -> None:
        """While paused ``take`` returns nothing (puts still follow the policy); pausing wakes a
        waiting consumer so it notices at once rather than after its next batch."""
        with self._lock:
            self._paused = paused
            if paused:
                self._ring()

    def backlog(self) -> Sized:
        """A live, read-only view whose truth value says "events are waiting" without a lock
        (what lower-priority workers poll to stand aside for P0)."""
        return self._items

    def put(self, event: Event) -> bool:
        """Offer an event; True if it is now queued (False: sampled out or dropped)."""
        raise NotImplementedError

    def take(self, max_n: int = 1, timeout: float = 0.0) -> list[Event]:
        """Remove up to ``max_n`` events, oldest first. When the queue is empty wait up to
        ``timeout`` seconds for one (one waiting consumer at a time); ``[]`` on timeout or once
        the queue is closed and empty, and at once while the queue is paused."""
        with self._lock:
            if self._paused:
                return []
            items = self._items
            if not items and timeout > 0 and not self._closed:
                if self._sleeping:
                    raise RuntimeError("another consumer is already waiting on this queue")
                self._sleeping = True
                self._lock.release()
                try:
                    rung = self._bell.acquire(timeout=timeout)
                finally:
                    self._lock.acquire()
                if self._sleeping:
                    # nobody claimed the ring: a timeout, or a ring left over from an earlier
                    # wait (claimed after that wait timed out, sounded after it had looked)
                    # woke us at once; either way nobody is waiting any more
                    self._sleeping = False
                elif not rung:  # rung after our timeout: consume the ring (if it has sounded)
                    self._bell.acquire(blocking=False)
                if self._paused:
                    return []
            n = len(items)
            if n == 0:
                return []
            if n > max_n:
                n = max_n
            popleft = items.popleft
            batch = [popleft() for _ in range(n)]
            self.metrics.dequeued += n
            self._after_take(n)
            return self._unwrap(batch)

    def done(self, n: int = 1) -> None:
        """The consumer finished ``n`` taken events (their handlers returned)."""
        with self._lock:
            self._outstanding -= n
            if not self._outstanding and self._idle_waiters:
                self._idle.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every accepted event is finished; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._outstanding:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle_waiters += 1
                try:
                    self._idle.wait(remaining)
                finally:
                    self._idle_waiters -= 1
            return True

    def close(self) -> None:
        """Refuse further puts and wake a waiting consumer; queued events can still be taken."""
        with self._lock:
            self._closed = True
            self._ring()

    def clear(self) -> int:
        """Discard every queued event (counted as ``discarded``); returns how many."""
        with self._lock:
            n = len(self._items)
            self._items.clear()
            self._on_clear()
            self.metrics.discarded += n
            self._outstanding -= n
            if not self._outstanding and self._idle_waiters:
                self._idle.notify_all()
            return n

    # -- hooks and helpers (called with the lock held) --

    def _ring(self) -> None:
        if self._sleeping:
            self._sleeping = False
            self._release_bell()

    def _release_bell(self) -> None:
        # Already rung and not yet taken (a late ring after a timeout): a doorbell rings once.
        with contextlib.suppress(RuntimeError):
            self._bell.release()

    def _claim_ring(self) -> bool:
        """Whether the caller must ring once it has released the lock. Puts ring outside the
        lock, so the woken consumer does not find the lock still held and sleep a second time;
        a consumer that timed out meanwhile just sees one spurious wake-up later."""
        if self._sleeping:
            self._sleeping = False
            return True
        return False

    def _after_take(self, n: int) -> None:
        """Called after ``n`` items left the queue."""

    def _on_clear(self) -> None:
        """Called after the queue was cleared."""

    def _unwrap(self, batch: list[object]) -> list[Event]:
        return batch  # type: ignore[return-value]  # plain queues store events as they are


class BlockingQueue(EventQueue):
    """BLOCK: a producer that finds the queue full waits for space; nothing is ever dropped.

    After ``block_alert_s`` of waiting the ``on_overflow`` hook is called once for that put (the
    dispatcher raises FS110 "P0 queue overflow" from it) and the producer keeps waiting. A put with
    ``wait=False`` (used by the queue's own consumer thread, which would deadlock waiting for
    itself, and by the inline dispatcher) is accepted beyond capacity and reported the same way.
    """

    policy = OverflowPolicy.BLOCK

    def __init__(
        self,
        capacity: int,
        *,
        block_alert_s: float = 0.01,
        on_overflow: OverflowHook | None = None,
        keep_samples: bool = False,
    ) -> None:
        super().__init__(capacity, keep_samples=keep_samples)
        self.block_alert_s = block_alert_s
        self._on_overflow = on_overflow
        self._not_full = threading.Condition(self._lock)
        self._putters = 0
        self._empty_waiters: list[LockType] = []

    @property
    def finished(self) -> bool:
        return self._closed and not self._items and not self._putters

    @property
    def blocked_producers(self) -> int:
        return self._putters

    def put(self, event: Event, *, wait: bool = True) -> bool:
        overfilled = False
        with self._lock:
            if self._closed:
                raise QueueClosed("queue is closed")
            items = self._items
            if len(items) >= self.capacity:
                self.metrics.blocked_puts += 1
                if wait:
                    self._wait_for_space(event)
                else:
                    overfilled = True
            _stamp(event, "ts_enqueue", _now_ns())
            items.append(event)
            self._outstanding += 1
            m = self.metrics
            m.enqueued += 1
            if len(items) > m.max_depth:
                m.max_depth = len(items)
            wake = self._claim_ring()
        if wake:
            self._release_bell()
        if overfilled and self._on_overflow is not None:
            self._on_overflow(event)
        return True

    def _wait_for_space(self, event: Event) -> None:
        self._putters += 1
        try:
            deadline = time.monotonic() + self.block_alert_s
            alerted = False
            while len(self._items) >= self.capacity:
                if alerted:
                    self._not_full.wait()
                    continue
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    self._not_full.wait(remaining)
                    continue
                alerted = True
                if self._on_overflow is not None:
                    self._lock.release()
                    try:
                        self._on_overflow(event)
                    finally:
                        self._lock.acquire()
        finally:
            self._putters -= 1

    def wait_empty(self, timeout: float) -> bool:
        """Block (without the GIL) until the queue has been emptied, at most ``timeout`` seconds;
        True if it is empty. For threads that stand aside while events wait here.

        Each waiter parks on a lock of its own that the consumer releases when it takes the last
        event: releasing never blocks, so the consumer cannot be held up by a waiter that lost the
        GIL halfway through (a ``threading.Event`` has an internal lock it would contend for)."""
        parked = _allocate_lock()
        parked.acquire()
        self._empty_waiters.append(parked)
        if not self._items:  # emptied before we parked: we may never be released, and need not be
            return True
        return parked.acquire(timeout=timeout) or not self._items

    def _release_empty_waiters(self) -> None:
        waiters = self._empty_waiters
        while waiters:  # pop is atomic: a waiter parking meanwhile is released now or next time
            waiters.pop().release()

    def _after_take(self, n: int) -> None:
        if not self._items:
            self._release_empty_waiters()
        if self._putters:
            self._not_full.notify(n)

    def _on_clear(self) -> None:
        self._release_empty_waiters()
        if self._putters:
            self._not_full.notify_all()


class DropOldestQueue(EventQueue):
    """DROP_OLDEST: a full queue evicts its oldest event for the new one, so it always holds the
    newest ``capacity`` events; evictions are counted as ``dropped``."""

    policy = OverflowPolicy.DROP_OLDEST

    def put(self, event: Event) -> bool:
        m = self.metrics
        with self._lock:
            if self._closed:
                raise QueueClosed("queue is closed")
            items = self._items
            m.enqueued += 1
            if len(items) >= self.capacity:
                items.popleft()
                m.dropped += 1
            else:
                self._outstanding += 1
            _stamp(event, "ts_enqueue", _now_ns())
            items.append(event)
            if len(items) > m.max_depth:
                m.max_depth = len(items)
            wake = self._sleeping
            if wake:
                self._sleeping = False
        if wake:
            self._release_bell()
        return True


class _Slot:
    __slots__ = ("ckey", "event")

    def __init__(self, ckey: tuple[object, object], event: Event) -> None:
        self.ckey = ckey
        self.event = event


class CollapseQueue(EventQueue):
    """COLLAPSE: an event whose collapse key ``(event_type, key)`` is already queued replaces the
    queued one *in place*: the newest data is handled, at the queue position of the first (so a
    symbol that updates constantly is not pushed back forever). Replacements are counted as
    ``collapsed``. A full queue with no match evicts its oldest event (``dropped``): for strategy
    evaluation the stalest request is the least valuable."""

    policy = OverflowPolicy.COLLAPSE

    def __init__(self, capacity: int, *, keep_samples: bool = False) -> None:
        super().__init__(capacity, keep_samples=keep_samples)
        self._index: dict[tuple[object, object], _Slot] = {}

    def put(self, event: Event) -> bool:
        ckey = (event.event_type, event.key)
        m = self.metrics
        with self._lock:
            if self._closed:
                raise QueueClosed("queue is closed")
            m.enqueued += 1
            _stamp(event, "ts_enqueue", _now_ns())
            slot = self._index.get(ckey)
            if slot is not None:
                slot.event = event
                m.collapsed += 1
                return True
            items = self._items
            if len(items) >= self.capacity:
                oldest = items.popleft()
                assert isinstance(oldest, _Slot)
                del self._index[oldest.ckey]
                m.dropped += 1
            else:
                self._outstanding += 1
            slot = _Slot(ckey, event)
            items.append(slot)
            self._index[ckey] = slot
            if len(items) > m.max_depth:
                m.max_depth = len(items)
            wake = self._claim_ring()
        if wake:
            self._release_bell()
        return True

    def _unwrap(self, batch: list[object]) -> list[Event]:
        index = self._index
        events = []
        for slot in batch:
            assert isinstance(slot, _Slot)
            del index[slot.ckey]
            events.append(slot.event)
        return events

    def _on_clear(self) -> None:
        self._index.clear()


class SampleQueue(EventQueue):
    """SAMPLE: below ``sample_threshold`` × capacity every event is kept; past it each event is
    kept with probability ``sample_rate`` (one draw from the queue's own RNG per event, so a seed
    makes the outcome exact), the rest counted as ``sampled_out``. A kept event that finds the
    queue full is dropped (``dropped``): P3 is UI and logging, best effort."""

    policy = OverflowPolicy.SAMPLE

    def __init__(
        self,
        capacity: int,
        *,
        sample_rate: float = 0.1,
        sample_threshold: float = 0.5,
        seed: int | None = None,
        keep_samples: bool = False,
    ) -> None:
        super().__init__(capacity, keep_samples=keep_samples)
        self.sample_rate = sample_rate
        self.threshold_depth = int(capacity * sample_threshold)
        self._rng = random.Random(seed)

    def put(self, event: Event) -> bool:
        m = self.metrics
        with self._lock:
            if self._closed:
                raise QueueClosed("queue is closed")
            items = self._items
            n = len(items)
            if n >= self.threshold_depth and self._rng.random() >= self.sample_rate:
                m.sampled_out += 1
                return False
            m.enqueued += 1
            if n >= self.capacity:
                m.dropped += 1
                return False
            _stamp(event, "ts_enqueue", _now_ns())
            items.append(event)
            self._outstanding += 1
            if n + 1 > m.max_depth:
                m.max_depth = n + 1
            wake = self._claim_ring()
        if wake:
            self._release_bell()
        return True


def make_queue(
    config: ClassConfig,
    capacity: int,
    *,
    on_overflow: OverflowHook | None = None,
    seed: int | None = None,
    keep_samples: bool = False,
) -> EventQueue:
    """The queue for a class's policy, with ``capacity`` (one lane's share)."""
    if config.policy is OverflowPolicy.BLOCK:
        return BlockingQueue(
            capacity,
            block_alert_s=config.block_alert_s,
            on_overflow=on_overflow,
            keep_samples=keep_samples,
        )
    if config.policy is OverflowPolicy.DROP_OLDEST:
        return DropOldestQueue(capacity, keep_samples=keep_samples)
    if config.policy is OverflowPolicy.COLLAPSE:
        return CollapseQueue(capacity, keep_samples=keep_samples)
    return SampleQueue(
        capacity,
        sample_rate=config.sample_rate,
        sample_threshold=config.sample_threshold,
        seed=seed,
        keep_samples=keep_samples,
    )
