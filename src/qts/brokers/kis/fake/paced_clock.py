"""Simulated time that runs faster than real time, for ``qts sim serve``'s replay."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from qts.core.time import require_aware


class PacedClock:
    """Simulated time that runs ``speed`` times faster than real time; may jump forward."""

    def __init__(self, start: datetime, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._origin_sim = require_aware(start, "paced clock start")
        self._origin_real = time.monotonic()
        self.speed = speed
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._origin_real) * self.speed
            return self._origin_sim + timedelta(seconds=elapsed)

    def jump_to(self, ts: datetime) -> None:
        """Skip ahead (e.g. over a night); never backwards."""
        with self._lock:
            now = self._origin_sim + timedelta(
                seconds=(time.monotonic() - self._origin_real) * self.speed
            )
            if ts > now:
                self._origin_sim, self._origin_real = ts, time.monotonic()

    def seconds_until(self, ts: datetime) -> float:
        return max(0.0, (ts - self.now()).total_seconds() / self.speed)
