"""The dispatcher's settings, shared by the threaded and the inline dispatcher, checked once
when built so neither has to check them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from qts.events.priority import DEFAULT_CLASS_CONFIG, P0, ClassConfig, EventPriority, OverflowPolicy


def _default_classes() -> dict[EventPriority, ClassConfig]:
    return dict(DEFAULT_CLASS_CONFIG)


def _default_nice() -> dict[EventPriority, int]:
    return {P0: -5}


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    """Dispatcher settings.

    - ``switch_interval_s``: ``sys.setswitchinterval`` while running (restored on stop); None
      leaves the interpreter's value alone.
    - ``yield_to_p0``: lower-priority workers stand aside (block without the GIL) before each
      event while P0 events wait, for at most ``p0_yield_timeout_s`` per P0 stall.
    - ``yield_publishers``: publishers do the same inside ``publish`` (a P0 publisher after its
      put: it hands the GIL to the P0 thread), for at most ``publisher_yield_timeout_s``; never
      the P0 thread itself. It is a wait for P0 to run, never for queue space.
    - ``thread_nice``: best-effort OS nice value per class's threads (Linux only; a value the
      process may not set is skipped and reported in ``metrics()["os_priority"]``).
    - ``p0_max_retries``: retries after the first failed attempt of a P0 handler (so 1 + 3
      attempts by default), then the event is dead-lettered and FS113 raised.
    - ``sample_seed``: seeds the SAMPLE queues (lane i gets seed + i) for exact, repeatable runs.
    - ``keep_latency_samples``: keep every latency sample (ns), for benchmarks.
    - ``poll_s``: how often idle workers look at stop and pause flags.
    """

    classes: Mapping[EventPriority, ClassConfig] = field(default_factory=_default_classes)
    switch_interval_s: float | None = 0.0002
    yield_to_p0: bool = True
    yield_publishers: bool = True
    p0_yield_timeout_s: float = 0.01
    publisher_yield_timeout_s: float = 0.001
    thread_nice: Mapping[EventPriority, int] = field(default_factory=_default_nice)
    p0_max_retries: int = 3
    dead_letter_capacity: int = 1_000
    sample_seed: int | None = None
    keep_latency_samples: bool = False
    poll_s: float = 0.1

    def __post_init__(self) -> None:
        missing = [p.name for p in EventPriority if p not in self.classes]
        if missing:
            raise ValueError(f"classes: no configuration for {', '.join(missing)}")
        p0 = self.classes[P0]
        if p0.policy is not OverflowPolicy.BLOCK or p0.workers != 1:
            raise ValueError(
                "classes: P0 must use BLOCK with exactly one worker (never dropped, in order)"
            )
        if self.switch_interval_s is not None and self.switch_interval_s <= 0:
            raise ValueError(f"switch_interval_s must be > 0, got {self.switch_interval_s}")
        if self.p0_max_retries < 0:
            raise ValueError(f"p0_max_retries must be >= 0, got {self.p0_max_retries}")
        if min(self.p0_yield_timeout_s, self.publisher_yield_timeout_s, self.poll_s) <= 0:
            raise ValueError("p0_yield_timeout_s, publisher_yield_timeout_s and poll_s must be > 0")
