"""§12.7 oracles 53, 54, 56: transition rules, hysteresis, Safety, manual override."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qts.core.time import KST
from qts.engines.state.machine import OverrideRefused, StateMachine, StateStatus
from qts.engines.state.profile import OperatingState
from qts.engines.state.rules import (
    StateInputs,
    TransitionRules,
    to_aggressive_from_balanced,
    to_balanced_from_aggressive,
    to_balanced_from_defensive,
    to_defensive_from_balanced,
)

A, B, D = OperatingState.AGGRESSIVE, OperatingState.BALANCED, OperatingState.DEFENSIVE
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=KST)
R = TransitionRules()
H = timedelta(hours=1)


def x(ts: datetime = T0, **kw: object) -> StateInputs:
    return StateInputs(ts=ts, **kw)  # type: ignore[arg-type]


CALM = dict(drawdown=0.0, vol_index=18.0, profitable_days=5, safety="NORMAL")


# --- oracle 53: the rules ---------------------------------------------------------------------


def test_aggressive_to_balanced_on_any_condition() -> None:
    assert to_balanced_from_aggressive(x(drawdown=0.06), R)  # the doc's oracle
    assert not to_balanced_from_aggressive(x(drawdown=0.05), R)
    assert to_balanced_from_aggressive(x(vol_index=25.1), R)
    assert not to_balanced_from_aggressive(x(vol_index=25.0), R)
    assert to_balanced_from_aggressive(x(scalp_loss_streak=6), R)
    assert not to_balanced_from_aggressive(x(scalp_loss_streak=5), R)
    assert to_balanced_from_aggressive(x(daily_loss=0.021), R)
    assert not to_balanced_from_aggressive(x(daily_loss=0.02), R)


def test_balanced_to_defensive_on_any_condition() -> None:
    assert to_defensive_from_balanced(x(vol_index=35), R)  # the doc's oracle
    assert to_defensive_from_balanced(x(drawdown=0.11), R)
    assert not to_defensive_from_balanced(x(drawdown=0.10, vol_index=30), R)
    assert to_defensive_from_balanced(x(circuit_breaker=True), R)
    assert to_defensive_from_balanced(x(safety="WARNING"), R)
    assert to_defensive_from_balanced(x(safety="FAIL"), R)
    assert not to_defensive_from_balanced(x(safety="NORMAL"), R)


def test_defensive_to_balanced_needs_all_conditions() -> None:
    assert to_balanced_from_defensive(x(drawdown=0.04, vol_index=19, profitable_days=3), R, 5)
    for bad, days in (
        (dict(drawdown=0.05, vol_index=19, profitable_days=3), 5),
        (dict(drawdown=0.04, vol_index=20, profitable_days=3), 5),
        (dict(drawdown=0.04, vol_index=None, profitable_days=3), 5),
        (dict(drawdown=0.04, vol_index=19, profitable_days=2), 5),
        (dict(drawdown=0.04, vol_index=19, profitable_days=3, safety="WARNING"), 5),
        (dict(drawdown=0.04, vol_index=19, profitable_days=3), 4.9),
    ):
        assert not to_balanced_from_defensive(x(**bad), R, days)


def test_a_run_without_any_index_recovers_on_the_other_conditions() -> None:
    """Unknown (a feed that has no value yet) blocks recovery; no index at all does not."""
    calm = dict(drawdown=0.04, vol_index=None, profitable_days=3)
    assert not to_balanced_from_defensive(x(**calm), R, 5)
    (why,) = to_balanced_from_defensive(x(**calm, has_vol_index=False), R, 5)
    assert "no vol index" in why
    for bad, days in (
        (dict(drawdown=0.05, profitable_days=3), 5),
        (dict(drawdown=0.04, profitable_days=2), 5),
        (dict(drawdown=0.04, profitable_days=3, safety="WARNING"), 5),
        (dict(drawdown=0.04, profitable_days=3), 4.9),
    ):
        assert not to_balanced_from_defensive(x(**bad, has_vol_index=False), R, days)
    # a level that is there still counts, whatever the flag says
    assert not to_balanced_from_defensive(x(**{**calm, "vol_index": 20}, has_vol_index=False), R, 5)
    good = dict(cagr=0.2, growth=0.11, win_rate_30d=0.61)
    assert not to_aggressive_from_balanced(x(**good), R, 10)
    assert to_aggressive_from_balanced(x(**good, has_vol_index=False), R, 10)


def test_balanced_to_aggressive_needs_all_conditions() -> None:
    good = dict(cagr=0.2, vol_index=14, growth=0.11, win_rate_30d=0.61)
    assert to_aggressive_from_balanced(x(**good), R, 10)
    assert not to_aggressive_from_balanced(x(**good), R, 9.9)
    for key, bad in (("cagr", 0.15), ("vol_index", 15), ("growth", 0.10), ("win_rate_30d", 0.6)):
        assert not to_aggressive_from_balanced(x(**{**good, key: bad}), R, 10)


# --- oracle 54: hysteresis and Safety -------------------------------------------------------


def test_minimum_stay_blocks_a_transition_after_2_days() -> None:
    m = StateMachine.start(A, T0)
    assert not m.can_transition(T0 + timedelta(days=2))
    assert m.can_transition(T0 + timedelta(days=7))
    for state, days in ((B, 5), (D, 3)):
        m = StateMachine.start(state, T0)
        assert not m.can_transition(T0 + timedelta(days=days) - H)
        assert m.can_transition(T0 + timedelta(days=days))


def test_two_consecutive_hourly_confirmations() -> None:
    m = StateMachine.start(B, T0 - timedelta(days=30))
    assert m.evaluate(x(T0, vol_index=35)) == []  # first confirmation
    assert m.evaluate(x(T0 + 30 * 60 * timedelta(seconds=1), vol_index=35)) == []  # not an hour
    (t,) = m.evaluate(x(T0 + H, vol_index=35))  # second, an hour later
    assert (t.from_state, t.to_state, t.kind) == (B, D, "rule")
    assert m.state is D


def test_a_broken_streak_starts_over() -> None:
    m = StateMachine.start(B, T0 - timedelta(days=30))
    m.evaluate(x(T0, vol_index=35))
    m.evaluate(x(T0 + H, vol_index=20))  # condition gone
    assert m.evaluate(x(T0 + 2 * H, vol_index=35)) == []
    assert m.evaluate(x(T0 + 3 * H, vol_index=35))


def test_cooldown_of_24_hours_after_a_transition() -> None:
    rules = TransitionRules(min_days_defensive=0, recovery_min_days=0, confirmations=1)
    m = StateMachine.start(B, T0 - timedelta(days=30), rules)
    assert m.evaluate(x(T0, vol_index=35))
    assert m.evaluate(x(T0 + H, **CALM)) == []  # would recover, but the cooldown holds
    assert m.evaluate(x(T0 + 23 * H, **CALM)) == []
    (t,) = m.evaluate(x(T0 + 24 * H, **CALM))
    assert t.to_state is B


def test_safety_fail_forces_defensive_at_once() -> None:
    m = StateMachine.start(A, T0)  # minimum stay not met, no confirmation yet
    (t,) = m.evaluate(x(T0 + H, safety="FAIL"))
    assert (t.to_state, t.kind) == (D, "forced")
    assert m.status.forced == 1


def test_lockdown_preserves_the_state_and_aggressive_returns_as_balanced() -> None:
    m = StateMachine.start(A, T0)
    assert m.evaluate(x(T0 + H, safety="LOCKDOWN", drawdown=0.5)) == []
    assert m.state is A
    (t,) = m.evaluate(x(T0 + 2 * H, safety="NORMAL"))
    assert (t.from_state, t.to_state, t.kind) == (A, B, "lockdown_release")
    m = StateMachine.start(D, T0)
    m.evaluate(x(T0 + H, safety="LOCKDOWN"))
    assert m.evaluate(x(T0 + 2 * H, safety="NORMAL")) == [] and m.state is D


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 30),  # hours forward
            st.floats(0, 0.3),  # drawdown
            st.one_of(st.none(), st.floats(5, 60)),  # vol index
            st.sampled_from(["NORMAL", "WARNING", "FAIL", "LOCKDOWN"]),
        ),
        max_size=60,
    )
)
def test_every_rule_transition_respects_hysteresis(steps: list) -> None:  # type: ignore[type-arg]
    """Property: rule transitions only after the minimum stay and the cooldown, each one after
    a confirmed streak; FAIL always ends in DEFENSIVE; LOCKDOWN never moves the state."""
    m = StateMachine.start(B, T0)
    ts = T0
    for hours, dd, vix, safety in steps:
        ts += timedelta(hours=hours)
        before = StateStatus.from_json(m.status.to_json())
        for t in m.evaluate(x(ts, drawdown=dd, vol_index=vix, safety=safety)):
            if t.kind == "rule":
                assert ts - before.since >= timedelta(days=R.min_days(t.from_state))
                assert before.last_transition is None or ts - before.last_transition >= 24 * H
        if safety == "FAIL":
            assert m.state is D
        if safety == "LOCKDOWN":
            assert m.state is before.state
        assert StateStatus.from_json(m.status.to_json()).to_json() == m.status.to_json()


# --- oracle 56: manual override -------------------------------------------------------------


def test_override_applies_at_once_and_expires() -> None:
    m = StateMachine.start(B, T0 - timedelta(days=30))
    t = m.apply_override(D, T0 + timedelta(days=2), "earnings season", "kim", T0, "r1")
    assert (t.to_state, t.kind, t.operator) == (D, "manual", "kim")
    assert m.status.manual_override and m.status.applied_request == "r1"
    assert m.evaluate(x(T0 + H, vol_index=10, **{"profitable_days": 9})) == []  # rules paused
    (back,) = m.evaluate(x(T0 + timedelta(days=2)))
    assert (back.to_state, back.kind) == (B, "override_expired")
    assert not m.status.manual_override


def test_override_at_most_7_days_and_in_the_future() -> None:
    m = StateMachine.start(B, T0)
    with pytest.raises(OverrideRefused, match="7 days"):
        m.apply_override(A, T0 + timedelta(days=7, seconds=1), "why", "kim", T0)
    with pytest.raises(OverrideRefused, match="future"):
        m.apply_override(A, T0, "why", "kim", T0)
    with pytest.raises(OverrideRefused, match="reason"):
        m.apply_override(A, T0 + H, " ", "kim", T0)
    m.apply_override(A, T0 + timedelta(days=7), "why", "kim", T0)


def test_safety_fail_beats_an_override() -> None:
    m = StateMachine.start(B, T0)
    m.apply_override(A, T0 + timedelta(days=3), "why", "kim", T0)
    (t,) = m.evaluate(x(T0 + H, safety="FAIL"))
    assert t.to_state is D and not m.status.manual_override
