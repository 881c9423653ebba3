"""The circuit breaker around the cache (spec §7.5): 5 consecutive failures open it for 60 s,
then one half-open probe decides: success closes it, failure opens it for another 60 s.

It runs on the engine's :class:`Clock`, so a test (or a simulated run) moves time instead of
sleeping. State changes are reported to ``on_change`` (the manager raises the alert there).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from qts.core.clock import Clock

FAILURE_THRESHOLD = 5
RECOVERY_TIMEOUT = timedelta(seconds=60)


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class CircuitBreaker:
    def __init__(
        self,
        clock: Clock,
        *,
        failure_threshold: int = FAILURE_THRESHOLD,
        recovery_timeout: timedelta = RECOVERY_TIMEOUT,
        on_change: Callable[[BreakerState, BreakerState, str], None] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure threshold must be ≥ 1, got {failure_threshold}")
        self.clock = clock
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at: datetime | None = None
        self._probing = False
        self.opened = 0  # how many times it opened

    @property
    def state(self) -> BreakerState:
        return self._state  # one attribute read: the lock would add nothing

    def _closed(self) -> bool:
        return self._state is BreakerState.CLOSED

    @property
    def failures(self) -> int:
        with self._lock:
            return self._failures

    def allow(self) -> bool:
        """May this call use the cache? Open: no, until the timeout passes; then exactly one
        caller gets the half-open probe and the others keep using the store."""
        if self._closed():  # the usual case, read once without the lock
            return True
        change: tuple[BreakerState, BreakerState, str] | None = None
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.OPEN:
                assert self._opened_at is not None
                if self.clock.now() - self._opened_at < self.recovery_timeout:
                    return False
                self._state = BreakerState.HALF_OPEN
                self._probing = False
                change = (BreakerState.OPEN, BreakerState.HALF_OPEN, "recovery timeout passed")
            allowed = not self._probing
            self._probing = True
        if change is not None:
            self._notify(*change)
        return allowed

    def success(self) -> None:
        if self._failures == 0 and self._state is BreakerState.CLOSED:
            return  # nothing to reset: the same as taking the lock and changing nothing
        change: tuple[BreakerState, BreakerState, str] | None = None
        with self._lock:
            self._failures = 0
            if self._state is not BreakerState.CLOSED:
                change = (self._state, BreakerState.CLOSED, "probe succeeded")
                self._state = BreakerState.CLOSED
                self._probing = False
                self._opened_at = None
        if change is not None:
            self._notify(*change)

    def failure(self, reason: str) -> None:
        change: tuple[BreakerState, BreakerState, str] | None = None
        with self._lock:
            self._failures += 1
            before = self._state
            if before is BreakerState.HALF_OPEN or (
                before is BreakerState.CLOSED and self._failures >= self.failure_threshold
            ):
                self._state = BreakerState.OPEN
                self._opened_at = self.clock.now()
                self._probing = False
                self.opened += 1
                change = (before, BreakerState.OPEN, reason)
        if change is not None:
            self._notify(*change)

    def _notify(self, before: BreakerState, after: BreakerState, reason: str) -> None:
        if self.on_change is not None:
            self.on_change(before, after, reason)
