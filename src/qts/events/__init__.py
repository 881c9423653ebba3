"""One event spine: typed events through a priority dispatcher (P0 execution/fills, P1 market
data, P2 strategy, P3 UI/logging), each class with its own queue, overflow policy and workers.
A P0 event is never dropped and never waits behind a lower class."""

from qts.events.dispatcher import (
    FS_P0_HANDLER_FAILED,
    FS_P0_OVERFLOW,
    GR_CRITICAL_ONLY,
    PAUSED_BY_LEVEL,
    Alert,
    DeadLetter,
    Dispatcher,
    DispatcherClosed,
    DispatcherConfig,
    EventDispatcher,
    Handler,
    InlineDispatcher,
)
from qts.events.event import CATALOGUE, Event, EventType
from qts.events.metrics import LatencyHistogram, QueueMetrics
from qts.events.priority import DEFAULT_CLASS_CONFIG, ClassConfig, EventPriority, OverflowPolicy
from qts.events.queue import (
    BlockingQueue,
    CollapseQueue,
    DropOldestQueue,
    EventQueue,
    QueueClosed,
    SampleQueue,
    make_queue,
)

__all__ = [
    "CATALOGUE",
    "DEFAULT_CLASS_CONFIG",
    "FS_P0_HANDLER_FAILED",
    "FS_P0_OVERFLOW",
    "GR_CRITICAL_ONLY",
    "PAUSED_BY_LEVEL",
    "Alert",
    "BlockingQueue",
    "ClassConfig",
    "CollapseQueue",
    "DeadLetter",
    "Dispatcher",
    "DispatcherClosed",
    "DispatcherConfig",
    "DropOldestQueue",
    "Event",
    "EventDispatcher",
    "EventPriority",
    "EventQueue",
    "EventType",
    "Handler",
    "InlineDispatcher",
    "LatencyHistogram",
    "OverflowPolicy",
    "QueueClosed",
    "QueueMetrics",
    "SampleQueue",
    "make_queue",
]
