"""The operating-state machine: rules, hysteresis, manual override and the Safety interaction.

One writer owns the state: the trading process. An operator's override is written elsewhere as a
request (``qts state set``) and applied by :meth:`StateMachine.apply_override` at the next cycle,
as a recovery approval is. The machine is pure: it is given the time and the inputs, it never
reads a clock, and its status is a JSON document the caller persists.

Order of precedence at each evaluation:
1. Safety LOCKDOWN: nothing moves; the state is preserved and comes back on release, except
   AGGRESSIVE, which comes back as BALANCED.
2. Safety FAIL: DEFENSIVE at once, bypassing hysteresis; it also ends a manual override.
3. A manual override in force: rules are not evaluated; on expiry the state before it returns.
4. The rules, at most once per evaluation interval (an hour), fire after ``confirmations``
   evaluations in a row agree, once the minimum stay in the state and the cooldown have passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from qts.engines.state.profile import PROFILES, OperatingState, StateProfile
from qts.engines.state.rules import StateInputs, TransitionRules, candidate


class OverrideRefused(ValueError):
    """A manual override that cannot be applied (bad state, expiry in the past or too far)."""


@dataclass(frozen=True, slots=True)
class Override:
    state: OperatingState
    reason: str
    operator: str
    start: datetime
    until: datetime
    revert_to: OperatingState
    request_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "reason": self.reason,
            "operator": self.operator,
            "start": self.start.isoformat(),
            "until": self.until.isoformat(),
            "revert_to": self.revert_to.value,
            "request_id": self.request_id,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Override:
        return cls(
            OperatingState(d["state"]),
            str(d["reason"]),
            str(d["operator"]),
            datetime.fromisoformat(d["start"]),
            datetime.fromisoformat(d["until"]),
            OperatingState(d["revert_to"]),
            str(d.get("request_id", "")),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of operating state, as recorded in the history."""

    ts: datetime
    from_state: OperatingState
    to_state: OperatingState
    reason: str
    kind: str  # rule | forced | manual | override_expired | lockdown_release
    operator: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts.isoformat(),
            "from": self.from_state.value,
            "to": self.to_state.value,
            "reason": self.reason,
            "kind": self.kind,
            "operator": self.operator,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Transition:
        return cls(
            datetime.fromisoformat(d["ts"]),
            OperatingState(d["from"]),
            OperatingState(d["to"]),
            str(d["reason"]),
            str(d["kind"]),
            str(d.get("operator", "")),
        )


