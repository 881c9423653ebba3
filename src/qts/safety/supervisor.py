"""The safety supervisor: the state machine with its memory and its voice.

Every report goes through here: the machine decides the state, the store keeps the state and the
history (so a restart in LOCKDOWN stays in LOCKDOWN), the notifiers tell people. An operator's
recovery approval is written by another process (``qts safety approve-recovery``) as a request
that the trading process applies at its next cycle: one writer owns the state.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

from qts.core.clock import Clock
from qts.core.locks import SAFETY, OrderedLock
from qts.data.ports import SafetyEventRecord
from qts.safety.codes import Severity, lookup
from qts.safety.notifier import Notifier
from qts.safety.state import (
    RecoveryRefused,
    SafetyEvent,
    SafetyMachine,
    SafetyPolicy,
    SafetyState,
    SafetyStatus,
)

log = logging.getLogger(__name__)
STATE_KEY = "safety"
REQUEST_KEY = "safety_recovery_request"


class SafetyStore(Protocol):
    """What the supervisor needs from the data layer (every TradingStore provides it)."""

    def save_state(self, key: str, value: dict[str, Any]) -> None: ...

    def load_state(self, key: str) -> dict[str, Any] | None: ...

    def record_safety_event(self, event: SafetyEventRecord) -> None: ...

    def load_safety_events(self, limit: int | None = None) -> list[SafetyEventRecord]: ...


def to_record(e: SafetyEvent) -> SafetyEventRecord:
    return SafetyEventRecord(
        e.ts, e.kind, e.code, e.message, e.state_before.value, e.state_after.value, e.operator
    )


def from_record(r: SafetyEventRecord) -> SafetyEvent:
    return SafetyEvent(
        r.ts,
        r.kind,
        r.code,
        r.message,
        SafetyState(r.state_before),
        SafetyState(r.state_after),
        r.operator,
    )


F = TypeVar("F", bound=Callable[..., Any])


def _locked(method: F) -> F:
    """Reports come from the ETEDA loop, the P0 handler and the micro risk loop."""

    @functools.wraps(method)
    def wrapper(self: SafetySupervisor, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return cast(F, wrapper)


class SafetySupervisor:
    def __init__(
        self,
        store: SafetyStore,
        clock: Clock,
        notifiers: Sequence[Notifier] = (),
        policy: SafetyPolicy | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.notifiers = list(notifiers)
        self._lock = OrderedLock("safety supervisor", SAFETY)  # after the order manager's
        saved = store.load_state(STATE_KEY)
        status = SafetyStatus.from_json(saved) if saved else SafetyStatus(since=clock.now())
        self.machine = SafetyMachine(status, policy)
        self._seen_this_cycle: set[str] = set()
        if saved:
            state = status.state
            self._record(
                SafetyEvent(
                    clock.now(), "restart", status.last_code, f"restarted in {state}", state, state
                ),
                notify=state is not SafetyState.NORMAL,
            )
        self.apply_recovery_request()

    # --- state -------------------------------------------------------------------------------

    @property
    def state(self) -> SafetyState:
        return self.machine.state

    @property
    def trading_allowed(self) -> bool:
        return self.machine.trading_allowed

    @property
    def status(self) -> SafetyStatus:
        return self.machine.status

    def _save(self) -> None:
        self.store.save_state(STATE_KEY, self.machine.status.to_json())

    def _record(self, event: SafetyEvent, notify: bool = True) -> None:
        self.store.record_safety_event(to_record(event))
        if notify:
            for n in self.notifiers:
                try:
                    n.notify(event)
                except Exception:  # a notifier must never stop trading
                    log.exception("safety notifier %s failed", type(n).__name__)

    # --- reporting ---------------------------------------------------------------------------

    @_locked
    def report(self, code: str, message: str) -> SafetyEvent:
        """Record a code. Guardrails are kept once per cycle and code; everything else always."""
        sc = lookup(code)
        event = self.machine.report(code, message, self.clock.now())
        if sc.severity is Severity.GUARDRAIL:
            if code in self._seen_this_cycle:
                return event
            self._seen_this_cycle.add(code)
        self._save()
        self._record(event, notify=sc.severity is not Severity.GUARDRAIL or event.transition)
        return event

    @_locked
    def broker_ok(self) -> None:
        if self.machine.status.broker_failures:
            self.machine.broker_ok()
            self._save()

    @_locked
    def begin_cycle(self) -> None:
        self._seen_this_cycle.clear()
        self.machine.begin_cycle()
        self.apply_recovery_request()

    @_locked
    def end_cycle(self) -> SafetyEvent | None:
        event = self.machine.end_cycle(self.clock.now())
        if event is not None:
            self._save()
            self._record(event)
        return event

    # --- operator ----------------------------------------------------------------------------

    @_locked
    def apply_recovery_request(self) -> SafetyEvent | None:
        request = self.store.load_state(REQUEST_KEY)
        if not request or request.get("id") == self.machine.status.applied_request:
            return None
        try:
            event = self.machine.approve_recovery(
                str(request.get("operator", "")),
                str(request.get("reason", "")),
                self.clock.now(),
                str(request["id"]),
            )
        except RecoveryRefused as exc:
            self.machine.status.applied_request = str(request["id"])
            self._save()
            log.warning("recovery request %s not applied: %s", request["id"], exc)
            return None
        self._save()
        self._record(event)
        return event

    def history(self, limit: int | None = None) -> list[SafetyEvent]:
        return [from_record(r) for r in self.store.load_safety_events(limit)]


def request_recovery(store: SafetyStore, operator: str, reason: str, ts: datetime) -> str:
    """Record an operator's approval to leave LOCKDOWN; the trading process applies it."""
    if not operator.strip():
        raise RecoveryRefused("recovery needs the operator's name (--operator)")
    saved = store.load_state(STATE_KEY)
    status = SafetyStatus.from_json(saved) if saved else SafetyStatus()
    if status.state is not SafetyState.LOCKDOWN:
        raise RecoveryRefused(f"state is {status.state}, not LOCKDOWN: nothing to recover")
    request_id = uuid.uuid4().hex
    store.save_state(
        REQUEST_KEY,
        {"id": request_id, "operator": operator, "reason": reason, "ts": ts.isoformat()},
    )
    store.record_safety_event(
        to_record(
            SafetyEvent(
                ts,
                "recovery_requested",
                status.last_code,
                reason or "operator approved recovery",
                status.state,
                status.state,
                operator,
            )
        )
    )
    return request_id
