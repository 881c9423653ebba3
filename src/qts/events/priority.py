"""The four event classes and their per-class defaults (queue, overflow policy, workers).

The numbers are the ones settled in decisions.md ("Event priority"); worker counts are defaults,
not a design constraint: the bar is the P0 latency, measured by ``benchmarks/event_latency.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class OverflowPolicy(StrEnum):
    """What a full (or filling) queue does with the next event."""

    BLOCK = "BLOCK"  # the producer waits for space; nothing is ever dropped
    DROP_OLDEST = "DROP_OLDEST"  # the oldest queued event makes room for the new one
    COLLAPSE = "COLLAPSE"  # a newer event replaces the queued one with the same collapse key
    SAMPLE = "SAMPLE"  # past a fill threshold only a sample is kept; full ⇒ the new one is dropped


@dataclass(frozen=True, slots=True)
class ClassConfig:
    """Queue and worker settings of one priority class.

    ``capacity`` is the class total; with several workers each worker owns one partition (lane)
    of ``capacity // workers`` events, chosen by the event's key, so events with the same key are
    handled in order by one thread. ``warn_fill``/``critical_fill`` are the back-pressure fill
    ratios reported to the owner. ``sample_rate`` and ``sample_threshold`` apply to SAMPLE only,
    ``block_alert_s`` to BLOCK only (how long a producer may block before FS110 is raised).
    """

    capacity: int
    policy: OverflowPolicy
    workers: int
    max_batch: int
    warn_fill: float
    critical_fill: float
    sample_rate: float = 1.0
    sample_threshold: float = 1.0
    block_alert_s: float = 0.01

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.capacity < self.workers:
            raise ValueError(f"capacity {self.capacity} is smaller than workers {self.workers}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        if not 0.0 <= self.sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be in [0, 1], got {self.sample_rate}")
        if not 0.0 <= self.sample_threshold <= 1.0:
            raise ValueError(f"sample_threshold must be in [0, 1], got {self.sample_threshold}")
        if not 0.0 < self.warn_fill <= self.critical_fill <= 1.0:
            raise ValueError("fill ratios must satisfy 0 < warn_fill <= critical_fill <= 1")
        if self.block_alert_s <= 0:
            raise ValueError(f"block_alert_s must be > 0, got {self.block_alert_s}")

    @property
    def lane_capacity(self) -> int:
        return self.capacity // self.workers


class EventPriority(IntEnum):
    """P0 execution/fills, P1 market data, P2 strategy evaluation, P3 UI and logging."""

    P0 = 0
    P1 = 1
    P2 = 2
    P3 = 3

    @property
    def defaults(self) -> ClassConfig:
        """This class's default queue and worker settings."""
        return DEFAULT_CLASS_CONFIG[self]


P0, P1, P2, P3 = EventPriority.P0, EventPriority.P1, EventPriority.P2, EventPriority.P3


# P0: 100, BLOCK, one dedicated thread. Depth alerts at 50 / 80 become fill ratios 0.5 / 0.8.
# P1: 10,000, DROP_OLDEST, 2 workers, batches of ≤ 100, back-pressure at 70 % / 90 %.
# P2: 1,000, COLLAPSE by (event_type, key), 4 workers, batches of ≤ 50, 80 % / 95 %.
# P3: 50,000, SAMPLE 0.1 once the queue is half full (ours: the source leaves the threshold open),
#     one best-effort worker, batches of ≤ 100; the source gives P3 no back-pressure levels, so
#     ours are the sampling threshold (50 %) and 90 %.
DEFAULT_CLASS_CONFIG: dict[EventPriority, ClassConfig] = {
    EventPriority.P0: ClassConfig(
        capacity=100,
        policy=OverflowPolicy.BLOCK,
        workers=1,
        max_batch=1,
        warn_fill=0.5,
        critical_fill=0.8,
        block_alert_s=0.01,
    ),
    EventPriority.P1: ClassConfig(
        capacity=10_000,
        policy=OverflowPolicy.DROP_OLDEST,
        workers=2,
        max_batch=100,
        warn_fill=0.7,
        critical_fill=0.9,
    ),
    EventPriority.P2: ClassConfig(
        capacity=1_000,
        policy=OverflowPolicy.COLLAPSE,
        workers=4,
        max_batch=50,
        warn_fill=0.8,
        critical_fill=0.95,
    ),
    EventPriority.P3: ClassConfig(
        capacity=50_000,
        policy=OverflowPolicy.SAMPLE,
        workers=1,
        max_batch=100,
        warn_fill=0.5,
        critical_fill=0.9,
        sample_rate=0.1,
        sample_threshold=0.5,
    ),
}
