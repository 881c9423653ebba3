"""Allocation targets and the rebalancer (next-generation §1.4, §6.5; decisions.md C4–C6).

Operating-state changes never move money directly: they set targets, and the rebalancer moves at
most ``max_daily_rebalance_pct`` of total capital per day toward them, never a leg below
``min_transfer``, filling the pools in the order PORTFOLIO → SWING → SCALP from the pools with
the largest surplus. Only available capital moves; money in positions waits until they close.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from qts.engines.capital.config import MinAmounts
from qts.engines.state.profile import StateProfile
from qts.model.enums import Track

# hard bounds per pool, a rule (decisions.md): the state's ranges are targets inside them
HARD_BOUNDS: dict[Track, tuple[Decimal, Decimal]] = {
    Track.SCALP: (Decimal("0.05"), Decimal("0.80")),
    Track.SWING: (Decimal("0.10"), Decimal("0.50")),
    Track.PORTFOLIO: (Decimal("0.05"), Decimal("0.80")),
}
FILL_ORDER: tuple[Track, ...] = (Track.PORTFOLIO, Track.SWING, Track.SCALP)


def floor_won(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_FLOOR))


def normalise(pcts: dict[Track, Decimal]) -> tuple[dict[Track, Decimal], bool]:
    """Shares that sum to 1 (GR050 auto-normalise); True when they had to be changed."""
    s = sum(pcts.values(), Decimal(0))
    if s == 1:
        return dict(pcts), False
    if s <= 0:
        raise ValueError("allocation shares sum to zero")
    keys = list(pcts)
    out = {t: pcts[t] / s for t in keys[:-1]}
    out[keys[-1]] = 1 - sum(out.values(), Decimal(0))  # exactly 100 %
    return out, True


def min_amount(m: MinAmounts, t: Track) -> int:
    return {Track.SCALP: m.scalp, Track.SWING: m.swing, Track.PORTFOLIO: m.portfolio}[t]


def target_amounts(total: int, profile: StateProfile, mins: MinAmounts) -> dict[Track, int]:
    """Won per pool at the state's targets; minimum amounts apply when the capital covers them
    all (below that, only the ratios can be met)."""
    pcts, _ = normalise(profile.targets)
    out = {t: floor_won(Decimal(total) * p) for t, p in pcts.items()}
    if total >= sum(min_amount(mins, t) for t in out):
        for t in out:
            short = min_amount(mins, t) - out[t]
            if short > 0:
                donor = max((d for d in out if d is not t), key=lambda d: out[d])
                out[t] += short
                out[donor] -= short
    return out


def drift(totals: dict[Track, int], targets: dict[Track, int]) -> dict[Track, float]:
    """|actual share − target share| per pool."""
    total = sum(totals.values())
    if total <= 0:
        return {t: 0.0 for t in totals}
    return {t: abs(totals[t] - targets[t]) / total for t in totals}


@dataclass(frozen=True, slots=True)
class Leg:
    src: Track
    dst: Track
    amount: int


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    legs: tuple[Leg, ...]
    done: bool  # nothing of at least min_transfer is left to move toward the targets
    outflow: dict[Track, int]  # surplus still to leave each pool after these legs
    delayed: bool  # the daily limit held movement back (GR054)


def plan(
    totals: dict[Track, int],
    free: dict[Track, int],
    targets: dict[Track, int],
    budget: int,
    min_transfer: int,
    locked: frozenset[Track] = frozenset(),
) -> RebalancePlan:
    """Today's legs toward ``targets``. ``free`` is what each pool may give (available capital),
    ``budget`` what may still move today. Locked pools take part in no transfer."""
    gap = {t: targets[t] - totals[t] for t in totals}
    free = dict(free)
    legs: list[Leg] = []
    delayed = False
    for dst in FILL_ORDER:
        if dst in locked:
            continue
        while gap[dst] >= min_transfer:
            donors = [d for d in FILL_ORDER if d is not dst and d not in locked and gap[d] < 0]
            donors.sort(key=lambda d: gap[d])  # the largest surplus first
            donor = next((d for d in donors if min(-gap[d], free[d]) >= min_transfer), None)
            if donor is None:
                break
            amount = min(gap[dst], -gap[donor], free[donor], budget)
            if amount < min_transfer:
                delayed = delayed or budget < min(gap[dst], -gap[donor], free[donor])
                break
            if amount < min(gap[dst], -gap[donor], free[donor]):
                delayed = True
            legs.append(Leg(donor, dst, amount))
            gap[dst] -= amount
            gap[donor] += amount
            free[donor] -= amount
            budget -= amount
    movable = [t for t in gap if t not in locked]
    done = not any(gap[t] >= min_transfer for t in movable) or not any(
        -gap[t] >= min_transfer for t in movable
    )
    outflow = {t: max(0, -gap[t]) if not done else 0 for t in gap}
    return RebalancePlan(tuple(legs), done, outflow, delayed)


def daily_budget(total: int, pct: float) -> int:
    """Won that may move today: floor(total × pct), the percentage as the decimal written."""
    return max(0, floor_won(Decimal(total) * Decimal(str(pct))))
