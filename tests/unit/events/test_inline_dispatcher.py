"""InlineDispatcher: synchronous, strictly by priority; shares policies, retries and metrics with
the threaded dispatcher."""

from __future__ import annotations

import dataclasses

import pytest

from qts.events import (
    FS_P0_HANDLER_FAILED,
    FS_P0_OVERFLOW,
    GR_CRITICAL_ONLY,
    Alert,
    Dispatcher,
    DispatcherClosed,
    DispatcherConfig,
    Event,
    EventDispatcher,
    EventPriority,
    EventType,
    InlineDispatcher,
)

P0, P1, P2, P3 = EventPriority


def small_config(**changes: object) -> DispatcherConfig:
    """Small capacities so overflow is easy to reach."""
    base = DispatcherConfig()
    classes = {
        P0: dataclasses.replace(P0.defaults, capacity=4),
        P1: dataclasses.replace(P1.defaults, capacity=10, workers=1),
        P2: dataclasses.replace(P2.defaults, capacity=10, workers=1),
        P3: dataclasses.replace(P3.defaults, capacity=20),
    }
    return dataclasses.replace(base, classes=classes, **changes)  # type: ignore[arg-type]


def test_both_dispatchers_satisfy_the_protocol() -> None:
    dispatchers: list[Dispatcher] = [InlineDispatcher(), EventDispatcher()]
    assert all(d.degradation_level == 0 for d in dispatchers)


def test_drain_runs_p0_first_then_by_class_fifo_within() -> None:
    d = InlineDispatcher(auto_drain=False)
    seen: list[tuple[str, object]] = []
    for prio in EventPriority:
        d.subscribe(prio, lambda e: seen.append((e.priority.name, e.payload)))
    for prio, n in [(P3, 1), (P2, 1), (P1, 1), (P3, 2), (P0, 1), (P1, 2), (P0, 2)]:
        d.publish(Event("X", prio, n, key=n))
    assert seen == []
    assert d.drain() == 7
    assert seen == [
        ("P0", 1),
        ("P0", 2),
        ("P1", 1),
        ("P1", 2),
        ("P2", 1),
        ("P3", 1),
        ("P3", 2),
    ]


def test_events_published_by_handlers_are_handled_in_priority_order() -> None:
    d = InlineDispatcher(auto_drain=False)
    seen: list[str] = []

    def on_tick(event: Event) -> None:
        seen.append(f"tick{event.payload}")
        if event.payload == 1:
            d.publish(Event.of(EventType.LOG_WRITE, "log"))
            d.publish(Event.of(EventType.FILL_CONFIRMED, "fill"))

    d.subscribe(EventType.PRICE_TICK, on_tick)
    d.subscribe(EventType.FILL_CONFIRMED, lambda e: seen.append(e.payload))
    d.subscribe(EventType.LOG_WRITE, lambda e: seen.append(e.payload))
    d.publish(Event.of(EventType.PRICE_TICK, 1))
    d.publish(Event.of(EventType.PRICE_TICK, 2))
    d.drain()
    assert seen == ["tick1", "fill", "tick2", "log"]


def test_auto_drain_handles_before_publish_returns() -> None:
    d = InlineDispatcher()
    seen: list[object] = []
    d.subscribe(EventType.PRICE_TICK, lambda e: seen.append(e.payload))
    d.publish(Event.of(EventType.PRICE_TICK, 1))
    assert seen == [1]
    assert d.drain() == 0


def test_reentrant_drain_is_a_no_op() -> None:
    d = InlineDispatcher()
    inner: list[int] = []
    d.subscribe(P1, lambda e: inner.append(d.drain()))
    d.publish(Event("X", P1))
    assert inner == [0]


def test_type_handlers_run_before_class_handlers_and_unsubscribe() -> None:
    d = InlineDispatcher()
    seen: list[str] = []

    def by_class(e: Event) -> None:
        seen.append("class")

    def by_type(e: Event) -> None:
        seen.append("type")

    d.subscribe(P1, by_class)
    d.subscribe(EventType.PRICE_TICK, by_type)
    d.publish(Event.of(EventType.PRICE_TICK))
    assert seen == ["type", "class"]
    assert d.unsubscribe(EventType.PRICE_TICK, by_type)
    assert not d.unsubscribe(EventType.PRICE_TICK, by_type)
    assert d.unsubscribe(P1, by_class)
    assert not d.unsubscribe(P1, by_class)
    d.publish(Event.of(EventType.PRICE_TICK))
    assert seen == ["type", "class"]


