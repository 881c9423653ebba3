"""§12.5 oracle 38: demotions, and their cooldown."""

from __future__ import annotations

from capital_kit import day, flow, inputs

from qts.engines.capital.config import Demotion
from qts.engines.capital.promotion import PoolStats, demotions
from qts.model.enums import Track

CALM = PoolStats()


def _totals(swing: int = 8_000_000, portfolio: int = 10_000_000) -> dict[Track, int]:
    return {Track.SCALP: 10_000_000, Track.SWING: swing, Track.PORTFOLIO: portfolio}


def test_swing_drawdown_over_15_percent_moves_30_percent_to_scalp() -> None:
    stats = {Track.SCALP: CALM, Track.SWING: PoolStats(drawdown=0.18), Track.PORTFOLIO: CALM}
    (d,) = demotions(_totals(), stats, Demotion())
    assert (d.src, d.dst, d.amount) == (Track.SWING, Track.SCALP, 2_400_000)
    assert 8_000_000 - d.amount == 5_600_000


def test_swing_loss_streak_over_5_moves_20_percent() -> None:
    stats = {Track.SCALP: CALM, Track.SWING: PoolStats(loss_streak=6), Track.PORTFOLIO: CALM}
    (d,) = demotions(_totals(), stats, Demotion())
    assert (d.src, d.dst, d.amount) == (Track.SWING, Track.SCALP, 1_600_000)
    five = {Track.SCALP: CALM, Track.SWING: PoolStats(loss_streak=5), Track.PORTFOLIO: CALM}
    assert demotions(_totals(), five, Demotion()) == []


def test_portfolio_drawdown_over_10_percent_moves_20_percent_to_swing() -> None:
    stats = {Track.SCALP: CALM, Track.SWING: CALM, Track.PORTFOLIO: PoolStats(drawdown=0.11)}
    (d,) = demotions(_totals(), stats, Demotion())
    assert (d.src, d.dst, d.amount) == (Track.PORTFOLIO, Track.SWING, 2_000_000)
    at_limit = {Track.SCALP: CALM, Track.SWING: CALM, Track.PORTFOLIO: PoolStats(drawdown=0.10)}
    assert demotions(_totals(), at_limit, Demotion()) == []


def test_a_demotion_fires_once_per_cooldown_in_the_flow() -> None:
    f = flow(100_000_000)
    f._stats = lambda today: {
        Track.SCALP: CALM,
        Track.SWING: PoolStats(drawdown=0.2),
        Track.PORTFOLIO: CALM,
    }
    moved = []
    for n in range(1, 40):
        out = f.step(inputs(day(n, 9, 0), 100_000_000))
        moved += [(n, t.amount) for t in out.transfers if t.kind == "DEMOTION"]
    assert moved[0] == (1, 10_500_000)  # 30 % of the swing pool's 35,000,000
    assert [n for n, _ in moved] == [1, 31]  # again only after the 30-day cooldown
