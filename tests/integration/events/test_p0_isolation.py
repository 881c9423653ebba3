"""Acceptance: a P1 flood (queue full, drops counted) never delays or drops a P0 event; stuck
P2/P3 handlers do not hold P0 either. Asserted structurally (what had or had not been handled when
each P0 event ran), not with timing thresholds."""

from __future__ import annotations

import threading
import time

from qts.events import DispatcherConfig, Event, EventDispatcher, EventPriority, EventType

P0, P1, P2, P3 = EventPriority
WAIT = 60.0
SYMBOLS = [f"{i:06d}" for i in range(20)]


def p1_depth(d: EventDispatcher) -> int:
    return sum(len(q) for q in d.queues(P1))


def p1_dropped(d: EventDispatcher) -> int:
    return sum(q.metrics.dropped for q in d.queues(P1))


def test_p1_flood_against_stuck_p1_workers_never_delays_or_drops_p0() -> None:
    """Both P1 workers are stuck in a handler and the P1 queue overflows; N P0 events published
    concurrently with the flood are all handled, once, in order, and none waited for P1 work."""
    d = EventDispatcher()
    p1_release = threading.Event()
    p1_lock = threading.Lock()
    p1_handled = 0
    p0_log: list[tuple[int, int, int]] = []

    def on_tick(event: Event) -> None:
        nonlocal p1_handled
        p1_release.wait(WAIT)
        with p1_lock:
            p1_handled += 1

    def on_fill(event: Event) -> None:
        p0_log.append((event.payload, p1_depth(d), p1_handled))

    d.subscribe(EventType.PRICE_TICK, on_tick)
    d.subscribe(EventType.FILL_CONFIRMED, on_fill)
    d.start()

    def flood(count: int, base: int) -> None:
        for n in range(base, base + count):
            d.publish(Event.of(EventType.PRICE_TICK, n, key=SYMBOLS[n % 20]))

    def p0_producer() -> None:
        for i in range(500):
            d.publish(Event.of(EventType.FILL_CONFIRMED, i))

    try:
        flood(20_000, 0)  # fills both P1 lanes (2 x 5,000) and overflows them
        assert p1_dropped(d) > 0
        flooder = threading.Thread(target=flood, args=(20_000, 20_000))
        producer = threading.Thread(target=p0_producer)
        flooder.start()
        producer.start()
        producer.join(WAIT)
        flooder.join(WAIT)
        assert d.wait_idle(P0, timeout=WAIT)
        assert [i for i, _, _ in p0_log] == list(range(500))  # all, exactly once, in order
        assert all(depth > 0 for _, depth, _ in p0_log)  # P1 backlog still waiting
        assert all(handled == 0 for _, _, handled in p0_log)  # no P1 work finished first
    finally:
        p1_release.set()
    assert d.wait_idle(timeout=WAIT)
    d.stop(timeout=WAIT)
    p1 = d.metrics()["classes"]["P1"]
    # Each stuck worker had taken one batch (≤ 100) before its first handler blocked.
    assert p1["dropped"] >= 40_000 - 10_000 - 2 * P1.defaults.max_batch
    assert p1["dequeued"] == p1_handled == p1["enqueued"] - p1["dropped"]
    p0 = d.metrics()["classes"]["P0"]
    assert p0["dropped"] == 0 and p0["dequeued"] == 500


def test_p0_overtakes_a_live_p1_backlog() -> None:
    """P1 workers run a slow-ish handler under a flood that keeps the queue overflowing. Every P0
    event is handled while P1 events published before it are still waiting: P0 never queues
    behind P1 work."""
    d = EventDispatcher()
    lock = threading.Lock()
    last_handled: dict[str, int] = {}
    published = -1
    p0_log: list[tuple[int, int, int, int]] = []
    overflowing = threading.Event()
    stop_flood = threading.Event()

    def on_tick(event: Event) -> None:
        end = time.perf_counter_ns() + 20_000  # 20 µs of CPU work per tick
        while time.perf_counter_ns() < end:
            pass
        with lock:
            last_handled[threading.current_thread().name] = event.payload

    def on_fill(event: Event) -> None:
        with lock:
            newest_handled = max(last_handled.values(), default=-1)
        i, published_before = event.payload
        p0_log.append((i, published_before, newest_handled, p1_depth(d)))

    d.subscribe(EventType.PRICE_TICK, on_tick)
    d.subscribe(EventType.FILL_CONFIRMED, on_fill)
    d.start()

    def flood() -> None:
        nonlocal published
        n = 0
        while not stop_flood.is_set():
            d.publish(Event.of(EventType.PRICE_TICK, n, key=SYMBOLS[n % 20]))
            published = n
            n += 1
            if n % 1000 == 0 and p1_dropped(d):
                overflowing.set()

    flooder = threading.Thread(target=flood)
    flooder.start()
    try:
        assert overflowing.wait(WAIT)
        for i in range(300):
            d.publish(Event.of(EventType.FILL_CONFIRMED, (i, published)))
        assert d.wait_idle(P0, timeout=WAIT)
    finally:
        stop_flood.set()
        flooder.join(WAIT)
    d.stop(drain=False, timeout=WAIT)

    assert [entry[0] for entry in p0_log] == list(range(300))
    for i, published_before, newest_handled, depth in p0_log:
        assert newest_handled < published_before, i  # overtook earlier-published P1 events
        assert depth > 0, i
    assert d.metrics()["classes"]["P1"]["dropped"] > 0
    assert d.metrics()["classes"]["P0"]["dropped"] == 0


def test_stuck_p2_and_p3_handlers_with_full_queues_do_not_hold_p0() -> None:
    """Spec variant: 10,000 P2 + 50,000 P3 events offered while every P2/P3 worker is stuck in a
    handler (the spec's P3 handler sleeping 5 s); 100 P0 events are all handled meanwhile."""
    d = EventDispatcher(DispatcherConfig(sample_seed=3))
    release = threading.Event()
    lower_handled: list[object] = []
    fills: list[object] = []

    def stuck(event: Event) -> None:
        release.wait(WAIT)
        lower_handled.append(event.payload)

    d.subscribe(P2, stuck)
    d.subscribe(P3, stuck)
    d.subscribe(P0, lambda e: fills.append(e.payload))
    d.start()
    try:
        for i in range(10_000):
            d.publish(Event.of(EventType.STRATEGY_EVALUATE, i, key=i))
        for i in range(50_000):
            d.publish(Event.of(EventType.DASHBOARD_UPDATE, i))
        for i in range(100):
            d.publish(Event.of(EventType.FILL_CONFIRMED, i))
        assert d.wait_idle(P0, timeout=WAIT)
        assert fills == list(range(100))
        assert lower_handled == []
    finally:
        release.set()
    d.stop(drain=False, timeout=WAIT)
    snap = d.metrics()["classes"]
    assert snap["P2"]["dropped"] > 0 and snap["P3"]["sampled_out"] > 0
