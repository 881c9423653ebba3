"""Fault injection for the fake Kiwoom server: scheduled per api-id, taken in order."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum


class FaultKind(StrEnum):
    HTTP_ERROR = "HTTP_ERROR"  # answer with ``status`` (default 500) and a non-JSON body
    DELAY = "DELAY"  # wait ``seconds`` (the client may time out)
    HOLD = "HOLD"  # wait until the test calls ``release()`` (at most ``seconds``, if set)
    DROP = "DROP"  # close the connection without an answer
    RATE_LIMIT = "RATE_LIMIT"  # answer as if the request limit were exceeded
    TOKEN_INVALID = "TOKEN_INVALID"  # noqa: S105 - answer 8005 whatever the token


class When(StrEnum):
    BEFORE = "BEFORE"  # before the request is acted on: nothing happened at the venue
    AFTER = "AFTER"  # after it was acted on: an order exists, only the answer is lost


@dataclass(slots=True)
class Fault:
    kind: FaultKind
    api_id: str = "*"
    when: When = When.BEFORE
    seconds: float = 0.0
    status: int = 500
    times: int = 1
    released: threading.Event = field(default_factory=threading.Event)
    reached: threading.Event = field(default_factory=threading.Event)  # a request is held

    def release(self) -> None:
        """Let the held request(s) of a HOLD fault go on."""
        self.released.set()


class FaultPlan:
    """Faults waiting for requests. Thread-safe: tests add, the server's loop takes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.applied: list[tuple[str, FaultKind, When]] = []

    def add(
        self,
        kind: FaultKind,
        api_id: str = "*",
        *,
        when: When = When.BEFORE,
        seconds: float = 0.0,
        status: int = 500,
        times: int = 1,
    ) -> Fault:
        fault = Fault(kind, api_id, when, seconds, status, times)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, api_id: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.api_id in ("*", api_id):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    self.applied.append((api_id, fault.kind, fault.when))
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> int:
        with self._lock:
            return sum(f.times for f in self._faults)
