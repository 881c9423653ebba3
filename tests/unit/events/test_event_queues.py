"""The four queue policies, their counters and the consumer-side protocol (take, done, idle)."""

from __future__ import annotations

import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qts.events import (
    BlockingQueue,
    CollapseQueue,
    DropOldestQueue,
    Event,
    EventPriority,
    EventQueue,
    OverflowPolicy,
    QueueClosed,
    SampleQueue,
    make_queue,
)

P0, P1, P2, P3 = EventPriority


def ev(n: int, priority: EventPriority = P1, key: object = None, kind: str = "T") -> Event:
    return Event(kind, priority, n, key)


def payloads(events: list[Event]) -> list[object]:
    return [e.payload for e in events]


def invariant_holds(q: EventQueue) -> bool:
    m = q.metrics
    return m.enqueued == m.dequeued + len(q) + m.dropped + m.collapsed + m.discarded


# -- BLOCK --


def test_block_queue_is_fifo_and_stamps_enqueue_time() -> None:
    q = BlockingQueue(5)
    events = [ev(i, P0) for i in range(3)]
    for e in events:
        assert q.put(e)
    assert all(e.ts_enqueue > 0 for e in events)
    assert payloads(q.take(10)) == [0, 1, 2]
    assert q.metrics.enqueued == 3 and q.metrics.dequeued == 3 and q.metrics.max_depth == 3


def test_block_queue_without_wait_overfills_and_reports_never_drops() -> None:
    reported: list[object] = []
    q = BlockingQueue(2, on_overflow=lambda e: reported.append(e.payload))
    for i in range(5):
        q.put(ev(i, P0), wait=False)
    assert len(q) == 5 and q.metrics.blocked_puts == 3 and q.metrics.dropped == 0
    assert reported == [2, 3, 4]
    assert payloads(q.take(5)) == [0, 1, 2, 3, 4]


def test_blocked_producer_resumes_when_consumer_takes() -> None:
    """The 3rd put on a full queue of 2 blocks, is reported after block_alert_s, and completes
    once the consumer makes room; nothing is dropped."""
    blocked_long = threading.Event()
    q = BlockingQueue(2, block_alert_s=0.001, on_overflow=lambda e: blocked_long.set())
    q.put(ev(0, P0))
    q.put(ev(1, P0))
    done = threading.Event()

    def producer() -> None:
        q.put(ev(2, P0))
        done.set()

    thread = threading.Thread(target=producer)
    thread.start()
    assert blocked_long.wait(10)  # the producer has been blocked for block_alert_s
    assert not done.is_set() and q.blocked_producers == 1 and len(q) == 2
    assert payloads(q.take(1)) == [0]
    thread.join(10)
    assert done.is_set() and q.blocked_producers == 0
    assert payloads(q.take(5)) == [1, 2]
    assert q.metrics.blocked_puts == 1 and q.metrics.dropped == 0
    assert invariant_holds(q)


def test_closed_block_queue_waits_for_blocked_producer_before_finishing() -> None:
    blocked = threading.Event()
    q = BlockingQueue(1, block_alert_s=0.001, on_overflow=lambda e: blocked.set())
    q.put(ev(0, P0))
    thread = threading.Thread(target=q.put, args=(ev(1, P0),))
    thread.start()
    assert blocked.wait(10)
    q.close()
    assert q.closed and not q.finished  # one event queued, one producer still blocked
    with pytest.raises(QueueClosed):
        q.put(ev(2, P0))
    assert payloads(q.take(1)) == [0]
    thread.join(10)
    assert payloads(q.take(1)) == [1]
    assert q.finished


def test_wait_empty_releases_waiters_when_the_last_event_is_taken() -> None:
    q = BlockingQueue(3)
    assert q.wait_empty(0.001)  # already empty
    q.put(ev(0, P0))
    q.put(ev(1, P0))
    assert q.backlog() and not q.wait_empty(0.001)
    results: list[bool] = []
    waiters = [threading.Thread(target=lambda: results.append(q.wait_empty(30))) for _ in range(3)]
    for t in waiters:
        t.start()
    q.take(1)  # one event left: nobody is released
    assert not q.wait_empty(0.001)
    q.take(1)
    for t in waiters:
        t.join(30)
    assert results == [True, True, True] and not q.backlog()


