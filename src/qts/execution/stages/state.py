"""The execution state machine of one scalp order (spec §2.8) and its stage watchdogs.

Only the table's transitions are legal; ESCAPING is reachable from every non-terminal state and
nothing leaves a terminal state. The diagram's extra ADJUSTING → FAILED and ESCAPING → FAILED
are not in the table and stay illegal (ADR 0008): an order still unfilled after the last
adjustment escapes (cancel the rest; flatten what the symbol holds, if anything).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from qts.core.errors import IllegalTransition


class ExecState(StrEnum):
    INIT = "INIT"
    PRECHECK = "PRECHECK"
    SPLITTING = "SPLITTING"
    SENDING = "SENDING"
    MONITORING = "MONITORING"
    ADJUSTING = "ADJUSTING"
    ESCAPING = "ESCAPING"
    COMPLETE = "COMPLETE"
    ESCAPED = "ESCAPED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


E = ExecState
TERMINAL = frozenset({E.COMPLETE, E.ESCAPED, E.FAILED})
TRANSITIONS: dict[ExecState, frozenset[ExecState]] = {
    E.INIT: frozenset({E.PRECHECK, E.ESCAPING}),
    E.PRECHECK: frozenset({E.SPLITTING, E.FAILED, E.ESCAPING}),
    E.SPLITTING: frozenset({E.SENDING, E.FAILED, E.ESCAPING}),
    E.SENDING: frozenset({E.MONITORING, E.FAILED, E.ESCAPING}),
    E.MONITORING: frozenset({E.COMPLETE, E.ADJUSTING, E.ESCAPING}),
    E.ADJUSTING: frozenset({E.MONITORING, E.ESCAPING}),
    E.ESCAPING: frozenset({E.ESCAPED}),
    E.COMPLETE: frozenset(),
    E.ESCAPED: frozenset(),
    E.FAILED: frozenset(),
}

# stage watchdogs (§12.6 #44)
WATCHDOG: dict[ExecState, timedelta] = {
    E.PRECHECK: timedelta(seconds=5),
    E.SPLITTING: timedelta(seconds=1),
    E.SENDING: timedelta(seconds=10),
    E.MONITORING: timedelta(seconds=60),
    E.ADJUSTING: timedelta(seconds=30),
    E.ESCAPING: timedelta(seconds=30),
}
# where a stage's watchdog sends the execution: MONITORING → ADJUSTING, ADJUSTING → ESCAPING,
# every other stage → FAILED (ESCAPING itself can only finish: a stuck escape is reported and
# closed as ESCAPED so it never blocks the symbol; its orders stay with the order manager)
ON_TIMEOUT: dict[ExecState, ExecState] = {
    E.PRECHECK: E.FAILED,
    E.SPLITTING: E.FAILED,
    E.SENDING: E.FAILED,
    E.MONITORING: E.ADJUSTING,
    E.ADJUSTING: E.ESCAPING,
    E.ESCAPING: E.ESCAPED,
}


def can_move(current: ExecState, target: ExecState) -> bool:
    return target in TRANSITIONS[current]


@dataclass(slots=True)
class ExecutionStateMachine:
    """Current state, when it was entered, and the path so far (for logs and tests)."""

    execution_id: str
    state: ExecState = ExecState.INIT
    entered_at: datetime | None = None
    history: list[tuple[ExecState, datetime]] = field(default_factory=list)

    def move(self, target: ExecState, now: datetime) -> None:
        if not can_move(self.state, target):
            raise IllegalTransition("execution", self.execution_id, self.state, target)
        self.state = target
        self.entered_at = now
        self.history.append((target, now))

    def escape(self, now: datetime) -> bool:
        """Enter ESCAPING if the execution is still live; False when it already ended or is
        escaping (an escape is never started twice)."""
        if self.state.is_terminal or self.state is ExecState.ESCAPING:
            return False
        self.move(ExecState.ESCAPING, now)
        return True

    def deadline(self, limits: dict[ExecState, timedelta] | None = None) -> datetime | None:
        """When the current stage's watchdog fires (None in INIT and terminal states)."""
        limit = (limits or WATCHDOG).get(self.state)
        if limit is None or self.entered_at is None:
            return None
        return self.entered_at + limit

    def expired(self, now: datetime, limits: dict[ExecState, timedelta] | None = None) -> bool:
        due = self.deadline(limits)
        return due is not None and now >= due