def test_event_ids_are_stamped_once_in_publish_order() -> None:
    d = InlineDispatcher(auto_drain=False)
    events = [Event("X", P2, i, key=i) for i in range(3)]
    for e in events:
        d.publish(e)
    assert [e.event_id for e in events] == [1, 2, 3]
    assert all(e.ts_enqueue > 0 for e in events)
    with pytest.raises(ValueError, match="already published"):
        d.publish(events[0])


def test_p0_handler_retried_then_dead_lettered_with_fs113() -> None:
    alerts: list[Alert] = []
    d = InlineDispatcher(on_alert=alerts.append)
    attempts: list[object] = []
    after: list[object] = []

    def broken(event: Event) -> None:
        attempts.append(event.payload)
        raise RuntimeError("broker down")

    d.subscribe(EventType.FILL_CONFIRMED, broken)
    d.subscribe(EventType.FILL_CONFIRMED, lambda e: after.append(e.payload))
    fill = Event.of(EventType.FILL_CONFIRMED, "f1")
    d.publish(fill)
    assert attempts == ["f1"] * 4  # first attempt + 3 retries
    assert after == ["f1"]  # the other handler still ran: the event is not dropped
    assert [a.code for a in alerts] == [FS_P0_HANDLER_FAILED]
    assert alerts[0].event is fill and alerts[0].priority is P0
    [letter] = list(d.dead_letters)
    assert letter.event is fill and letter.attempts == 4 and "broker down" in letter.error
    assert "broken" in letter.handler
    p0 = d.metrics()["classes"]["P0"]
    assert p0["handler_errors"] == 4 and p0["dead_lettered"] == 1 and p0["dequeued"] == 1
    assert "broker down" in p0["last_error"]


def test_p0_handler_that_recovers_is_not_dead_lettered() -> None:
    d = InlineDispatcher(config=DispatcherConfig(p0_max_retries=2))
    calls: list[int] = []

    def flaky(event: Event) -> None:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("transient")

    d.subscribe(P0, flaky)
    d.publish(Event.of(EventType.ORDER_REJECTED))
    assert len(calls) == 3 and not d.dead_letters
    assert d.metrics()["classes"]["P0"]["handler_errors"] == 2


def test_lower_class_handler_errors_are_counted_not_retried() -> None:
    d = InlineDispatcher()
    calls: list[int] = []

    def broken(event: Event) -> None:
        calls.append(1)
        raise ValueError("bad tick")

    d.subscribe(P1, broken)
    d.publish(Event.of(EventType.PRICE_TICK))
    d.publish(Event.of(EventType.PRICE_TICK))
    p1 = d.metrics()["classes"]["P1"]
    assert calls == [1, 1] and p1["handler_errors"] == 2 and p1["dequeued"] == 2
    assert "bad tick" in p1["last_error"] and not d.dead_letters


def test_failing_alert_sink_is_counted() -> None:
    def sink(alert: Alert) -> None:
        raise RuntimeError("sink down")

    d = InlineDispatcher(on_alert=sink)
    d.set_degradation(3)
    assert d.alert_errors == 1


def test_alerts_without_a_sink_are_ignored() -> None:
    d = InlineDispatcher()
    d.set_degradation(3)
    assert d.degradation_level == 3 and d.alert_errors == 0


def test_full_p0_queue_overfills_inline_and_reports_fs110() -> None:
    alerts: list[Alert] = []
    d = InlineDispatcher(small_config(), on_alert=alerts.append, auto_drain=False)
    seen: list[object] = []
    d.subscribe(P0, lambda e: seen.append(e.payload))
    for i in range(6):
        d.publish(Event.of(EventType.FILL_CONFIRMED, i))
    d.drain()
    assert seen == list(range(6))
    assert [a.code for a in alerts] == [FS_P0_OVERFLOW, FS_P0_OVERFLOW]
    p0 = d.metrics()["classes"]["P0"]
    assert p0["blocked_puts"] == 2 and p0["dropped"] == 0 and p0["max_depth"] == 6


def test_policies_apply_through_the_dispatcher() -> None:
    d = InlineDispatcher(small_config(sample_seed=5), auto_drain=False)
    for i in range(15):
        d.publish(Event.of(EventType.PRICE_TICK, i, key="A"))
    for i in range(3):
        d.publish(Event.of(EventType.STRATEGY_EVALUATE, i, key="005930"))
    for i in range(40):
        d.publish(Event.of(EventType.LOG_WRITE, i))
    snap = d.metrics()["classes"]
    assert snap["P1"]["dropped"] == 5 and snap["P1"]["depth"] == 10
    assert snap["P2"]["collapsed"] == 2 and snap["P2"]["depth"] == 1
    assert snap["P3"]["sampled_out"] > 0
    assert snap["P3"]["enqueued"] + snap["P3"]["sampled_out"] == 40
    assert d.fill_ratios()[P1] == 1.0
    assert d.backpressure()[P1] == "CRITICAL" and d.backpressure()[P0] == "NORMAL"


