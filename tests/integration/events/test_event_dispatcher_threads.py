"""The threaded EventDispatcher: delivery, per-key order, idle barriers, P0 retries and BLOCK,
start/stop/drain and degradation. Synchronisation is by Events and wait_idle, never by sleeping."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from qts.events import (
    FS_P0_HANDLER_FAILED,
    FS_P0_OVERFLOW,
    GR_CRITICAL_ONLY,
    Alert,
    BlockingQueue,
    DispatcherClosed,
    DispatcherConfig,
    Event,
    EventDispatcher,
    EventPriority,
    EventType,
)

P0, P1, P2, P3 = EventPriority
WAIT = 30.0  # generous bound for liveness; tests never wait this long when they pass


@pytest.fixture
def dispatcher() -> Iterator[EventDispatcher]:
    d = EventDispatcher(DispatcherConfig(sample_seed=1))
    yield d
    d.stop(drain=False, timeout=WAIT)


class AlertBox:
    """Collects alerts; lets a test wait for a given code."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self._cond = threading.Condition()

    def __call__(self, alert: Alert) -> None:
        with self._cond:
            self.alerts.append(alert)
            self._cond.notify_all()

    def wait_for(self, code: str, count: int = 1) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: sum(a.code == code for a in self.alerts) >= count, WAIT
            )

    def codes(self) -> list[str]:
        with self._cond:
            return [a.code for a in self.alerts]


def test_every_class_is_delivered_and_wait_idle_is_a_barrier(
    dispatcher: EventDispatcher,
) -> None:
    seen: dict[EventPriority, list[object]] = defaultdict(list)
    lock = threading.Lock()

    def record(event: Event) -> None:
        with lock:
            seen[event.priority].append(event.payload)

    for prio in EventPriority:
        dispatcher.subscribe(prio, record)
    dispatcher.start()
    assert dispatcher.running
    for i in range(200):
        dispatcher.publish(Event.of(EventType.PRICE_TICK, i, key=f"S{i % 10}"))
        dispatcher.publish(Event.of(EventType.STRATEGY_EVALUATE, i, key=f"S{i}"))
        dispatcher.publish(Event.of(EventType.LOG_WRITE, i))
        if i % 10 == 0:
            dispatcher.publish(Event.of(EventType.FILL_CONFIRMED, i))
    assert dispatcher.wait_idle(timeout=WAIT)
    assert seen[P0] == list(range(0, 200, 10))  # one P0 thread: publication order
    for prio in (P1, P2, P3):
        assert sorted(seen[prio]) == list(range(200)), prio  # type: ignore[type-var]
    snap = dispatcher.metrics()
    assert snap["running"] and snap["classes"]["P1"]["lanes"] == 2
    assert snap["classes"]["P2"]["lanes"] == 4
    assert snap["classes"]["P1"]["latency"]["count"] == 200


def test_events_with_the_same_key_are_handled_in_order_by_one_thread(
    dispatcher: EventDispatcher,
) -> None:
    order: dict[object, list[int]] = defaultdict(list)
    threads: dict[object, set[str]] = defaultdict(set)

    def on_tick(event: Event) -> None:
        order[event.key].append(event.payload)
        threads[event.key].add(threading.current_thread().name)

    dispatcher.subscribe(EventType.PRICE_TICK, on_tick)
    dispatcher.start()
    for i in range(4000):
        dispatcher.publish(Event.of(EventType.PRICE_TICK, i, key=f"S{i % 20}"))
    assert dispatcher.wait_idle(P1, timeout=WAIT)
    assert all(seq == sorted(seq) and len(seq) == 200 for seq in order.values())
    assert all(len(names) == 1 for names in threads.values())
    assert len({name for names in threads.values() for name in names}) == 2  # both lanes used


def test_wait_idle_follows_events_published_by_handlers(dispatcher: EventDispatcher) -> None:
    done: list[object] = []
    dispatcher.subscribe(
        EventType.PRICE_TICK,
        lambda e: dispatcher.publish(
            Event.of(EventType.SIGNAL_GENERATED, e.payload, key=e.payload)
        ),
    )
    dispatcher.subscribe(
        EventType.SIGNAL_GENERATED,
        lambda e: dispatcher.publish(Event.of(EventType.METRIC_RECORD, e.payload)),
    )
    dispatcher.subscribe(EventType.METRIC_RECORD, lambda e: done.append(e.payload))
    dispatcher.start()
    for i in range(300):
        dispatcher.publish(Event.of(EventType.PRICE_TICK, i, key=i))
    assert dispatcher.wait_idle(timeout=WAIT)
    assert sorted(done) == list(range(300))  # type: ignore[type-var]


