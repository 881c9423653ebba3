"""The event record and the catalogue of event types with their default priority."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from qts.events.priority import EventPriority


class EventType(StrEnum):
    """Event types of the spec's catalogue (next-generation.md §4.2). Any string is accepted as an
    event type; these are the ones the system itself publishes."""

    # P0 execution & fills
    FILL_CONFIRMED = "FILL_CONFIRMED"
    FILL_PARTIAL = "FILL_PARTIAL"
    FILL_RECEIVED = "FILL_RECEIVED"
    ORDER_SENT = "ORDER_SENT"
    ORDER_REJECTED = "ORDER_REJECTED"
    ORDER_CANCELLED = "ORDER_CANCELLED"
    POSITION_UPDATE = "POSITION_UPDATE"
    EMERGENCY_STOP = "EMERGENCY_STOP"
    EMERGENCY_ORDER = "EMERGENCY_ORDER"
    BROKER_DISCONNECT = "BROKER_DISCONNECT"
    # P1 market data
    PRICE_TICK = "PRICE_TICK"
    ORDERBOOK_UPDATE = "ORDERBOOK_UPDATE"
    VOLUME_UPDATE = "VOLUME_UPDATE"
    INDEX_UPDATE = "INDEX_UPDATE"
    VIX_UPDATE = "VIX_UPDATE"
    # P2 strategy evaluation
    ETEDA_CYCLE_START = "ETEDA_CYCLE_START"
    EXTRACT_COMPLETE = "EXTRACT_COMPLETE"
    TRANSFORM_COMPLETE = "TRANSFORM_COMPLETE"
    STRATEGY_EVALUATE = "STRATEGY_EVALUATE"
    RISK_EVALUATE = "RISK_EVALUATE"
    PORTFOLIO_EVALUATE = "PORTFOLIO_EVALUATE"
    INDICATOR_UPDATE = "INDICATOR_UPDATE"
    SIGNAL_GENERATED = "SIGNAL_GENERATED"
    STRATEGY_SIGNAL = "STRATEGY_SIGNAL"
    ORDER_DECISION = "ORDER_DECISION"
    # P3 UI & logging
    DASHBOARD_UPDATE = "DASHBOARD_UPDATE"
    LOG_WRITE = "LOG_WRITE"
    REPORT_GENERATE = "REPORT_GENERATE"
    NOTIFICATION_SEND = "NOTIFICATION_SEND"
    METRIC_RECORD = "METRIC_RECORD"
    PERF_UPDATE = "PERF_UPDATE"

    @property
    def priority(self) -> EventPriority:
        return CATALOGUE[self]


_P0 = (
    "FILL_CONFIRMED FILL_PARTIAL FILL_RECEIVED ORDER_SENT ORDER_REJECTED ORDER_CANCELLED "
    "POSITION_UPDATE EMERGENCY_STOP EMERGENCY_ORDER BROKER_DISCONNECT"
)
_P1 = "PRICE_TICK ORDERBOOK_UPDATE VOLUME_UPDATE INDEX_UPDATE VIX_UPDATE"
_P2 = (
    "ETEDA_CYCLE_START EXTRACT_COMPLETE TRANSFORM_COMPLETE STRATEGY_EVALUATE RISK_EVALUATE "
    "PORTFOLIO_EVALUATE INDICATOR_UPDATE SIGNAL_GENERATED STRATEGY_SIGNAL ORDER_DECISION"
)
_P3 = "DASHBOARD_UPDATE LOG_WRITE REPORT_GENERATE NOTIFICATION_SEND METRIC_RECORD PERF_UPDATE"

CATALOGUE: dict[EventType, EventPriority] = {
    EventType(name): priority
    for names, priority in (
        (_P0, EventPriority.P0),
        (_P1, EventPriority.P1),
        (_P2, EventPriority.P2),
        (_P3, EventPriority.P3),
    )
    for name in names.split()
}


@dataclass(frozen=True, slots=True)
class Event:
    """One event. Immutable to everyone but the dispatcher, which stamps ``event_id`` (a counter,
    not a uuid: P1 floods make the cost matter) when it is published and ``ts_enqueue``
    (``time.monotonic_ns``) when its queue accepts it. An event is published once.

    ``key`` partitions and collapses: events with the same key (usually the symbol) are handled in
    order by one worker, and in a COLLAPSE queue a newer event with the same (event_type, key)
    replaces the queued one.
    """

    event_type: str
    priority: EventPriority
    payload: Any = None
    key: Hashable | None = None
    source: str = ""
    ts_enqueue: int = 0
    event_id: int = 0

    @classmethod
    def of(
        cls,
        event_type: EventType,
        payload: Any = None,
        *,
        key: Hashable | None = None,
        source: str = "",
    ) -> Event:
        """An event of a catalogue type, at that type's priority."""
        return cls(event_type, CATALOGUE[event_type], payload, key, source)
