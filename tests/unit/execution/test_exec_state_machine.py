"""§12.6 #44/#48: only the table's transitions, ESCAPING from every live state, watchdogs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qts.core.errors import IllegalTransition
from qts.execution.stages.state import (
    TERMINAL,
    TRANSITIONS,
    WATCHDOG,
    ExecState,
    ExecutionStateMachine,
    can_move,
)

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
E = ExecState
LISTED = {
    (E.INIT, E.PRECHECK),
    (E.PRECHECK, E.SPLITTING),
    (E.PRECHECK, E.FAILED),
    (E.SPLITTING, E.SENDING),
    (E.SPLITTING, E.FAILED),
    (E.SENDING, E.MONITORING),
    (E.SENDING, E.FAILED),
    (E.MONITORING, E.COMPLETE),
    (E.MONITORING, E.ADJUSTING),
    (E.ADJUSTING, E.MONITORING),
    (E.ESCAPING, E.ESCAPED),
}


def test_exactly_the_listed_transitions_plus_escaping_from_every_live_state() -> None:
    legal = {(a, b) for a in E for b in E if can_move(a, b)}
    escapes = {(a, E.ESCAPING) for a in E if not a.is_terminal and a is not E.ESCAPING}
    assert legal == LISTED | escapes


def test_terminal_states_have_no_exits() -> None:
    assert {E.COMPLETE, E.ESCAPED, E.FAILED} == TERMINAL
    for s in TERMINAL:
        assert not TRANSITIONS[s]


def test_watchdog_limits() -> None:
    assert {
        E.PRECHECK: timedelta(seconds=5),
        E.SPLITTING: timedelta(seconds=1),
        E.SENDING: timedelta(seconds=10),
        E.MONITORING: timedelta(seconds=60),
        E.ADJUSTING: timedelta(seconds=30),
        E.ESCAPING: timedelta(seconds=30),
    } == WATCHDOG
    m = ExecutionStateMachine("x")
    m.move(E.PRECHECK, T0)
    assert not m.expired(T0 + timedelta(seconds=4.999))
    assert m.expired(T0 + timedelta(seconds=5))


@given(st.lists(st.sampled_from(list(E)), max_size=30))
def test_random_walks_never_make_an_unlisted_move(targets: list[ExecState]) -> None:
    m = ExecutionStateMachine("x")
    now = T0
    for t in targets:
        before = m.state
        if can_move(before, t):
            m.move(t, now)
            assert m.state is t
        else:
            with pytest.raises(IllegalTransition):
                m.move(t, now)
            assert m.state is before
        # whatever happened, a live execution can always escape, a finished one never
        probe = ExecutionStateMachine("p", m.state)
        assert probe.escape(now) == (not m.state.is_terminal and m.state is not E.ESCAPING)
        now += timedelta(milliseconds=1)
