"""Event record, catalogue and per-class defaults (decisions.md "Event priority")."""

from __future__ import annotations

import dataclasses

import pytest

from qts.events import (
    CATALOGUE,
    DEFAULT_CLASS_CONFIG,
    ClassConfig,
    Event,
    EventPriority,
    EventType,
    OverflowPolicy,
)

P0, P1, P2, P3 = EventPriority


def test_defaults_are_the_decided_numbers() -> None:
    assert [(p.defaults.capacity, p.defaults.policy) for p in EventPriority] == [
        (100, OverflowPolicy.BLOCK),
        (10_000, OverflowPolicy.DROP_OLDEST),
        (1_000, OverflowPolicy.COLLAPSE),
        (50_000, OverflowPolicy.SAMPLE),
    ]
    assert [p.defaults.workers for p in EventPriority] == [1, 2, 4, 1]
    assert P3.defaults.sample_rate == 0.1
    assert P1.defaults.warn_fill == 0.7 and P1.defaults.critical_fill == 0.9
    assert P2.defaults.warn_fill == 0.8 and P2.defaults.critical_fill == 0.95
    assert P1.defaults.lane_capacity == 5_000
    assert DEFAULT_CLASS_CONFIG[P0] is P0.defaults


def test_priorities_order_like_ints() -> None:
    assert P0 < P1 < P2 < P3
    assert [int(p) for p in EventPriority] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("event_type", "priority"),
    [
        (EventType.FILL_CONFIRMED, P0),
        (EventType.EMERGENCY_STOP, P0),
        (EventType.ORDER_SENT, P0),
        (EventType.PRICE_TICK, P1),
        (EventType.VIX_UPDATE, P1),
        (EventType.STRATEGY_EVALUATE, P2),
        (EventType.ORDER_DECISION, P2),
        (EventType.DASHBOARD_UPDATE, P3),
        (EventType.PERF_UPDATE, P3),
    ],
)
def test_catalogue_priority(event_type: EventType, priority: EventPriority) -> None:
    assert event_type.priority is priority
    assert Event.of(event_type).priority is priority


def test_catalogue_covers_every_type() -> None:
    assert set(CATALOGUE) == set(EventType)
    assert sum(1 for t in EventType if t.priority is P0) == 10
    assert sum(1 for t in EventType if t.priority is P1) == 5


def test_event_is_frozen_and_unstamped_until_published() -> None:
    event = Event.of(EventType.PRICE_TICK, {"price": 70_000}, key="005930", source="KIS")
    assert (event.event_type, event.key, event.source) == ("PRICE_TICK", "005930", "KIS")
    assert event.payload == {"price": 70_000}
    assert event.event_id == 0 and event.ts_enqueue == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.key = "000660"  # type: ignore[misc]
    assert not hasattr(event, "__dict__")  # slots: no per-instance dict


def test_any_string_is_an_event_type() -> None:
    event = Event("CUSTOM", P2, 1)
    assert event.event_type == "CUSTOM" and event.priority is P2 and event.key is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"workers": 0}, "workers"),
        ({"capacity": 1, "workers": 2}, "capacity"),
        ({"max_batch": 0}, "max_batch"),
        ({"sample_rate": 1.5}, "sample_rate"),
        ({"sample_threshold": -0.1}, "sample_threshold"),
        ({"warn_fill": 0.9, "critical_fill": 0.5}, "fill ratios"),
        ({"block_alert_s": 0.0}, "block_alert_s"),
    ],
)
def test_class_config_rejects_bad_values(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(P1.defaults, **changes)  # type: ignore[arg-type]


def test_class_config_lane_capacity_is_the_share_of_one_worker() -> None:
    config = ClassConfig(1_001, OverflowPolicy.COLLAPSE, 4, 50, 0.8, 0.95)
    assert config.lane_capacity == 250
