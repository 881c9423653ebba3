"""The loop cycle by cycle on a simulated clock: rule order, pending exits, escalation, FS codes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from risk_kit import Rig

from qts.model.enums import Track
from qts.risk import (
    ALL,
    ActionType,
    ExitReason,
    MicroRiskAction,
    MicroRiskConfig,
    RiskCode,
    RiskWarning,
    next_deadline,
)

FULL, PART = ActionType.FULL_EXIT, ActionType.PARTIAL_EXIT


@pytest.fixture(params=[True, False], ids=["vectorised", "reference"])
def rig(request: pytest.FixtureRequest) -> Rig:
    return Rig(vectorised=request.param)


def exits(actions: list[MicroRiskAction]) -> list[tuple[str, ActionType, int, str]]:
    return [(a.symbol, a.action_type, a.qty, a.reason) for a in actions if a.action_type.is_exit]


# -- rule order: first exit wins -------------------------------------------------------------------


def test_mae_beats_trailing(rig: Rig) -> None:
    rig.hold("A", 100, 100_000)
    rig.tick("A", 101_500)  # trailing stop activates (stop 100,900)
    rig.step()
    rig.tick("A", 97_000)  # below the stop AND 3 % adverse
    assert exits(rig.step()) == [("A", FULL, 100, ExitReason.MAE_FULL)]


def test_time_beats_trailing(rig: Rig) -> None:
    rig.hold("A", 100, 100_000, Track.SCALP)
    rig.tick("A", 102_000)
    rig.step()
    rig.clock.advance(timedelta(hours=2))
    rig.tick("A", 101_000)  # under the stop (101,000 − … → 101,000 ≥ price) and past the limit
    assert exits(rig.step()) == [("A", FULL, 100, ExitReason.TIME)]


def test_volatility_beats_mae(rig: Rig) -> None:
    rig.hold("A", 100, 10_000)
    rig.tick("A", 9_700)
    rig.loop.on_vol_index(31.0, rig.clock.now())
    acts = rig.step()
    assert exits(acts) == [("A", PART, 50, ExitReason.VOLATILITY_REDUCE)]
    assert [a.action_type for a in acts if a.symbol == ALL] == [ActionType.REDUCE_EXPOSURE]


def test_trailing_alone(rig: Rig) -> None:
    rig.hold("A", 100, 200_000)
    rig.tick("A", 210_000)
    acts = rig.step()
    assert [(a.action_type, a.payload) for a in acts] == [
        (ActionType.TRAILING_STOP_ADJUST, {"old_stop": 0, "new_stop": 208_500})
    ]
    rig.tick("A", 208_500)
    assert exits(rig.step()) == [("A", FULL, 100, ExitReason.TRAILING)]


def test_adjustments_are_kept_but_not_sent_by_default() -> None:
    rig = Rig(MicroRiskConfig())
    rig.hold("A", 100, 200_000)
    rig.tick("A", 210_000)
    assert rig.step() == []
    view = rig.loop.position("A")
    assert view is not None and view.trailing_stop_price == 208_500
    rig.tick("A", 208_500)
    assert exits(rig.step()) == [("A", FULL, 100, ExitReason.TRAILING)]


def test_warnings_from_all_rules_are_recorded_with_an_exit(rig: Rig) -> None:
    rig.hold("A", 100, 100_000, Track.SCALP)
    rig.tick("A", 101_200)
    rig.step()
    rig.clock.advance(timedelta(minutes=50))  # 83 % of an hour: GR072
    rig.tick("A", 98_900)  # 1.1 % adverse: GR071, and under the trailing stop
    acts = rig.step()
    assert exits(acts) == [("A", FULL, 100, ExitReason.TRAILING)]
    codes = {(w.code, w.symbol) for w in rig.sink.warnings}
    assert {(RiskCode.GR071, "A"), (RiskCode.GR072, "A")} <= codes


# -- pending exits ---------------------------------------------------------------------------------


def test_no_second_exit_while_one_is_pending(rig: Rig) -> None:
    rig.hold("A", 100, 100)
    rig.tick("A", 97)  # spec oracle: avg 100, low 97 → FULL_EXIT
    assert exits(rig.step()) == [("A", FULL, 100, ExitReason.MAE_FULL)]
    for _ in range(5):
        assert exits(rig.step()) == []
    assert rig.loop.stats().suppressed_exits == 5
    pending = rig.loop.pending_exit("A")
    assert pending is not None and pending.target_qty == 0
    rig.book.on_position("A", 0, 0, None, Track.SWING)  # the exit filled
    rig.step()
    assert rig.loop.pending_exit("A") is None


def test_a_partial_fill_keeps_the_exit_pending(rig: Rig) -> None:
    rig.hold("A", 100, 100)
    rig.tick("A", 97)
    rig.step()
    rig.book.on_position("A", 60, 6_000, None, Track.SWING)  # 40 of 100 sold so far
    assert exits(rig.step()) == []
    assert rig.loop.pending_exit("A") is not None


def test_partial_once_then_full(rig: Rig) -> None:
    rig.hold("A", 100, 10_000)
    rig.tick("A", 9_850)
    assert exits(rig.step()) == [("A", PART, 50, ExitReason.MAE_PARTIAL)]
    rig.book.on_position("A", 50, 500_000, None, Track.SWING)  # the half filled; avg unchanged
    for _ in range(3):
        assert exits(rig.step()) == []  # latched: not again
    rig.tick("A", 9_800)
    assert exits(rig.step()) == [("A", FULL, 50, ExitReason.MAE_FULL)]


def test_failed_exit_freezes_and_retries(rig: Rig) -> None:
    rig.hold("A", 100, 10_000)
    rig.tick("A", 9_850)
    rig.step()
    assert rig.loop.on_exit_failed("A", "broker rejected")
    acts = rig.step()
    kinds = [(a.action_type, a.code) for a in acts]
    assert (ActionType.POSITION_FREEZE, RiskCode.GR074) in kinds
    assert exits(acts) == [("A", PART, 50, ExitReason.MAE_PARTIAL)]  # latch released: retried
    failed = rig.sink.warned(RiskCode.GR074, "A")
    assert len(failed) == 1 and failed[0].message == "broker rejected"


def test_done_waits_for_the_fill_to_reach_the_shadow(rig: Rig) -> None:
    rig.hold("A", 100, 100)
    rig.tick("A", 97)
    rig.step()
    assert rig.loop.on_exit_done("A")
    sent = []
    for _ in range(15):
        sent.append(exits(rig.step()))
    # the shadow still shows 100 shares: blocked for the 1 s grace, then sent again
    assert sent[:9] == [[]] * 9
    assert sent[9] == [("A", FULL, 100, ExitReason.MAE_FULL)]
    assert sent[10:] == [[]] * 5


def test_a_new_position_gets_fresh_latches(rig: Rig) -> None:
    rig.hold("A", 100, 10_000)
    rig.tick("A", 9_850)
    rig.step()
    rig.book.on_position("A", 0, 0, None, Track.SWING)
    rig.step()
    rig.hold("A", 100, 10_000, opened=rig.clock.now())
    rig.tick("A", 9_850)
    assert exits(rig.step()) == [("A", PART, 50, ExitReason.MAE_PARTIAL)]


# -- volatility ------------------------------------------------------------------------------------


def test_kill_switch_oracle(rig: Rig) -> None:
    """VKOSPI 45 ⇒ ETEDA suspended, every position liquidated, LOCKDOWN requested, FS104."""
    for s in ("A", "B", "C"):
        rig.hold(s, 10, 50_000)
    rig.loop.on_vol_index(45.0, rig.clock.now())
    acts = rig.step()
    book_wide = [(a.action_type, a.code) for a in acts if a.symbol == ALL]
    assert book_wide == [
        (ActionType.KILL_SWITCH, RiskCode.FS104),
        (ActionType.ETEDA_SUSPEND, RiskCode.FS103),
        (ActionType.BLOCK_ENTRIES, RiskCode.FS104),
    ]
    assert exits(acts) == [(s, FULL, 10, ExitReason.KILL_SWITCH) for s in ("A", "B", "C")]
    assert all(a.code is RiskCode.FS104 for a in acts if a.action_type is FULL)
    assert rig.loop.killed
    assert rig.step() == []  # once
    rig.hold("D", 5, 10_000)  # anything that shows up while killed is flattened too
    assert exits(rig.step()) == [("D", FULL, 5, ExitReason.KILL_SWITCH)]


def test_critical_halves_each_position_once(rig: Rig) -> None:
    rig.hold("A", 10, 50_000)
    rig.hold("B", 7, 50_000)
    rig.loop.on_vol_index(33.0, rig.clock.now())
    acts = rig.step()
    assert exits(acts) == [
        ("A", PART, 5, ExitReason.VOLATILITY_REDUCE),
        ("B", PART, 3, ExitReason.VOLATILITY_REDUCE),
    ]
    rig.book.on_position("A", 5, 250_000, None, Track.SWING)
    rig.book.on_position("B", 4, 200_000, None, Track.SWING)
    assert rig.step() == []
    assert len(rig.sink.of(ActionType.REDUCE_EXPOSURE)) == 1


# -- warnings and fail-safes -----------------------------------------------------------------------


def test_warnings_are_raised_once_per_episode(rig: Rig) -> None:
    rig.hold("A", 10, 50_000)
    rig.step(ms=600)  # no tick for 600 ms: FS105
    rig.step()
    assert len(rig.sink.warned(RiskCode.FS105, "A")) == 1
    rig.tick("A", 50_000)
    rig.step()
    rig.step(ms=600)
    assert len(rig.sink.warned(RiskCode.FS105, "A")) == 2


def test_sync_delay_raises_fs101(rig: Rig) -> None:
    rig.hold("A", 10, 50_000)
    rig.clock.advance(timedelta(milliseconds=1_500))
    rig.tick("A", 50_000)
    rig.loop.run_once()
    assert [w.symbol for w in rig.sink.warned(RiskCode.FS101)] == [ALL]


def test_volatility_warning(rig: Rig) -> None:
    rig.loop.on_vol_index(26.0, rig.clock.now())
    rig.step()
    rig.step()
    assert len(rig.sink.warned(RiskCode.GR073, ALL)) == 1


def test_a_crashing_position_is_reported_and_the_others_are_protected(rig: Rig) -> None:
    rig.book.on_position("BAD", 10, 100_000, rig.clock.now(), "DAYTRADE", price=10_000)  # type: ignore[arg-type]
    rig.hold("A", 100, 100)
    rig.tick("A", 97)
    rig.tick("BAD", 10_000)
    acts = rig.step()
    assert exits(acts) == [("A", FULL, 100, ExitReason.MAE_FULL)]
    fs100 = rig.sink.warned(RiskCode.FS100)
    assert [w.symbol for w in fs100] == ["BAD"] and "KeyError" in fs100[0].message
    for _ in range(3):
        rig.step()
    assert len(rig.sink.warned(RiskCode.FS100)) == 1  # once per streak
    suspend = rig.sink.of(ActionType.ETEDA_SUSPEND)
    assert [(a.code, a.payload) for a in suspend] == [(RiskCode.FS100, {"duration_ms": 60_000})]
    assert rig.loop.stats().errors == 4


def test_a_failing_sink_is_reported_and_the_exit_retried() -> None:
    class Flaky:
        def __init__(self) -> None:
            self.actions: list[MicroRiskAction] = []
            self.warnings: list[RiskWarning] = []
            self.fail = 1

        def emit(self, action: MicroRiskAction) -> None:
            if self.fail:
                self.fail -= 1
                raise ConnectionError("P0 queue unavailable")
            self.actions.append(action)

        def warn(self, warning: RiskWarning) -> None:
            self.warnings.append(warning)

    rig = Rig()
    sink = Flaky()
    rig.loop.sink = sink
    rig.hold("A", 100, 100)
    rig.tick("A", 97)
    rig.step()
    assert [w.symbol for w in sink.warnings if w.code is RiskCode.FS100] == ["A"]
    assert rig.loop.pending_exit("A") is None
    rig.step()
    assert exits(sink.actions) == [("A", FULL, 100, ExitReason.MAE_FULL)]


def test_actions_are_stamped_uniquely(rig: Rig) -> None:
    for s in ("A", "B"):
        rig.hold(s, 100, 100)
        rig.tick(s, 97)
    acts = rig.step()
    assert len({a.action_id for a in acts}) == 2
    assert all(a.cycle == 1 and a.ts == rig.clock.now() and a.priority == "P0" for a in acts)


def test_loop_position_view_includes_local_fields(rig: Rig) -> None:
    rig.hold("A", 100, 200_000)
    rig.tick("A", 210_000)
    rig.step()
    view = rig.loop.position("A")
    assert view is not None and view.trailing_stop_active and view.trailing_stop_price == 208_500
    assert rig.loop.position("nope") is None


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="sync_stale_ms"):
        MicroRiskConfig(sync_stale_ms=0)
    with pytest.raises(ValueError, match="period"):
        Rig().loop.__class__(Rig().book, Rig().sink, Rig().clock, period=0)


# -- scheduling ------------------------------------------------------------------------------------

DEADLINES = [
    # origin, k, now, period → k, deadline, skipped
    (0.0, 1, 0.003, 0.1, 1, 0.1, 0),
    (0.0, 1, 0.1, 0.1, 1, 0.1, 0),
    (0.0, 1, 0.1001, 0.1, 2, 0.2, 1),  # overran tick 1: skip it
    (0.0, 1, 0.35, 0.1, 4, 0.4, 3),
    (10.0, 5, 10.42, 0.1, 5, 10.5, 0),  # absolute deadlines: lateness does not accumulate
]


@pytest.mark.parametrize(("origin", "k", "now", "period", "k2", "deadline", "skipped"), DEADLINES)
def test_next_deadline(
    origin: float, k: int, now: float, period: float, k2: int, deadline: float, skipped: int
) -> None:
    got = next_deadline(origin, k, now, period)
    assert got[0] == k2 and got[1] == pytest.approx(deadline) and got[2] == skipped