def test_wait_idle_times_out_while_a_handler_is_stuck(dispatcher: EventDispatcher) -> None:
    release = threading.Event()
    dispatcher.subscribe(P1, lambda e: release.wait(WAIT))
    dispatcher.start()
    dispatcher.publish(Event.of(EventType.PRICE_TICK))
    try:
        assert not dispatcher.wait_idle(P1, timeout=0.01)
        assert dispatcher.wait_idle(P0, timeout=WAIT)  # other classes are idle
    finally:
        release.set()
    assert dispatcher.wait_idle(timeout=WAIT)


def test_lower_class_handler_errors_are_counted_and_the_worker_goes_on(
    dispatcher: EventDispatcher,
) -> None:
    handled: list[object] = []

    def handler(event: Event) -> None:
        if event.payload % 2:
            raise ValueError("odd")
        handled.append(event.payload)

    dispatcher.subscribe(P2, handler)
    dispatcher.start()
    for i in range(10):
        dispatcher.publish(Event.of(EventType.RISK_EVALUATE, i, key=i))  # no collapsing
    assert dispatcher.wait_idle(P2, timeout=WAIT)
    assert sorted(handled) == [0, 2, 4, 6, 8]  # type: ignore[type-var]
    assert dispatcher.metrics()["classes"]["P2"]["handler_errors"] == 5


def test_p0_handler_failure_is_retried_then_dead_lettered() -> None:
    box = AlertBox()
    d = EventDispatcher(on_alert=box)
    attempts: list[object] = []
    later: list[object] = []

    def broken(event: Event) -> None:
        attempts.append(event.payload)
        raise RuntimeError("ledger write failed")

    d.subscribe(EventType.FILL_CONFIRMED, broken)
    d.subscribe(EventType.POSITION_UPDATE, lambda e: later.append(e.payload))
    d.start()
    try:
        d.publish(Event.of(EventType.FILL_CONFIRMED, "f1"))
        d.publish(Event.of(EventType.POSITION_UPDATE, "p1"))
        assert box.wait_for(FS_P0_HANDLER_FAILED)
        assert d.wait_idle(P0, timeout=WAIT)
    finally:
        d.stop(timeout=WAIT)
    assert attempts == ["f1"] * 4 and later == ["p1"]
    [letter] = list(d.dead_letters)
    assert letter.event.payload == "f1" and letter.attempts == 4
    assert d.metrics()["classes"]["P0"]["dead_lettered"] == 1


def test_the_101st_p0_put_blocks_until_the_handler_drains() -> None:
    """Spec: 100 P0 events fill the queue, the next put blocks (FS110 once it blocked longer than
    block_alert_s) and completes when the handler makes room; nothing is dropped."""
    box = AlertBox()
    classes = dict(DispatcherConfig().classes)
    classes[P0] = dataclasses.replace(P0.defaults, block_alert_s=0.001)
    d = EventDispatcher(DispatcherConfig(classes=classes), on_alert=box)
    entered, release = threading.Event(), threading.Event()
    handled: list[object] = []

    def on_fill(event: Event) -> None:
        entered.set()
        release.wait(WAIT)
        handled.append(event.payload)

    d.subscribe(P0, on_fill)
    d.start()
    returned = threading.Event()

    def blocked_producer() -> None:
        d.publish(Event.of(EventType.FILL_CONFIRMED, 101))
        returned.set()

    producer = threading.Thread(target=blocked_producer)
    try:
        d.publish(Event.of(EventType.FILL_CONFIRMED, 0))
        assert entered.wait(WAIT)  # event 0 is in the handler, the queue is empty
        for i in range(1, 101):
            d.publish(Event.of(EventType.FILL_CONFIRMED, i))
        assert len(d.queues(P0)[0]) == 100
        producer.start()
        assert box.wait_for(FS_P0_OVERFLOW)  # the 101st queued put has blocked ≥ 1 ms
        p0_queue = d.queues(P0)[0]
        assert isinstance(p0_queue, BlockingQueue)
        assert not returned.is_set() and p0_queue.blocked_producers == 1
    finally:
        release.set()
    producer.join(WAIT)
    assert returned.is_set()
    assert d.wait_idle(P0, timeout=WAIT)
    d.stop(timeout=WAIT)
    assert handled == list(range(102))
    p0 = d.metrics()["classes"]["P0"]
    assert p0["blocked_puts"] == 1 and p0["dropped"] == 0 and p0["max_depth"] == 100