def test_clear_releases_empty_waiters() -> None:
    q = BlockingQueue(3)
    q.put(ev(0, P0))
    results: list[bool] = []
    waiter = threading.Thread(target=lambda: results.append(q.wait_empty(30)))
    waiter.start()
    q.clear()
    waiter.join(30)
    assert results == [True]


def test_clear_wakes_blocked_producers() -> None:
    blocked = threading.Event()
    q = BlockingQueue(1, block_alert_s=0.001, on_overflow=lambda e: blocked.set())
    q.put(ev(0, P0))
    thread = threading.Thread(target=q.put, args=(ev(1, P0),))
    thread.start()
    assert blocked.wait(10)
    assert q.clear() == 1
    thread.join(10)
    assert payloads(q.take(2)) == [1] and q.metrics.discarded == 1 and invariant_holds(q)


# -- DROP_OLDEST --


def test_drop_oldest_keeps_the_newest_n_and_counts_drops() -> None:
    q = DropOldestQueue(10)
    for i in range(25):
        assert q.put(ev(i))
    assert len(q) == 10 and q.metrics.dropped == 15 and q.metrics.enqueued == 25
    assert q.outstanding == 10 and q.metrics.max_depth == 10
    assert payloads(q.take(100)) == list(range(15, 25))
    assert invariant_holds(q)


# -- COLLAPSE --


def test_collapse_replaces_in_place_keeping_position() -> None:
    q = CollapseQueue(10)
    q.put(ev(1, P2, "A"))
    q.put(ev(2, P2, "B"))
    q.put(ev(3, P2, "A"))  # newer A replaces the queued A, still ahead of B
    q.put(ev(4, P2, "C"))
    q.put(ev(5, P2, "A"))
    assert len(q) == 3 and q.metrics.collapsed == 2 and q.outstanding == 3
    assert [(e.key, e.payload) for e in q.take(10)] == [("A", 5), ("B", 2), ("C", 4)]
    assert invariant_holds(q)


def test_collapse_key_is_type_and_key() -> None:
    q = CollapseQueue(10)
    q.put(ev(1, P2, "A", kind="EVAL"))
    q.put(ev(2, P2, "A", kind="RISK"))  # same key, other type: kept
    q.put(ev(3, P2, None, kind="CYCLE"))
    q.put(ev(4, P2, None, kind="CYCLE"))  # keyless: collapses by type
    assert [(e.event_type, e.payload) for e in q.take(10)] == [
        ("EVAL", 1),
        ("RISK", 2),
        ("CYCLE", 4),
    ]


def test_collapse_after_take_queues_anew() -> None:
    q = CollapseQueue(10)
    q.put(ev(1, P2, "A"))
    assert payloads(q.take(1)) == [1]
    q.put(ev(2, P2, "A"))  # the first A is being handled: this one is queued, not merged
    assert q.metrics.collapsed == 0 and payloads(q.take(1)) == [2]


def test_full_collapse_queue_evicts_its_oldest() -> None:
    q = CollapseQueue(3)
    for i, key in enumerate("ABCD"):
        q.put(ev(i, P2, key))
    q.put(ev(9, P2, "C"))  # still collapses with the queued C
    assert q.metrics.dropped == 1 and q.metrics.collapsed == 1
    assert [(e.key, e.payload) for e in q.take(10)] == [("B", 1), ("C", 9), ("D", 3)]
    q.put(ev(10, P2, "A"))  # A's slot was evicted with it: a fresh slot
    assert payloads(q.take(1)) == [10] and invariant_holds(q)


def test_collapse_clear_forgets_keys() -> None:
    q = CollapseQueue(5)
    q.put(ev(1, P2, "A"))
    assert q.clear() == 1
    q.put(ev(2, P2, "A"))
    assert q.metrics.collapsed == 0 and payloads(q.take(1)) == [2]


# -- SAMPLE --


def expected_sampling(
    seed: int, capacity: int, threshold: int, rate: float, puts: int
) -> tuple[int, int, int]:
    """Replay the documented rule: one draw per event once depth >= threshold."""
    rng = random.Random(seed)
    depth = kept_out = dropped = 0
    for _ in range(puts):
        if depth >= threshold and rng.random() >= rate:
            kept_out += 1
        elif depth >= capacity:
            dropped += 1
        else:
            depth += 1
    return depth, kept_out, dropped


