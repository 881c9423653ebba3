"""The ETEDA loop: frames in, one cycle per frame, paced by the run's clock.

The same loop runs backtests (no pacing), paper runs (a simulated clock paced against real time)
and, later, live runs. Frames already traded by an earlier process (up to ``resume_after``) only
warm the indicators up. A failing stage is the runner's business (it raises a fail-safe code and
the safety state machine stops trading); anything that escapes the runner stops the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from qts.brokers.base import BrokerEvent
from qts.core.clock import Pacer, SimulatedClock
from qts.core.heap import release_heap
from qts.engines.contracts import CycleReport
from qts.model.fill import Fill
from qts.model.frame import BarFrame
from qts.pipeline.runner import EtedaRunner, SessionView

log = logging.getLogger(__name__)


class FrameListener(Protocol):
    """A simulated venue that trades on the same bars the strategies see."""

    def on_frame(self, frame: BarFrame) -> list[BrokerEvent]: ...


class CycleHooks(Protocol):
    """The event spine around each cycle: it books the venue's reports and runs protection
    before the cycle, and publishes the cycle's results after it."""

    def before_cycle(self, frame: BarFrame, venue_events: list[BrokerEvent]) -> list[Fill]: ...

    def after_cycle(self, report: CycleReport, fills: list[Fill]) -> None: ...

    def settle(self, venue_events: list[BrokerEvent]) -> None: ...


@dataclass(slots=True)
class LoopResult:
    cycles: int = 0
    warmed: int = 0
    stopped: str = "data exhausted"


class TradingLoop:
    def __init__(
        self,
        runner: EtedaRunner,
        frames: Iterable[BarFrame],
        clock: SimulatedClock,
        pacer: Pacer,
        session: Callable[[datetime], SessionView],
        venue: FrameListener | None = None,
        resume_after: datetime | None = None,
        until: datetime | None = None,
        on_cycle: Callable[[CycleReport, list[Fill]], None] | None = None,
        stop: threading.Event | None = None,
        hooks: CycleHooks | None = None,
    ) -> None:
        self.runner = runner
        self.frames = frames
        self.clock = clock
        self.pacer = pacer
        self.session = session
        self.venue = venue
        self.resume_after = resume_after
        self.until = until
        self.on_cycle = on_cycle
        self.stop = stop or threading.Event()
        self.hooks = hooks

    def run(self) -> LoopResult:
        try:
            return self._run()
        finally:
            release_heap()

    def _run(self) -> LoopResult:
        result = LoopResult()
        oms = self.runner.oms
        for frame in self.frames:
            if self.stop.is_set():
                result.stopped = "stop requested"
                break
            if self.until is not None and frame.end > self.until:
                result.stopped = "duration reached"
                break
            warm = self.resume_after is not None and frame.end <= self.resume_after
            if not warm:
                # the clock does not run ahead of the pacer: while we wait, readers on other
                # threads (the console, the cache's freshness checks) still see the last bar
                self.pacer.wait_until(frame.end)
            self.clock.advance_to(frame.end)
            if self.venue is not None:
                self.venue.on_frame(frame)
            if warm:
                self.runner.warm_up(frame)
                result.warmed += 1
                continue
            if self.hooks is not None:
                fills = self.hooks.before_cycle(frame, oms.broker.drain_events())
            else:
                fills = oms.process_events()
            report = self.runner.run_cycle(frame, frame.end, self.session(frame.end))
            result.cycles += 1
            if self.hooks is not None:
                self.hooks.after_cycle(report, fills)
            if self.on_cycle is not None:
                self.on_cycle(report, fills)
        if self.hooks is not None:
            self.hooks.settle(oms.broker.drain_events())
        else:
            oms.process_events()
        return result
