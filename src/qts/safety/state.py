"""The safety state machine: NORMAL → WARNING → FAIL → LOCKDOWN (decisions.md, legacy-core §7.3).

- An anomaly moves NORMAL to WARNING; a clean cycle moves WARNING back to NORMAL.
- A guardrail is recorded; it limits the order that hit it but does not change the state.
- A fail-safe moves NORMAL or WARNING to FAIL. Two cycles in a row with a fail-safe, three broker
  failures in a row, three broker errors within five minutes, or a LOCKDOWN code (FS080, FS104)
  move to LOCKDOWN.
- FAIL clears by itself when one whole cycle passes without a fail-safe.
- LOCKDOWN clears only by an operator's approval, which is recorded.

Pure: it never reads the clock; callers pass the time of every event.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from qts.safety.codes import Action, Severity, lookup


class SafetyState(StrEnum):
    NORMAL = "NORMAL"
    WARNING = "WARNING"
    FAIL = "FAIL"
    LOCKDOWN = "LOCKDOWN"

    @property
    def trading_allowed(self) -> bool:
        return self in (SafetyState.NORMAL, SafetyState.WARNING)


@dataclass(frozen=True, slots=True)
class SafetyPolicy:
    lockdown_after_fail_cycles: int = 2
    lockdown_after_broker_failures: int = 3
    broker_error_window: timedelta = timedelta(minutes=5)
    broker_errors_in_window: int = 3


@dataclass(frozen=True, slots=True)
class SafetyEvent:
    """One line of the safety history."""

    ts: datetime
    kind: str  # code | clean_cycle | recovery_requested | recovery | restart
    code: str
    message: str
    state_before: SafetyState
    state_after: SafetyState
    operator: str = ""

    @property
    def transition(self) -> bool:
        return self.state_before is not self.state_after


@dataclass(slots=True)
class SafetyStatus:
    """Everything the machine needs to survive a restart."""

    state: SafetyState = SafetyState.NORMAL
    since: datetime | None = None
    fail_cycles: int = 0
    last_code: str = ""
    last_message: str = ""
    broker_failures: int = 0
    broker_errors: deque[datetime] = field(default_factory=lambda: deque(maxlen=16))
    flatten_requested: bool = False
    applied_request: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "since": self.since.isoformat() if self.since else None,
            "fail_cycles": self.fail_cycles,
            "last_code": self.last_code,
            "last_message": self.last_message,
            "broker_failures": self.broker_failures,
            "broker_errors": [t.isoformat() for t in self.broker_errors],
            "flatten_requested": self.flatten_requested,
            "applied_request": self.applied_request,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SafetyStatus:
        return cls(
            state=SafetyState(data["state"]),
            since=datetime.fromisoformat(data["since"]) if data.get("since") else None,
            fail_cycles=int(data.get("fail_cycles", 0)),
            last_code=str(data.get("last_code", "")),
            last_message=str(data.get("last_message", "")),
            broker_failures=int(data.get("broker_failures", 0)),
            broker_errors=deque(
                (datetime.fromisoformat(t) for t in data.get("broker_errors", [])), maxlen=16
            ),
            flatten_requested=bool(data.get("flatten_requested", False)),
            applied_request=str(data.get("applied_request", "")),
        )


class RecoveryRefused(Exception):
    """Recovery was asked for in a state that does not need it, or without an operator."""


class SafetyMachine:
    def __init__(self, status: SafetyStatus | None = None, policy: SafetyPolicy | None = None):
        self.status = status or SafetyStatus()
        self.policy = policy or SafetyPolicy()
        self._fail_safe_this_cycle = False
        self._anomaly_this_cycle = False

    @property
    def state(self) -> SafetyState:
        return self.status.state

    @property
    def trading_allowed(self) -> bool:
        return self.status.state.trading_allowed

    def _move(self, to: SafetyState, ts: datetime) -> None:
        if to is not self.status.state:
            self.status.state = to
            self.status.since = ts
        if to is SafetyState.NORMAL:
            self.status.fail_cycles = 0

    def _event(
        self,
        ts: datetime,
        kind: str,
        code: str,
        message: str,
        before: SafetyState,
        operator: str = "",
    ) -> SafetyEvent:
        return SafetyEvent(ts, kind, code, message, before, self.status.state, operator)

    # --- reports -----------------------------------------------------------------------------

    def report(self, code: str, message: str, ts: datetime) -> SafetyEvent:
        """Record a safety code and make the transition its severity forces."""
        sc = lookup(code)
        before = self.status.state
        st = self.status
        st.last_code, st.last_message = code, message
        if sc.is_broker_error:
            st.broker_failures += 1
            st.broker_errors.append(ts)
        if before is SafetyState.LOCKDOWN:
            return self._event(ts, "code", code, message, before)
        if sc.severity is Severity.LOCKDOWN:
            st.flatten_requested = sc.action is Action.FLATTEN_AND_LOCKDOWN
            self._move(SafetyState.LOCKDOWN, ts)
        elif sc.severity is Severity.FAIL_SAFE:
            if not self._fail_safe_this_cycle:
                self._fail_safe_this_cycle = True
                st.fail_cycles += 1
            escalate = st.fail_cycles >= self.policy.lockdown_after_fail_cycles
            escalate |= self._broker_escalation(ts)
            self._move(SafetyState.LOCKDOWN if escalate else SafetyState.FAIL, ts)
        elif sc.severity is Severity.ANOMALY:
            self._anomaly_this_cycle = True
            if before is SafetyState.NORMAL:
                self._move(SafetyState.WARNING, ts)
        return self._event(ts, "code", code, message, before)

    def _broker_escalation(self, ts: datetime) -> bool:
        p, st = self.policy, self.status
        if st.broker_failures >= p.lockdown_after_broker_failures:
            return True
        recent = [t for t in st.broker_errors if ts - t <= p.broker_error_window]
        return len(recent) >= p.broker_errors_in_window

    def broker_ok(self) -> None:
        """A broker call succeeded: the run of consecutive broker failures is broken."""
        self.status.broker_failures = 0

    # --- cycles ------------------------------------------------------------------------------

    def begin_cycle(self) -> None:
        """Nothing to reset: a report that arrives between two cycles (from the micro risk loop
        or the fill handler) belongs to the next cycle, which then is not clean."""

    def end_cycle(self, ts: datetime) -> SafetyEvent | None:
        """A cycle finished; without a fail-safe it clears FAIL, without an anomaly WARNING."""
        try:
            return self._end_cycle(ts)
        finally:
            self._fail_safe_this_cycle = False
            self._anomaly_this_cycle = False

    def _end_cycle(self, ts: datetime) -> SafetyEvent | None:
        before = self.status.state
        if (before is SafetyState.FAIL and not self._fail_safe_this_cycle) or (
            before is SafetyState.WARNING
            and not (self._anomaly_this_cycle or self._fail_safe_this_cycle)
        ):
            self._move(SafetyState.NORMAL, ts)
        elif before is SafetyState.NORMAL and not self._fail_safe_this_cycle:
            self.status.fail_cycles = 0
        if self.status.state is before:
            return None
        return self._event(ts, "clean_cycle", "", "one clean cycle passed", before)

    # --- operator ----------------------------------------------------------------------------

    def approve_recovery(
        self, operator: str, reason: str, ts: datetime, request_id: str = ""
    ) -> SafetyEvent:
        if not operator.strip():
            raise RecoveryRefused("recovery needs the operator's name")
        if self.status.state is not SafetyState.LOCKDOWN:
            raise RecoveryRefused(f"state is {self.status.state}, not LOCKDOWN: nothing to recover")
        before = self.status.state
        self.status.flatten_requested = False
        self.status.applied_request = request_id
        self.status.broker_failures = 0
        self.status.broker_errors.clear()
        self._move(SafetyState.NORMAL, ts)
        return self._event(
            ts, "recovery", "", reason or "operator approved recovery", before, operator
        )