def test_many_p0_producers_on_a_small_queue_lose_nothing() -> None:
    box = AlertBox()
    classes = dict(DispatcherConfig().classes)
    classes[P0] = dataclasses.replace(P0.defaults, capacity=5, block_alert_s=0.001)
    d = EventDispatcher(DispatcherConfig(classes=classes), on_alert=box)
    gate = threading.Event()
    seen: list[tuple[int, int]] = []

    def on_fill(event: Event) -> None:
        gate.wait(WAIT)  # held until a producer has been blocked on the full queue
        seen.append(event.payload)

    d.subscribe(P0, on_fill)
    d.start()

    def producer(pid: int) -> None:
        for i in range(200):
            d.publish(Event.of(EventType.FILL_CONFIRMED, (pid, i)))

    producers = [threading.Thread(target=producer, args=(pid,)) for pid in range(4)]
    try:
        for t in producers:
            t.start()
        assert box.wait_for(FS_P0_OVERFLOW)
    finally:
        gate.set()
    for t in producers:
        t.join(WAIT)
    assert d.wait_idle(P0, timeout=WAIT)
    d.stop(timeout=WAIT)
    assert len(seen) == 800 and len(set(seen)) == 800  # every event exactly once
    for pid in range(4):
        assert [i for p, i in seen if p == pid] == list(range(200))  # each producer's order
    p0 = d.metrics()["classes"]["P0"]
    assert p0["blocked_puts"] >= 1 and p0["dropped"] == 0 and p0["enqueued"] == 800


def test_p0_handler_publishing_into_a_full_p0_queue_does_not_deadlock() -> None:
    box = AlertBox()
    d = EventDispatcher(on_alert=box)
    seen: list[object] = []

    def on_p0(event: Event) -> None:
        seen.append(event.payload)
        if event.payload == "burst":
            for i in range(150):
                d.publish(Event.of(EventType.POSITION_UPDATE, i))

    d.subscribe(P0, on_p0)
    d.start()
    d.publish(Event.of(EventType.FILL_CONFIRMED, "burst"))
    assert d.wait_idle(P0, timeout=WAIT)
    d.stop(timeout=WAIT)
    assert seen == ["burst", *range(150)]
    assert box.codes().count(FS_P0_OVERFLOW) == 50
    assert d.metrics()["classes"]["P0"]["blocked_puts"] == 50


def test_start_once_switch_interval_restored_and_closed_after_stop() -> None:
    original = sys.getswitchinterval()
    d = EventDispatcher(DispatcherConfig(switch_interval_s=0.0003))
    d.subscribe(P0, lambda e: None)
    d.start()
    try:
        assert sys.getswitchinterval() == pytest.approx(0.0003)
        with pytest.raises(RuntimeError, match="starts once"):
            d.start()
        d.publish(Event.of(EventType.FILL_CONFIRMED))
        assert d.wait_idle(P0, timeout=WAIT)
        if sys.platform.startswith("linux"):
            assert d.os_priority["qts-events-P0"] in {"nice -5", "none"}
    finally:
        assert d.stop(timeout=WAIT)
    assert sys.getswitchinterval() == pytest.approx(original)
    assert not d.running and d.stop()  # idempotent
    with pytest.raises(DispatcherClosed):
        d.publish(Event.of(EventType.FILL_CONFIRMED))
    with pytest.raises(RuntimeError, match="starts once"):
        d.start()


def test_switch_interval_left_alone_when_not_configured() -> None:
    original = sys.getswitchinterval()
    d = EventDispatcher(DispatcherConfig(switch_interval_s=None))
    d.start()
    assert sys.getswitchinterval() == original
    d.stop(timeout=WAIT)
    assert sys.getswitchinterval() == original


def test_events_published_before_start_are_handled_after_it() -> None:
    d = EventDispatcher()
    seen: list[str] = []
    lock = threading.Lock()

    def record(event: Event) -> None:
        with lock:
            seen.append(event.priority.name)

    for prio in EventPriority:
        d.subscribe(prio, record)
    for prio in EventPriority:
        d.publish(Event("X", prio))
    d.start()
    assert d.wait_idle(timeout=WAIT)
    d.stop(timeout=WAIT)
    assert sorted(seen) == ["P0", "P1", "P2", "P3"]


def test_stop_of_a_never_started_dispatcher_drains_or_discards() -> None:
    for drain, expected in ((True, ["P0", "P1", "P2", "P3"]), (False, ["P0"])):
        d = EventDispatcher()
        seen: list[str] = []
        lock = threading.Lock()

        def record(event: Event, seen: list[str] = seen, lock: threading.Lock = lock) -> None:
            with lock:
                seen.append(event.priority.name)

        for prio in EventPriority:
            d.subscribe(prio, record)
            d.publish(Event("X", prio))
        assert d.stop(drain=drain, timeout=WAIT)
        assert sorted(seen) == expected
        discarded = [d.metrics()["classes"][p.name]["discarded"] for p in (P1, P2, P3)]
        assert discarded == ([0, 0, 0] if drain else [1, 1, 1])


