"""Fault injection for the KIS fake: switches a test flips from its own thread.

A fault matches requests by method and path prefix and fires ``count`` times. ``after=True``
means the fake processes the request first (an order really is placed) and only then answers
badly or late — the case where a client must look the order up instead of sending it again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(slots=True)
class Fault:
    path: str
    method: str | None
    count: int
    after: bool
    status: int = 0  # answer with this HTTP status (0: answer normally)
    delay_s: float = 0.0  # wait this long before answering
    drop: bool = False  # close the connection without an answer
    msg_cd: str = ""  # with a status: a KIS JSON envelope with this code, else a plain body

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and path.startswith(self.path)


class Faults:
    """Thread-safe list of pending faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.fired = 0

    def fail(
        self,
        path: str,
        *,
        status: int = 500,
        count: int = 1,
        after: bool = False,
        method: str | None = None,
        msg_cd: str = "",
    ) -> None:
        """Answer ``status`` (a plain-text 5xx unless ``msg_cd`` is given)."""
        self._add(Fault(path, method, count, after, status=status, msg_cd=msg_cd))

    def delay(
        self,
        path: str,
        seconds: float,
        *,
        count: int = 1,
        after: bool = True,
        method: str | None = None,
    ) -> None:
        """Answer ``seconds`` late (after processing, by default)."""
        self._add(Fault(path, method, count, after, delay_s=seconds))

    def drop(
        self, path: str, *, count: int = 1, after: bool = False, method: str | None = None
    ) -> None:
        """Close the TCP connection without answering."""
        self._add(Fault(path, method, count, after, drop=True))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str, after: bool) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.after == after and f.matches(method, path):
                    f.count -= 1
                    if f.count <= 0:
                        self._faults.remove(f)
                    self.fired += 1
                    return f
        return None

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)
