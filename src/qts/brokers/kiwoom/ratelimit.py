"""Client-side pacing: a token bucket per api-id and one for the whole app key.

A caller reserves one send time that fits every bucket that applies, under one lock, then
sleeps until it. Reservations are first come, first served, so concurrent callers are spaced,
never starved, and no request goes out faster than the buckets allow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from qts.brokers.kiwoom.config import RateLimit, RateLimits
from qts.brokers.kiwoom.errors import KiwoomReadInterrupted


class TokenBucket:
    """``rate`` requests per second, ``burst`` at once (GCRA: a theoretical arrival time).

    Not locked: the owner locks. ``earliest`` and ``commit`` are separate so that several
    buckets can agree on one send time before any of them records it.
    """

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.interval = 1.0 / limit.rate
        self.tolerance = (limit.burst - 1) * self.interval
        self._tat = now

    def earliest(self, now: float) -> float:
        """The first instant at or after ``now`` a request fits in the bucket."""
        return max(now, self._tat - self.tolerance)

    def commit(self, at: float) -> None:
        """Record a request sent at ``at``."""
        self._tat = max(self._tat, at) + self.interval


class RateLimiter:
    def __init__(
        self,
        limits: RateLimits,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._limits = limits
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        now = monotonic()
        self._overall = TokenBucket(limits.overall, now) if limits.overall else None
        self._per_api: dict[str, TokenBucket] = {}
        self.waited_s = 0.0

    def acquire(self, api_id: str, cancel: threading.Event | None = None) -> float:
        """Block until ``api_id`` may be sent; returns the seconds waited. A wait that ``cancel``
        ends raises :class:`KiwoomReadInterrupted` (the slot it reserved stays spent)."""
        with self._lock:
            now = self._monotonic()
            bucket = self._per_api.get(api_id)
            if bucket is None:
                bucket = self._per_api[api_id] = TokenBucket(self._limits.for_api(api_id), now)
            buckets = [bucket] if self._overall is None else [bucket, self._overall]
            at = max(b.earliest(now) for b in buckets)
            for b in buckets:
                b.commit(at)
            delay = at - now
            self.waited_s += delay
        if delay > 0:
            if cancel is None:
                self._sleep(delay)
            elif cancel.wait(delay):
                raise KiwoomReadInterrupted(
                    f"kiwoom {api_id}: read not sent, the run is stopping", api_id=api_id
                )
        return delay