@dataclass(slots=True)
class StateStatus:
    """The persisted document (SystemStateContract plus the machine's counters)."""

    state: OperatingState
    since: datetime
    previous: OperatingState | None = None
    reason: str = "initial"
    last_transition: datetime | None = None
    pending: OperatingState | None = None
    confirmations: int = 0
    last_eval: datetime | None = None
    preserved: OperatingState | None = None
    override: Override | None = None
    applied_request: str = ""
    forced: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def manual_override(self) -> bool:
        return self.override is not None

    def to_json(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {
            "current_state": self.state.value,
            "previous_state": self.previous.value if self.previous else None,
            "transition_timestamp": iso(self.since),
            "transition_reason": self.reason,
            "manual_override": self.manual_override,
            "override_expiry": iso(self.override.until) if self.override else None,
            "override": self.override.to_json() if self.override else None,
            "last_transition": iso(self.last_transition),
            "pending": self.pending.value if self.pending else None,
            "confirmations": self.confirmations,
            "last_eval": iso(self.last_eval),
            "preserved": self.preserved.value if self.preserved else None,
            "applied_request": self.applied_request,
            "forced": self.forced,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StateStatus:
        def at(key: str) -> datetime | None:
            v = d.get(key)
            return datetime.fromisoformat(v) if v else None

        def st(key: str) -> OperatingState | None:
            v = d.get(key)
            return OperatingState(v) if v else None

        since = at("transition_timestamp")
        if since is None:
            raise ValueError("operating state document has no transition_timestamp")
        return cls(
            state=OperatingState(d["current_state"]),
            since=since,
            previous=st("previous_state"),
            reason=str(d.get("transition_reason", "")),
            last_transition=at("last_transition"),
            pending=st("pending"),
            confirmations=int(d.get("confirmations", 0)),
            last_eval=at("last_eval"),
            preserved=st("preserved"),
            override=Override.from_json(d["override"]) if d.get("override") else None,
            applied_request=str(d.get("applied_request", "")),
            forced=int(d.get("forced", 0)),
            extra=dict(d.get("extra") or {}),
        )


class StateMachine:
    def __init__(self, status: StateStatus, rules: TransitionRules | None = None) -> None:
        self.status = status
        self.rules = rules or TransitionRules()

    @classmethod
    def start(
        cls, state: OperatingState, ts: datetime, rules: TransitionRules | None = None
    ) -> StateMachine:
        return cls(StateStatus(state=state, since=ts), rules)

    @property
    def state(self) -> OperatingState:
        return self.status.state

    @property
    def profile(self) -> StateProfile:
        return PROFILES[self.status.state]

    def days_in_state(self, ts: datetime) -> float:
        return (ts - self.status.since).total_seconds() / 86_400

    def can_transition(self, ts: datetime) -> bool:
        """Hysteresis for rule transitions: the minimum stay and the cooldown have passed."""
        s, r = self.status, self.rules
        if self.days_in_state(ts) < r.min_days(s.state):
            return False
        last = s.last_transition
        return last is None or ts - last >= timedelta(hours=r.cooldown_hours)

    def _move(
        self, to: OperatingState, ts: datetime, reason: str, kind: str, operator: str = ""
    ) -> Transition:
        s = self.status
        t = Transition(ts, s.state, to, reason, kind, operator)
        s.previous, s.state, s.since, s.reason = s.state, to, ts, reason
        s.last_transition = ts
        s.pending, s.confirmations = None, 0
        if kind == "forced":
            s.forced += 1
        return t

    def evaluate(self, x: StateInputs) -> list[Transition]:
        """Apply one cycle's inputs; returns the transitions made (usually none)."""
        s, ts = self.status, x.ts
        out: list[Transition] = []
        S = OperatingState
        if x.safety == "LOCKDOWN":
            if s.preserved is None:
                s.preserved = s.state
            s.pending, s.confirmations = None, 0
            return out
        if s.preserved is not None:
            back = S.BALANCED if s.preserved is S.AGGRESSIVE else s.preserved
            s.preserved = None
            if back is not s.state:
                out.append(self._move(back, ts, "LOCKDOWN_RELEASED", "lockdown_release"))
        if x.safety == "FAIL":
            reason = "SAFETY_FAIL"
            if s.override is not None:
                reason += f" (ends the manual override to {s.override.state})"
                s.override = None
            if s.state is not S.DEFENSIVE:
                out.append(self._move(S.DEFENSIVE, ts, reason, "forced"))
            return out
        if s.override is not None:
            if ts < s.override.until:
                return out
            ov, s.override = s.override, None
            if ov.revert_to is not s.state:
                out.append(
                    self._move(
                        ov.revert_to,
                        ts,
                        f"OVERRIDE_EXPIRED (was {ov.state} until {ov.until.isoformat()})",
                        "override_expired",
                    )
                )
            s.last_eval = None
        if s.last_eval is not None and ts < s.last_eval + timedelta(
            minutes=self.rules.evaluation_minutes
        ):
            return out
        s.last_eval = ts
        found = candidate(s.state, x, self.rules, self.days_in_state(ts))
        if found is None:
            s.pending, s.confirmations = None, 0
            return out
        to, why = found
        if s.pending is to:
            s.confirmations += 1
        else:
            s.pending, s.confirmations = to, 1
        if s.confirmations >= self.rules.confirmations and self.can_transition(ts):
            out.append(self._move(to, ts, "; ".join(why), "rule"))
        return out

    def apply_override(
        self,
        state: OperatingState,
        until: datetime,
        reason: str,
        operator: str,
        ts: datetime,
        request_id: str = "",
    ) -> Transition:
        """Put the state to ``state`` until ``until`` (at most ``max_override_days`` ahead)."""
        limit = ts + timedelta(days=self.rules.max_override_days)
        if until <= ts:
            raise OverrideRefused(f"override expiry {until.isoformat()} is not in the future")
        if until > limit:
            raise OverrideRefused(
                f"override expiry {until.isoformat()} is more than "
                f"{self.rules.max_override_days:g} days ahead"
            )
        if not reason.strip():
            raise OverrideRefused("an override needs a reason")
        s = self.status
        revert = s.override.revert_to if s.override else s.state
        s.override = Override(state, reason, operator, ts, until, revert, request_id)
        s.applied_request = request_id or s.applied_request
        return self._move(
            state, ts, f"MANUAL_OVERRIDE until {until.isoformat()}: {reason}", "manual", operator
        )

    def snapshot(self) -> StateStatus:
        return replace(self.status, extra=dict(self.status.extra))