def test_backpressure_levels() -> None:
    d = InlineDispatcher(small_config(), auto_drain=False)
    for i in range(7):
        d.publish(Event.of(EventType.PRICE_TICK, i))
    assert d.fill_ratios()[P1] == 0.7 and d.backpressure()[P1] == "WARNING"
    d.drain()
    assert d.backpressure()[P1] == "NORMAL"


def test_degradation_pauses_lower_classes() -> None:
    alerts: list[Alert] = []
    d = InlineDispatcher(on_alert=alerts.append)
    seen: list[str] = []
    for prio in EventPriority:
        d.subscribe(prio, lambda e: seen.append(e.priority.name))
    d.set_degradation(2)
    assert d.degradation_level == 2 and d.is_paused(P2) and not d.is_paused(P1)
    for prio in (P3, P2, P1, P0):
        d.publish(Event("X", prio))
    assert seen == ["P1", "P0"]
    assert not d.wait_idle(P2) and d.wait_idle(P1) and not d.wait_idle()
    assert d.metrics()["classes"]["P2"]["paused"]
    d.set_degradation(3)
    d.publish(Event("X", P1))
    assert seen == ["P1", "P0"]
    assert [a.code for a in alerts] == [GR_CRITICAL_ONLY]
    d.set_degradation(3)  # already critical-only: no second alert
    assert len(alerts) == 1
    d.set_degradation(0)
    assert d.drain() == 3
    assert seen == ["P1", "P0", "P1", "P2", "P3"]
    assert d.wait_idle()
    with pytest.raises(ValueError, match=r"0\.\.3"):
        d.set_degradation(4)


def test_stop_with_drain_handles_paused_backlog_and_closes() -> None:
    d = InlineDispatcher(auto_drain=False)
    seen: list[str] = []
    d.subscribe(P3, lambda e: seen.append("P3"))
    d.set_degradation(1)
    d.publish(Event("X", P3))
    d.start()
    assert d.stop(drain=True)
    assert seen == ["P3"]
    with pytest.raises(DispatcherClosed):
        d.publish(Event("X", P3))
    assert d.stop()


def test_stop_without_drain_discards_lower_classes_but_not_p0() -> None:
    d = InlineDispatcher(auto_drain=False)
    seen: list[str] = []
    for prio in EventPriority:
        d.subscribe(prio, lambda e: seen.append(e.priority.name))
    for prio in EventPriority:
        d.publish(Event("X", prio))
    d.stop(drain=False)
    assert seen == ["P0"]
    snap = d.metrics()["classes"]
    assert [snap[p.name]["discarded"] for p in (P1, P2, P3)] == [1, 1, 1]
    assert d.metrics()["closed"]


def test_metrics_snapshot_shape() -> None:
    d = InlineDispatcher()
    d.publish(Event.of(EventType.FILL_CONFIRMED))
    snap = d.metrics()
    assert snap["degradation_level"] == 0 and snap["dead_letters"] == 0
    p0 = snap["classes"]["P0"]
    assert p0["policy"] == "BLOCK" and p0["capacity"] == 100 and p0["lanes"] == 1
    assert p0["enqueued"] == 1 and p0["dequeued"] == 1 and p0["depth"] == 0
    assert p0["latency"]["count"] == 1 and p0["latency"]["max_ms"] >= 0
    assert set(snap["classes"]) == {"P0", "P1", "P2", "P3"}
    assert d.latency(P0).count == 1 and len(d.queues(P0)) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"switch_interval_s": 0.0}, "switch_interval_s"),
        ({"p0_max_retries": -1}, "p0_max_retries"),
        ({"poll_s": 0.0}, "poll_s"),
    ],
)
def test_config_rejects_bad_values(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(DispatcherConfig(), **changes)  # type: ignore[arg-type]


def test_config_requires_every_class_and_a_single_blocking_p0() -> None:
    with pytest.raises(ValueError, match="no configuration for P3"):
        DispatcherConfig(classes={p: p.defaults for p in (P0, P1, P2)})
    classes = {p: p.defaults for p in EventPriority}
    classes[P0] = dataclasses.replace(P0.defaults, workers=2)
    with pytest.raises(ValueError, match="P0 must use BLOCK"):
        DispatcherConfig(classes=classes)
    classes[P0] = P1.defaults
    with pytest.raises(ValueError, match="P0 must use BLOCK"):
        DispatcherConfig(classes=classes)
