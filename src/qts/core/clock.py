"""The one seam through which the system reads time.

Domain code never calls ``datetime.now``; it receives a :class:`Clock`. Backtest and paper runs
drive a :class:`SimulatedClock`, live runs a :class:`WallClock`.
"""

from __future__ import annotations

import time as _time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from qts.core.time import KST, require_aware


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware."""
        ...


class WallClock:
    """Real time, in KST."""

    def now(self) -> datetime:
        return datetime.now(UTC).astimezone(KST)


class SimulatedClock:
    """Time that moves only when told to; never goes backwards."""

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start, "simulated clock start")

    def now(self) -> datetime:
        return self._now

    def advance_to(self, ts: datetime) -> None:
        require_aware(ts)
        if ts < self._now:
            raise ValueError(
                f"simulated clock cannot go back from {self._now.isoformat()} to {ts.isoformat()}"
            )
        self._now = ts

    def advance(self, delta: timedelta) -> None:
        self.advance_to(self._now + delta)


class Pacer:
    """Paces a simulated clock against real time: ``speed`` simulated seconds per real second.

    ``speed=None`` means as fast as events allow.
    """

    def __init__(self, speed: float | None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive or 'max', got {speed}")
        self.speed = speed
        self._origin_real: float | None = None
        self._origin_sim: datetime | None = None

    def wait_until(self, sim_ts: datetime, sleep: object = None) -> float:
        """Block until real time catches up with ``sim_ts``; returns seconds waited."""
        if self.speed is None:
            return 0.0
        real = _time.monotonic()
        if self._origin_real is None or self._origin_sim is None:
            self._origin_real, self._origin_sim = real, sim_ts
            return 0.0
        target = self._origin_real + (sim_ts - self._origin_sim).total_seconds() / self.speed
        delay = target - real
        if delay > 0:
            _time.sleep(delay)
            return delay
        return 0.0

    def rebase(self) -> None:
        """Forget the origin, e.g. after skipping a closed market overnight."""
        self._origin_real = None
        self._origin_sim = None
