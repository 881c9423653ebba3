"""§12.7 oracles 51–52: what each operating state allows."""

from __future__ import annotations

from decimal import Decimal

from qts.engines.state.profile import PROFILES, OperatingState
from qts.model.enums import Track

A, B, D = OperatingState.AGGRESSIVE, OperatingState.BALANCED, OperatingState.DEFENSIVE
S, W, P = Track.SCALP, Track.SWING, Track.PORTFOLIO


def pct(x: str) -> Decimal:
    return Decimal(x) / 100


def test_allocation_ranges_and_midpoint_targets() -> None:
    ranges = {
        A: ((60, 80), (15, 30), (5, 10)),
        B: ((30, 50), (30, 40), (20, 30)),
        D: ((5, 15), (15, 25), (60, 80)),
    }
    for state, want in ranges.items():
        got = PROFILES[state].allocation
        for track, (lo, hi) in zip((S, W, P), want, strict=True):
            assert (got[track].lo, got[track].hi) == (pct(str(lo)), pct(str(hi)))
    assert PROFILES[A].targets == {S: pct("70"), W: pct("22.5"), P: pct("7.5")}
    assert PROFILES[B].targets == {S: pct("40"), W: pct("35"), P: pct("25")}
    assert PROFILES[D].targets == {S: pct("10"), W: pct("20"), P: pct("70")}
    for p in PROFILES.values():
        assert sum(p.targets.values()) == 1


def test_multipliers_thresholds_and_limits() -> None:
    got = {
        s: (p.risk_multiplier, p.entry_threshold, p.max_positions, p.max_daily_trades)
        for s, p in PROFILES.items()
    }
    assert got == {
        A: (Decimal("1.2"), 0.6, 20, 50),
        B: (Decimal("1.0"), 0.7, 15, 30),
        D: (Decimal("0.5"), 0.9, 10, 10),
    }
    assert [PROFILES[s].new_entries for s in (A, B, D)] == [True, True, False]
    assert [PROFILES[s].scalp_active for s in (A, B, D)] == [True, True, False]
    assert [PROFILES[s].rebalancing_enabled for s in (A, B, D)] == [False, True, True]