def test_stop_with_drain_handles_paused_classes() -> None:
    d = EventDispatcher()
    seen: list[object] = []
    d.subscribe(P3, lambda e: seen.append(e.payload))
    d.start()
    d.set_degradation(1)
    for i in range(5):
        d.publish(Event.of(EventType.LOG_WRITE, i))
    assert d.stop(drain=True, timeout=WAIT)
    assert seen == list(range(5))


def test_stop_from_a_handler_is_refused(dispatcher: EventDispatcher) -> None:
    errors: list[str] = []

    def handler(event: Event) -> None:
        try:
            dispatcher.stop()
        except RuntimeError as exc:
            errors.append(str(exc))

    dispatcher.subscribe(P2, handler)
    dispatcher.start()
    dispatcher.publish(Event.of(EventType.RISK_EVALUATE))
    assert dispatcher.wait_idle(P2, timeout=WAIT)
    assert errors == ["stop() called from a dispatcher thread"]


def test_degradation_pauses_and_resumes_workers() -> None:
    box = AlertBox()
    d = EventDispatcher(on_alert=box)
    seen: dict[EventPriority, list[object]] = defaultdict(list)
    for prio in EventPriority:
        d.subscribe(prio, lambda e: seen[e.priority].append(e.payload))
    d.start()
    try:
        d.set_degradation(1)
        d.publish(Event.of(EventType.LOG_WRITE, "log"))
        d.publish(Event.of(EventType.PRICE_TICK, "tick"))
        assert d.wait_idle(P1, timeout=WAIT)
        assert not d.wait_idle(P3, timeout=0.01)
        assert seen[P3] == [] and d.metrics()["classes"]["P3"]["depth"] == 1
        d.set_degradation(3)
        assert box.codes() == [GR_CRITICAL_ONLY]
        d.publish(Event.of(EventType.PRICE_TICK, "tick2"))
        d.publish(Event.of(EventType.FILL_CONFIRMED, "fill"))
        assert d.wait_idle(P0, timeout=WAIT)
        assert seen[P0] == ["fill"] and seen[P1] == ["tick"]
        d.set_degradation(0)
        assert d.wait_idle(timeout=WAIT)
        assert seen[P1] == ["tick", "tick2"] and seen[P3] == ["log"]
    finally:
        d.stop(timeout=WAIT)


def test_a_stuck_p0_handler_does_not_starve_lower_classes() -> None:
    """Lower workers and publishers stand aside while P0 events wait, but only until P0 stops
    making progress: with the P0 handler stuck and P0 events queued, P1 is still handled."""
    d = EventDispatcher()
    entered, release = threading.Event(), threading.Event()
    ticks: list[object] = []

    def stuck(event: Event) -> None:
        entered.set()
        release.wait(WAIT)

    d.subscribe(P0, stuck)
    d.subscribe(P1, lambda e: ticks.append(e.payload))
    d.start()
    try:
        d.publish(Event.of(EventType.FILL_CONFIRMED, 0))
        assert entered.wait(WAIT)
        d.publish(Event.of(EventType.FILL_CONFIRMED, 1))  # waits behind the stuck handler
        for i in range(50):
            d.publish(Event.of(EventType.PRICE_TICK, i, key="A"))
        assert d.wait_idle(P1, timeout=WAIT)
        assert ticks == list(range(50)) and len(d.queues(P0)[0]) == 1
    finally:
        release.set()
    assert d.wait_idle(timeout=WAIT)
    d.stop(timeout=WAIT)


def test_publish_racing_with_stop_raises_closed(dispatcher: EventDispatcher) -> None:
    dispatcher.queues(P1)[0].close()  # what stop() does to every queue
    dispatcher.queues(P1)[1].close()
    with pytest.raises(DispatcherClosed):
        dispatcher.publish(Event.of(EventType.PRICE_TICK))


def test_p0_thread_drains_and_exits_when_the_owner_forgets_stop(tmp_path: Path) -> None:
    """The P0 thread is non-daemon: pending fills are handled after the main thread ends, then
    the process exits."""
    script = tmp_path / "forgot_stop.py"
    script.write_text(
        textwrap.dedent(
            """
            import threading
            from qts.events import DispatcherConfig, Event, EventDispatcher, EventType

            d = EventDispatcher(DispatcherConfig(poll_s=0.01))

            def on_fill(event):
                if event.payload == 0:
                    threading.main_thread().join()  # hold P0 until the main thread has ended
                print(event.payload, flush=True)

            d.subscribe(EventType.FILL_CONFIRMED, on_fill)
            d.start()
            for i in range(5):
                d.publish(Event.of(EventType.FILL_CONFIRMED, i))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=WAIT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "1", "2", "3", "4"]
