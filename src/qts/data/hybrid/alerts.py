"""What the hybrid store tells an operator, and the per-target health that decides when to."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HybridAlert:
    """Something an operator should know: ``kind`` is unavailable, recovered or fallback_read."""

    kind: str
    target: str
    message: str

    def __str__(self) -> str:
        return self.message


AlertSink = Callable[[HybridAlert], None]


def log_alert(alert: HybridAlert) -> None:
    log.warning("%s", alert.message)


class TargetHealth:
    """A target's failures as this process saw them, for backoff and for alerting on changes."""

    def __init__(self, name: str, sink: AlertSink, base: float, cap: float) -> None:
        self.name = name
        self.sink = sink
        self.base = base
        self.cap = cap
        self.failures = 0
        self.retry_at = 0.0

    def failed(self, now: float, exc: BaseException, pending: int) -> None:
        self.failures += 1
        self.retry_at = now + min(self.cap, self.base * 2 ** (self.failures - 1))
        if self.failures == 1:
            emit_alert(
                self.sink,
                HybridAlert(
                    "unavailable",
                    self.name,
                    f"hybrid store: {self.name} failed ({exc}); its writes are kept in the "
                    f"outbox ({pending} pending) and retried",
                ),
            )

    def ok(self) -> None:
        if self.failures:
            self.failures = 0
            self.retry_at = 0.0
            emit_alert(
                self.sink,
                HybridAlert("recovered", self.name, f"hybrid store: {self.name} caught up again"),
            )

    def waiting(self, now: float) -> bool:
        return self.failures > 0 and now < self.retry_at


def emit_alert(sink: AlertSink, alert: HybridAlert) -> None:
    try:
        sink(alert)
    except Exception:  # an alert channel failing must not fail the write that raised it
        log.exception("hybrid store: alert callback failed for %s", alert.message)
