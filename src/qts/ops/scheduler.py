"""Periodic operator tasks outside ETEDA (backups now; reports later): each on its own interval,
on one daemon thread, a failing task logged and retried at its next turn, never raising into the
run."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Task:
    name: str
    interval_s: float
    fn: Callable[[], object]
    runs: int = 0
    errors: int = 0
    next_at: float = field(default=0.0)


class Scheduler:
    def __init__(self, poll_s: float = 1.0) -> None:
        self.poll_s = poll_s
        self.tasks: list[Task] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ops-scheduler", daemon=True)

    def every(self, name: str, interval_s: float, fn: Callable[[], object]) -> Task:
        task = Task(name, interval_s, fn, next_at=time.monotonic() + interval_s)
        self.tasks.append(task)
        return task

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def run_due(self, now: float) -> None:
        for task in self.tasks:
            if now >= task.next_at:
                task.next_at = now + task.interval_s
                try:
                    task.fn()
                    task.runs += 1
                except Exception as exc:
                    task.errors += 1
                    log.error("scheduled %s failed: %s", task.name, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.run_due(time.monotonic())

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30.0)
