"""§12.5 oracle 39 and §12.7 oracles 51/55: bounds, targets, drift and the rebalancer."""

from __future__ import annotations

from decimal import Decimal

from capital_kit import day, flow, inputs

from qts.engines.capital import allocation as alloc
from qts.engines.capital.config import MinAmounts
from qts.engines.state.profile import PROFILES, OperatingState
from qts.model.enums import Track

S, P, W = Track.SCALP, Track.PORTFOLIO, Track.SWING


def test_hard_bounds() -> None:
    assert alloc.HARD_BOUNDS[S] == (Decimal("0.05"), Decimal("0.80"))
    assert alloc.HARD_BOUNDS[W] == (Decimal("0.10"), Decimal("0.50"))
    assert alloc.HARD_BOUNDS[P] == (Decimal("0.05"), Decimal("0.80"))
    for profile in PROFILES.values():  # every state's range lies inside the hard bounds
        for t, r in profile.allocation.items():
            lo, hi = alloc.HARD_BOUNDS[t]
            assert lo <= r.lo <= r.hi <= hi


def test_targets_are_range_midpoints_in_won() -> None:
    m = MinAmounts()
    assert alloc.target_amounts(100_000_000, PROFILES[OperatingState.AGGRESSIVE], m) == {
        S: 70_000_000,
        W: 22_500_000,
        P: 7_500_000,
    }
    assert alloc.target_amounts(100_000_000, PROFILES[OperatingState.DEFENSIVE], m) == {
        S: 10_000_000,
        W: 20_000_000,
        P: 70_000_000,
    }


def test_minimum_amounts_apply_when_the_capital_covers_them() -> None:
    t = alloc.target_amounts(20_000_000, PROFILES[OperatingState.AGGRESSIVE], MinAmounts())
    assert t[P] == 3_000_000  # 7.5 % would be 1,500,000 < 3,000,000
    assert sum(t.values()) == 20_000_000
    small = alloc.target_amounts(5_000_000, PROFILES[OperatingState.AGGRESSIVE], MinAmounts())
    assert small[P] == 375_000  # below Σ minimums only the ratios can hold


def test_shares_are_normalised_to_100_percent() -> None:
    got, changed = alloc.normalise({S: Decimal("0.5"), W: Decimal("0.5"), P: Decimal("0.5")})
    assert changed and sum(got.values()) == 1
    _same, changed = alloc.normalise(PROFILES[OperatingState.BALANCED].targets)
    assert not changed


def test_drift_over_10_percent_is_reported_and_rebalanced() -> None:
    f = flow(100_000_000)
    assert f.book is not None
    f.book[W].cash += 20_000_000  # swing made 20,000,000: 55/120 ≈ 46 % vs target 35 %
    out = f.step(inputs(day(1), 120_000_000))
    assert "GR055" in [c for c, _ in out.codes]
    assert "GR081" in [c for c, _ in out.codes]  # the BALANCED state's imbalance guardrail
    # PORTFOLIO first (25,000,000 → its target 30,000,000), then SCALP with what is left of
    # the day's 5 % of 120,000,000
    assert [(t.kind, t.from_pool, t.to_pool, t.amount) for t in out.transfers] == [
        ("REBALANCE", W, P, 5_000_000),
        ("REBALANCE", W, S, 1_000_000),
    ]


def test_rebalance_moves_at_most_5_percent_a_day_in_fill_order() -> None:
    totals = {S: 70_000_000, W: 22_500_000, P: 7_500_000}
    targets = alloc.target_amounts(100_000_000, PROFILES[OperatingState.DEFENSIVE], MinAmounts())
    p = alloc.plan(totals, dict(totals), targets, 5_000_000, 100_000)
    assert [(leg.src, leg.dst, leg.amount) for leg in p.legs] == [(S, P, 5_000_000)]
    assert p.delayed and not p.done
    # PORTFOLIO is filled first, then SWING, from the largest surplus
    totals2 = {S: 40_000_000, W: 10_000_000, P: 50_000_000}
    targets2 = {S: 20_000_000, W: 20_000_000, P: 60_000_000}
    legs = alloc.plan(totals2, dict(totals2), targets2, 50_000_000, 100_000).legs
    assert [(leg.src, leg.dst) for leg in legs] == [(S, P), (S, W)]


def test_no_leg_below_100000_won() -> None:
    totals = {S: 40_050_000, W: 34_950_000, P: 25_000_000}
    targets = {S: 40_000_000, W: 35_000_000, P: 25_000_000}
    p = alloc.plan(totals, dict(totals), targets, 5_000_000, 100_000)
    assert p.legs == () and p.done


def test_only_available_capital_moves_and_locked_pools_take_no_part() -> None:
    totals = {S: 70_000_000, W: 22_500_000, P: 7_500_000}
    targets = {S: 10_000_000, W: 20_000_000, P: 70_000_000}
    free = {S: 1_000_000, W: 22_500_000, P: 7_500_000}
    p = alloc.plan(totals, free, targets, 5_000_000, 100_000)
    assert [(leg.src, leg.amount) for leg in p.legs] == [(S, 1_000_000), (W, 2_500_000)]
    assert p.outflow[S] == 59_000_000  # waits for positions to close: reserved meanwhile
    locked = alloc.plan(totals, dict(totals), targets, 5_000_000, 100_000, frozenset({P}))
    assert all(P not in (leg.src, leg.dst) for leg in locked.legs)


def test_entering_defensive_rebalances_at_most_5_percent_a_day() -> None:
    f = flow(100_000_000)
    f.machine.status.state = OperatingState.DEFENSIVE  # targets change; money does not yet
    f.rebalance_reason = "STATE BALANCED→DEFENSIVE"
    days = []
    for n in range(1, 12):
        out = f.step(inputs(day(n), 100_000_000))
        days.append(sum(t.amount for t in out.transfers))
        assert all(t.kind == "REBALANCE" and t.reason.startswith("STATE") for t in out.transfers)
    assert max(days) == 5_000_000
    pools = out.view.pools
    assert pools[P].total_capital == 70_000_000 and pools[S].total_capital == 10_000_000
    assert days[-1] == 0 and not out.view.rebalance_pending


def test_monthly_rebalance_in_balanced() -> None:
    f = flow(100_000_000)
    assert f.book is not None
    f.book[S].cash += 3_000_000  # small drift, below 10 %
    reasons = set()
    for n in range(1, 40):
        out = f.step(inputs(day(n), 103_000_000))
        reasons |= {t.reason for t in out.transfers}
    assert reasons == {"SCHEDULED_MONTHLY"}
