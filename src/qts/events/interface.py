"""What a dispatcher shows the rest of the system: the ``Dispatcher`` protocol publishers and
subscribers depend on, what a handler is, the alerts and dead letters it reports to its owner and
the error raised once it is stopped. Apart from the dispatchers so that depending on the interface
does not mean depending on either implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from qts.core.errors import QtsError
from qts.events.event import Event
from qts.events.priority import EventPriority

Handler = Callable[[Event], object]

FS_P0_OVERFLOW = "FS110"
FS_P0_HANDLER_FAILED = "FS113"
GR_CRITICAL_ONLY = "GR090"


@dataclass(frozen=True, slots=True)
class Alert:
    """A fault or mode change for the owner (safety machine, notifications)."""

    code: str
    message: str
    priority: EventPriority | None = None
    event: Event | None = None


AlertSink = Callable[[Alert], None]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A P0 event one of whose handlers still failed after every retry."""

    event: Event
    handler: str
    error: str
    attempts: int


class DispatcherClosed(QtsError):
    """The dispatcher was stopped and accepts no more events."""


class Dispatcher(Protocol):
    """What publishers and subscribers depend on; both dispatchers implement it."""

    def subscribe(self, target: str | EventPriority, handler: Handler) -> None: ...

    def unsubscribe(self, target: str | EventPriority, handler: Handler) -> bool: ...

    def publish(self, event: Event) -> bool: ...

    def start(self) -> None: ...

    def stop(self, drain: bool = True, timeout: float | None = None) -> bool: ...

    def wait_idle(
        self, priority: EventPriority | None = None, timeout: float | None = None
    ) -> bool: ...

    def set_degradation(self, level: int) -> None: ...

    @property
    def degradation_level(self) -> int: ...

    def fill_ratios(self) -> dict[EventPriority, float]: ...

    def metrics(self) -> dict[str, Any]: ...
