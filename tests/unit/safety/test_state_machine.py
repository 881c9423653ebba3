"""The safety state machine, driven by every code of the catalogue and every transition rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qts.core.time import kst
from qts.safety.codes import CATALOGUE, Action, Severity, lookup
from qts.safety.state import (
    RecoveryRefused,
    SafetyMachine,
    SafetyState,
    SafetyStatus,
)

T0 = kst(2026, 3, 3, 9, 0)
N, W, F, L = SafetyState.NORMAL, SafetyState.WARNING, SafetyState.FAIL, SafetyState.LOCKDOWN


def machine(state: SafetyState = N) -> SafetyMachine:
    m = SafetyMachine(SafetyStatus(state=state, since=T0))
    m.begin_cycle()
    return m


def expected_from_normal(severity: Severity) -> SafetyState:
    return {
        Severity.ANOMALY: W,
        Severity.GUARDRAIL: N,
        Severity.FAIL_SAFE: F,
        Severity.LOCKDOWN: L,
    }[severity]


def test_the_catalogue_holds_every_code_decisions_md_names() -> None:
    expected = (
        [
            "FS001",
            "FS010",
            "FS020",
            "FS030",
            "FS040",
            "FS041",
            "FS042",
            "FS043",
            "FS045",
            "FS050",
            "FS060",
            "FS061",
            "FS070",
        ]
        + [f"FS08{i}" for i in range(6)]
        + [f"FS09{i}" for i in range(5)]
        + [f"FS10{i}" for i in range(6)]
        + [f"FS11{i}" for i in range(4)]
        + ["FS120"]  # ours: the cache's circuit breaker opened (ADR 0010)
        + ["GR001", "GR010", "GR020", "GR030", "GR040"]
        + [f"GR05{i}" for i in range(6)]
        + [f"GR06{i}" for i in range(5)]
        + [f"GR07{i}" for i in range(5)]
        + ["GR080", "GR081", "GR082", "GR090"]
        + ["AN001", "AN010", "AN020", "AN030", "AN040", "AN050"]
    )
    assert sorted(CATALOGUE) == sorted(expected)
    for code in CATALOGUE.values():
        assert code.meaning and code.stage and code.severity and code.action
    assert lookup("FS104").action is Action.FLATTEN_AND_LOCKDOWN
    assert lookup("FS080").severity is Severity.LOCKDOWN
    with pytest.raises(KeyError, match="FS999"):
        lookup("FS999")


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_code_from_normal_moves_by_its_severity(code: str) -> None:
    m = machine()
    event = m.report(code, "test", T0)
    assert m.state is expected_from_normal(CATALOGUE[code].severity)
    assert (event.state_before, event.state_after) == (N, m.state)
    assert m.status.last_code == code
    assert m.trading_allowed is (m.state in (N, W))


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_code_from_warning(code: str) -> None:
    m = machine(W)
    m.report(code, "test", T0)
    sev = CATALOGUE[code].severity
    assert (
        m.state
        is {
            Severity.ANOMALY: W,
            Severity.GUARDRAIL: W,
            Severity.FAIL_SAFE: F,
            Severity.LOCKDOWN: L,
        }[sev]
    )


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_nothing_leaves_lockdown_but_an_approval(code: str) -> None:
    m = machine(L)
    m.report(code, "test", T0)
    assert m.state is L
    m.begin_cycle()
    assert m.end_cycle(T0) is None
    assert m.state is L


def test_a_fail_safe_in_two_cycles_in_a_row_locks_down() -> None:
    m = machine()
    m.report("FS020", "nan", T0)
    assert m.state is F
    assert m.end_cycle(T0) is None  # the failing cycle does not clear itself
    m.begin_cycle()
    m.report("FS050", "equity", T0 + timedelta(minutes=1))
    assert m.state is L


def test_two_fail_safes_in_one_cycle_count_once() -> None:
    m = machine()
    m.report("FS020", "nan", T0)
    m.report("FS050", "equity", T0)
    assert (m.state, m.status.fail_cycles) == (F, 1)


def test_fail_clears_after_one_clean_cycle_and_the_count_resets() -> None:
    m = machine()
    m.report("FS010", "stale", T0)
    m.end_cycle(T0)
    m.begin_cycle()
    event = m.end_cycle(T0 + timedelta(minutes=1))
    assert event is not None and (event.state_before, event.state_after) == (F, N)
    assert event.kind == "clean_cycle"
    assert m.status.fail_cycles == 0
    m.begin_cycle()
    m.report("FS010", "stale again", T0 + timedelta(minutes=2))
    assert m.state is F  # a fresh count: not LOCKDOWN


def test_warning_clears_after_a_cycle_without_anomalies() -> None:
    m = machine()
    m.report("AN001", "spike", T0)
    assert m.state is W
    assert m.end_cycle(T0) is None
    m.begin_cycle()
    m.report("GR001", "exposure", T0)  # guardrails do not keep the warning up
    event = m.end_cycle(T0)
    assert event is not None and m.state is N


def test_three_broker_failures_in_a_row_lock_down_even_across_clean_cycles() -> None:
    m = machine()
    for minute in range(3):
        m.begin_cycle()
        m.report("FS040", "rejected", T0 + timedelta(minutes=minute * 10))
        m.end_cycle(T0)
        m.begin_cycle()
        m.end_cycle(T0)  # a clean cycle clears FAIL...
    assert m.state is L  # ...but the third consecutive broker failure locks down
    assert m.status.broker_failures == 3


def test_a_broker_success_breaks_the_run_of_failures() -> None:
    m = machine()
    for i in range(2):
        m.report("FS040", "rejected", T0 + timedelta(minutes=10 * i))
        m.end_cycle(T0)  # the cycle that saw the failure
        m.end_cycle(T0)  # a clean one
    m.broker_ok()
    m.begin_cycle()
    m.report("FS040", "rejected", T0 + timedelta(minutes=30))
    assert m.state is F


def test_three_broker_errors_within_five_minutes_lock_down() -> None:
    m = machine()
    m.report("FS042", "timeout", T0)
    m.begin_cycle()
    m.end_cycle(T0)
    m.broker_ok()
    m.begin_cycle()
    m.report("FS043", "disconnected", T0 + timedelta(minutes=2))
    m.begin_cycle()
    m.end_cycle(T0)
    m.broker_ok()
    m.begin_cycle()
    m.report("FS040", "error", T0 + timedelta(minutes=4, seconds=59))
    assert m.state is L


def test_broker_errors_spread_over_more_than_five_minutes_do_not() -> None:
    m = machine()
    for minutes in (0, 3, 6):
        m.begin_cycle()
        m.report("FS040", "error", T0 + timedelta(minutes=minutes))
        m.end_cycle(T0)
        m.begin_cycle()
        m.end_cycle(T0)
        m.broker_ok()
    assert m.state is N


def test_kill_switch_locks_down_and_asks_to_flatten() -> None:
    m = machine()
    m.report("FS104", "VKOSPI 45", T0)
    assert m.state is L and m.status.flatten_requested


def test_recovery_needs_lockdown_and_an_operator() -> None:
    m = machine(F)
    with pytest.raises(RecoveryRefused, match="not LOCKDOWN"):
        m.approve_recovery("alice", "fixed", T0)
    m = machine(L)
    with pytest.raises(RecoveryRefused, match="operator"):
        m.approve_recovery("  ", "fixed", T0)
    event = m.approve_recovery("alice", "feed restored", T0, "req-1")
    assert (event.state_before, event.state_after, event.operator) == (L, N, "alice")
    assert m.state is N and m.status.applied_request == "req-1"
    assert m.status.fail_cycles == 0 and not m.status.flatten_requested


def test_status_survives_a_json_round_trip() -> None:
    m = machine()
    m.report("FS040", "rejected", T0)
    m.report("FS104", "kill", T0 + timedelta(seconds=1))
    back = SafetyStatus.from_json(m.status.to_json())
    assert back == m.status


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*sorted(CATALOGUE), "CLEAN", "OK"]), max_size=40))
def test_invariants_over_any_sequence(steps: list[str]) -> None:
    """LOCKDOWN is absorbing; trading is allowed exactly in NORMAL and WARNING; FAIL never
    persists through a clean cycle; a lockdown code always ends in LOCKDOWN."""
    m = machine()
    ts = T0
    locked = False
    for step in steps:
        ts += timedelta(seconds=7)
        if step == "CLEAN":
            m.end_cycle(ts)  # ends the cycle the reports so far belong to
            m.end_cycle(ts)  # one whole clean cycle
            assert m.state is not F
        elif step == "OK":
            m.broker_ok()
        else:
            m.report(step, "x", ts)
            if CATALOGUE[step].severity is Severity.LOCKDOWN:
                locked = True
        locked |= m.state is L
        assert (m.state is L) == locked
        assert m.trading_allowed == (m.state in (N, W))