def test_sample_keeps_everything_below_threshold() -> None:
    q = SampleQueue(1000, sample_rate=0.1, sample_threshold=0.5, seed=7)
    for i in range(500):
        assert q.put(ev(i, P3))
    assert q.metrics.sampled_out == 0 and len(q) == 500 and q.threshold_depth == 500


def test_sample_drops_about_ninety_percent_past_threshold_exactly_by_seed() -> None:
    q = SampleQueue(1000, sample_rate=0.1, sample_threshold=0.5, seed=42)
    for i in range(3000):
        q.put(ev(i, P3))
    depth, sampled_out, dropped = expected_sampling(42, 1000, 500, 0.1, 3000)
    assert (len(q), q.metrics.sampled_out, q.metrics.dropped) == (depth, sampled_out, dropped)
    assert 0.85 < sampled_out / 2500 < 0.95  # about 90 % of what arrived past the threshold
    assert q.metrics.enqueued == depth + dropped and invariant_holds(q)


def test_full_sample_queue_drops_the_new_event() -> None:
    q = SampleQueue(10, sample_rate=1.0, sample_threshold=0.5, seed=1)  # rate 1: keep all
    results = [q.put(ev(i, P3)) for i in range(15)]
    assert results == [True] * 10 + [False] * 5
    assert q.metrics.dropped == 5 and q.metrics.sampled_out == 0
    assert payloads(q.take(20)) == list(range(10))


def test_same_seed_same_outcome() -> None:
    def run(seed: int) -> list[object]:
        q = SampleQueue(100, sample_rate=0.1, sample_threshold=0.2, seed=seed)
        for i in range(1000):
            q.put(ev(i, P3))
        return payloads(q.take(1000))

    assert run(3) == run(3)
    assert run(3) != run(4)


# -- consumer protocol --


def test_take_batches_and_empty_take() -> None:
    q = DropOldestQueue(100)
    assert q.take(10) == [] and q.take(10, timeout=0.0) == []
    for i in range(7):
        q.put(ev(i))
    assert payloads(q.take(3)) == [0, 1, 2]
    assert payloads(q.take(10)) == [3, 4, 5, 6]


def test_blocking_take_is_woken_by_a_put() -> None:
    q = DropOldestQueue(10)
    got: list[Event] = []
    thread = threading.Thread(target=lambda: got.extend(q.take(5, timeout=30)))
    thread.start()
    q.put(ev(1))
    thread.join(30)
    assert not thread.is_alive() and payloads(got) == [1]


def test_blocking_take_returns_empty_on_close() -> None:
    q = DropOldestQueue(10)
    got: list[list[Event]] = []
    thread = threading.Thread(target=lambda: got.append(q.take(5, timeout=30)))
    thread.start()
    q.close()
    thread.join(30)
    assert not thread.is_alive() and got == [[]] and q.finished


def test_take_timeout_without_events() -> None:
    q = DropOldestQueue(10)
    assert q.take(1, timeout=0.001) == []
    q.put(ev(1))  # the doorbell is in a clean state after the timeout
    assert payloads(q.take(1, timeout=0.001)) == [1]


