"""Stage 3 — AsyncSend (spec §2.4): one slice to the venue, at most 3 attempts.

An exception (timeout, connection) waits ``backoff`` and tries again; a venue refusal is
retried at once. The client order id is the slice's own, so a retry after an attempt whose
answer was lost finds the first order instead of opening a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from qts.brokers.base import Ack

MAX_ATTEMPTS = 3
BACKOFF = timedelta(milliseconds=100)
# venue refusals that no retry can change: stop at once
FINAL_CODES = frozenset({"UNKNOWN_SYMBOL", "INSUFFICIENT_CASH", "INSUFFICIENT_HOLDINGS"})


@dataclass(frozen=True, slots=True)
class SendOutcome:
    ack: Ack | None  # the accepting (or last refusing) answer; None after only exceptions
    attempts: int
    error: str = ""  # MAX_RETRIES_EXCEEDED, or the final refusal's code

    @property
    def sent(self) -> bool:
        return self.ack is not None and self.ack.accepted

    @property
    def transport_failed(self) -> bool:
        """Every attempt raised: the venue never answered."""
        return self.ack is None


def send_with_retry(
    attempt: Callable[[], Ack],
    sleep: Callable[[float], None],
    *,
    max_attempts: int = MAX_ATTEMPTS,
    backoff: timedelta = BACKOFF,
    on_error: Callable[[Exception], None] | None = None,
) -> SendOutcome:
    last: Ack | None = None
    for n in range(1, max_attempts + 1):
        try:
            ack = attempt()
        except Exception as exc:  # timeouts and connection errors: back off and retry
            if on_error is not None:
                on_error(exc)
            if n < max_attempts:
                sleep(backoff.total_seconds())
            continue
        if ack.accepted:
            return SendOutcome(ack, n)
        last = ack
        if ack.code in FINAL_CODES:
            return SendOutcome(ack, n, ack.code)
    return SendOutcome(last, max_attempts, "MAX_RETRIES_EXCEEDED")
