"""§12.5 oracles 36–37: promotion criteria, amounts (decisions.md C1–C3) and schedules."""

from __future__ import annotations

from datetime import date, timedelta

from capital_kit import T0, day, flow, inputs

from qts.engines.capital.config import ScalpToSwing, SwingToPortfolio
from qts.engines.capital.pool import CapitalBook
from qts.engines.capital.promotion import (
    PoolStats,
    scalp_to_swing_misses,
    swing_to_portfolio_misses,
    transfer_amount,
)
from qts.model.enums import Track

GOOD_SCALP = PoolStats(sharpe_30d=1.8, win_rate_30d=0.58, trades_30d=60, mdd_30d=0.05)
GOOD_SWING = PoolStats(sharpe_30d=1.5, recovery_days=10, avg_holding_days=8, mdd_90d=0.1)


def test_transfer_is_ratio_of_the_whole_profit() -> None:
    assert transfer_amount(2_000_000, 0.5) == 1_000_000  # decisions.md oracle
    assert transfer_amount(1_500_000, 0.5) == 750_000  # not doc 14's 250,000 (C1)
    assert transfer_amount(1_000_001, 0.3) == 300_000  # floored to the won
    assert transfer_amount(-5, 0.5) == 0


def test_scalp_to_swing_needs_every_criterion() -> None:
    c = ScalpToSwing()
    assert scalp_to_swing_misses(1_500_000, GOOD_SCALP, c) == []
    assert scalp_to_swing_misses(1_000_000, GOOD_SCALP, c)  # profit must exceed 1,000,000
    for bad in (
        PoolStats(sharpe_30d=1.5, win_rate_30d=0.58, trades_30d=60),  # Sharpe must exceed 1.5
        PoolStats(sharpe_30d=1.8, win_rate_30d=0.55, trades_30d=60),  # win rate must exceed 55 %
        PoolStats(sharpe_30d=1.8, win_rate_30d=0.58, trades_30d=49),  # at least 50 trades
        PoolStats(sharpe_30d=1.8, win_rate_30d=0.58, trades_30d=60, mdd_30d=0.11),  # MDD ≤ 10 %
    ):
        assert len(scalp_to_swing_misses(1_500_000, bad, c)) == 1


def test_swing_to_portfolio_needs_every_criterion() -> None:
    c = SwingToPortfolio()
    assert swing_to_portfolio_misses(5_000_001, GOOD_SWING, c) == []
    assert swing_to_portfolio_misses(5_000_000, GOOD_SWING, c)
    for bad in (
        PoolStats(sharpe_30d=1.2, recovery_days=10, avg_holding_days=8),
        PoolStats(sharpe_30d=1.5, recovery_days=31, avg_holding_days=8),
        PoolStats(sharpe_30d=1.5, recovery_days=10, avg_holding_days=4.9),
        PoolStats(sharpe_30d=1.5, recovery_days=10, avg_holding_days=8, mdd_90d=0.16),
    ):
        assert len(swing_to_portfolio_misses(6_000_000, bad, c)) == 1


def test_promotion_moves_total_and_resets_the_profit() -> None:
    """Integration oracle: Scalp total falls by the transfer, Swing's rises by it."""
    book = CapitalBook.open(
        {Track.SCALP: 10_000_000, Track.SWING: 5_000_000, Track.PORTFOLIO: 5_000_000}
    )
    book[Track.SCALP].cash += 2_000_000  # profit made
    tr = book.transfer(
        Track.SCALP, Track.SWING, transfer_amount(2_000_000, 0.5), "PROMOTION", "test", T0
    )
    assert tr.amount == 1_000_000
    assert book[Track.SCALP].cash == 11_000_000
    assert book[Track.SWING].cash == 6_000_000
    assert book.cash == 22_000_000


def _stats_always(stats: PoolStats, f) -> None:  # type: ignore[no-untyped-def]
    f._stats = lambda today: {t: stats for t in Track}


def test_scalp_promotion_runs_weekly_on_the_first_cycle_of_the_week() -> None:
    f = flow(100_000_000)
    _stats_always(GOOD_SCALP, f)
    assert f.book is not None
    f.book[Track.SCALP].cash += 2_000_000  # scalp made 2,000,000
    cash = 102_000_000
    moved = []
    for n in range(1, 8):  # Tuesday … next Monday
        out = f.step(inputs(day(n, 9, 0), cash))
        moved += [t for t in out.transfers if t.kind == "PROMOTION"]
    assert len(moved) == 1
    (p,) = moved
    assert (p.from_pool, p.to_pool, p.amount) == (Track.SCALP, Track.SWING, 1_000_000)
    assert p.ts.date() == date(2026, 1, 12)  # Monday of the next week
    pools = f.step(inputs(day(8, 9, 0), cash)).view.pools
    assert pools[Track.SCALP].accumulated_profit == 0  # reset
    assert pools[Track.SCALP].last_promotion_time == p.ts


def test_swing_promotion_runs_quarterly() -> None:
    f = flow(100_000_000)
    _stats_always(GOOD_SWING, f)
    assert f.book is not None
    f.book[Track.SWING].cash += 6_000_000
    cash = 106_000_000
    kinds = []
    ts = T0
    while ts.date() < date(2026, 4, 3):
        ts += timedelta(days=1)
        out = f.step(inputs(ts, cash))
        kinds += [
            (t.ts.date(), t.from_pool, t.amount)
            for t in out.transfers
            if t.kind == "PROMOTION" and t.from_pool is Track.SWING
        ]
    assert kinds == [(date(2026, 4, 1), Track.SWING, 1_800_000)]  # 6,000,000 × 0.3