class LateBellQueue(DropOldestQueue):
    """A producer that has claimed the consumer's wake-up rings the bell only when let go."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.ringing = threading.Event()
        self.let_ring = threading.Event()

    def _release_bell(self) -> None:
        self.ringing.set()
        self.let_ring.wait(30)
        super()._release_bell()


def test_a_ring_that_sounds_after_the_consumer_timed_out_leaves_the_queue_usable() -> None:
    """The producer claims the sleeping consumer's wake-up, the consumer times out and takes the
    event, then the ring sounds: the next wait wakes at once (spurious) and the one after waits
    as usual. The spurious wake-up used to leave the consumer marked as waiting, and its next
    take raised "another consumer is already waiting on this queue" (seen in a live run)."""
    q = LateBellQueue(10)
    got: list[Event] = []
    consumer = threading.Thread(target=lambda: got.extend(q.take(1, timeout=2.0)))
    consumer.start()
    while not q._sleeping and consumer.is_alive():  # the consumer is asleep on the bell
        consumer.join(0.001)
    producer = threading.Thread(target=lambda: q.put(ev(1)))
    producer.start()
    consumer.join(30)  # times out: the claimed ring has not sounded
    assert not consumer.is_alive() and payloads(got) == [1]
    q.let_ring.set()
    producer.join(30)
    assert not producer.is_alive() and q.ringing.is_set()
    assert q.take(1, timeout=0.01) == []  # the late ring
    assert q.take(1, timeout=0.01) == []  # an ordinary timeout
    q.put(ev(2))
    assert payloads(q.take(1, timeout=0.01)) == [2]


def test_paused_queue_accepts_but_does_not_hand_out() -> None:
    q = DropOldestQueue(10)
    q.set_paused(True)
    q.put(ev(1))
    assert q.paused and q.take(5) == [] and q.take(5, timeout=0.001) == [] and len(q) == 1
    q.set_paused(False)
    assert payloads(q.take(5)) == [1]


def test_pausing_wakes_a_waiting_consumer() -> None:
    q = DropOldestQueue(10)
    got: list[list[Event]] = []
    thread = threading.Thread(target=lambda: got.append(q.take(5, timeout=30)))
    thread.start()
    q.set_paused(True)
    thread.join(30)
    assert not thread.is_alive() and got == [[]]


def test_outstanding_done_and_wait_idle() -> None:
    q = DropOldestQueue(10)
    assert q.wait_idle(0)
    q.put(ev(1))
    q.put(ev(2))
    batch = q.take(2)
    assert q.outstanding == 2 and len(q) == 0
    assert not q.wait_idle(0.001)  # taken but not finished
    waiter_result: list[bool] = []
    waiter = threading.Thread(target=lambda: waiter_result.append(q.wait_idle(30)))
    waiter.start()
    q.done(len(batch))
    waiter.join(30)
    assert waiter_result == [True] and q.outstanding == 0


def test_clear_releases_idle_waiters() -> None:
    q = DropOldestQueue(10)
    q.put(ev(1))
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(q.wait_idle(30)))
    waiter.start()
    assert q.clear() == 1
    waiter.join(30)
    assert result == [True]


def test_closed_queues_refuse_puts() -> None:
    for q in (DropOldestQueue(2), CollapseQueue(2), SampleQueue(2), BlockingQueue(2)):
        q.close()
        with pytest.raises(QueueClosed):
            q.put(ev(1))


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        DropOldestQueue(0)


def test_make_queue_follows_policy() -> None:
    kinds = {p: type(make_queue(p.defaults, 10)) for p in EventPriority}
    assert kinds == {P0: BlockingQueue, P1: DropOldestQueue, P2: CollapseQueue, P3: SampleQueue}
    sample = make_queue(P3.defaults, 100, seed=1)
    assert isinstance(sample, SampleQueue) and sample.threshold_depth == 50
    assert all(type(make_queue(p.defaults, 5)).policy is p.defaults.policy for p in EventPriority)
    assert BlockingQueue.policy is OverflowPolicy.BLOCK


# -- counters under random operation sequences --

operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 5)),
        st.tuples(st.just("take"), st.integers(1, 4)),
        st.tuples(st.just("clear"), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(operations, st.sampled_from(["drop", "collapse", "sample", "block"]))
def test_counters_balance(ops: list[tuple[str, int]], kind: str) -> None:
    q: EventQueue
    if kind == "drop":
        q = DropOldestQueue(4)
    elif kind == "collapse":
        q = CollapseQueue(4)
    elif kind == "sample":
        q = SampleQueue(4, sample_rate=0.5, sample_threshold=0.5, seed=0)
    else:
        q = BlockingQueue(4)
    offered = 0
    for op, arg in ops:
        if op == "put":
            offered += 1
            event = ev(offered, P2, key=arg)
            if isinstance(q, BlockingQueue):
                q.put(event, wait=False)
            else:
                q.put(event)
        elif op == "take":
            q.done(len(q.take(arg)))
        else:
            q.clear()
        assert invariant_holds(q)
        assert q.metrics.enqueued + q.metrics.sampled_out == offered
        assert q.outstanding == len(q)
        if not isinstance(q, BlockingQueue):
            assert len(q) <= q.capacity
