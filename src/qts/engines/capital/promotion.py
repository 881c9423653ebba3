"""Promotion and demotion rules (next-generation §1.6, §1.7; decisions.md C1–C3).

Promotion moves ``floor(accumulated profit × ratio)`` up (Scalp → Swing weekly, Swing → Portfolio
quarterly) when every criterion holds; the source's accumulated profit then resets to 0.
Demotion moves a share of a pool down when its drawdown or loss streak says so, at most once per
rule per cooldown. The statistics come from each pool's daily value index and its closed trades.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from qts.engines.capital.allocation import floor_won
from qts.engines.capital.config import Demotion, ScalpToSwing, SwingToPortfolio
from qts.model.enums import Track


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    day: date
    pnl: int
    holding_days: float


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Analytics of one pool (floats: analytics only, never money)."""

    drawdown: float = 0.0
    sharpe_30d: float = 0.0
    mdd_30d: float = 0.0
    mdd_90d: float = 0.0
    recovery_days: float = 0.0  # longest stretch under a previous peak in the last 90 days
    win_rate_30d: float = 0.0
    trades_30d: int = 0
    avg_holding_days: float = 0.0
    loss_streak: int = 0


def transfer_amount(profit: int, ratio: float) -> int:
    """floor(profit × ratio), the ratio as the decimal written (decisions.md: 2,000,000 × 0.5 →
    1,000,000); nothing when there is no profit."""
    return floor_won(Decimal(profit) * Decimal(str(ratio))) if profit > 0 else 0


def _mdd(values: Sequence[float]) -> float:
    peak, worst = 0.0, 0.0
    for v in values:
        if v > peak:  # max(peak, v), without the call: a daily cost of every pool
            peak = v
        if peak > 0:
            dd = 1 - v / peak
            if dd > worst:
                worst = dd
    return worst


def _underwater_days(points: Sequence[tuple[date, float]]) -> float:
    peak, since, longest = 0.0, None, 0.0
    for d, v in points:
        if v >= peak:
            peak, since = v, None
        elif since is None:
            since = d
        if since is not None:
            days = float((d - since).days)
            if days > longest:
                longest = days
    return longest


def _day_of_point(point: tuple[date, float]) -> date:
    return point[0]


def _day_of_trade(trade: ClosedTrade) -> date:
    return trade.day


def pool_stats(
    history: Sequence[tuple[date, float]],
    drawdown: float,
    trades: Sequence[ClosedTrade],
    loss_streak: int,
    today: date,
) -> PoolStats:
    """One pool's statistics as of ``today``. ``history`` and ``trades`` are in date order (the
    flow appends them so), which finds each window's start by bisection: this runs every day
    for every pool, over up to 95 points and 500 trades."""
    # (today - d).days <= n  <=>  d >= today - n days
    since30, since90 = today - timedelta(days=30), today - timedelta(days=90)
    last90 = history[bisect_left(history, since90, key=_day_of_point) :]
    last30 = [v for _, v in last90[bisect_left(last90, since30, key=_day_of_point) :]]
    rets = [b / a - 1 for a, b in itertools.pairwise(last30) if a > 0]
    sharpe = 0.0
    if len(rets) >= 2:
        mean = sum(rets) / len(rets)
        sd = math.sqrt(sum((r - mean) ** 2 for r in rets) / (len(rets) - 1))
        sharpe = mean / sd * math.sqrt(252) if sd > 0 else 0.0
    t30 = trades[bisect_left(trades, since30, key=_day_of_trade) :]
    wins = len([t for t in t30 if t.pnl > 0])
    return PoolStats(
        drawdown=drawdown,
        sharpe_30d=sharpe,
        mdd_30d=_mdd(last30),
        mdd_90d=_mdd([v for _, v in last90]),
        recovery_days=_underwater_days(last90),
        win_rate_30d=wins / len(t30) if t30 else 0.0,
        trades_30d=len(t30),
        avg_holding_days=sum([t.holding_days for t in trades]) / len(trades) if trades else 0.0,
        loss_streak=loss_streak,
    )


def scalp_to_swing_misses(profit: int, s: PoolStats, c: ScalpToSwing) -> list[str]:
    """The criteria that do not hold ([] = eligible)."""
    out = []
    if profit <= c.min_profit:
        out.append(f"profit {profit:,} <= {c.min_profit:,}")
    if s.sharpe_30d <= c.min_sharpe:
        out.append(f"Sharpe {s.sharpe_30d:.2f} <= {c.min_sharpe}")
    if s.win_rate_30d <= c.min_win_rate:
        out.append(f"30-day win rate {s.win_rate_30d:.0%} <= {c.min_win_rate:.0%}")
    if s.trades_30d < c.min_trades_30d:
        out.append(f"{s.trades_30d} trades in 30 days < {c.min_trades_30d}")
    if s.mdd_30d > c.max_mdd_30d:
        out.append(f"30-day MDD {s.mdd_30d:.1%} > {c.max_mdd_30d:.0%}")
    return out


def swing_to_portfolio_misses(profit: int, s: PoolStats, c: SwingToPortfolio) -> list[str]:
    out = []
    if profit <= c.min_profit:
        out.append(f"profit {profit:,} <= {c.min_profit:,}")
    if s.sharpe_30d <= c.min_sharpe:
        out.append(f"Sharpe {s.sharpe_30d:.2f} <= {c.min_sharpe}")
    if s.recovery_days > c.max_recovery_days:
        out.append(f"drawdown recovery {s.recovery_days:.0f} d > {c.max_recovery_days:g} d")
    if s.avg_holding_days < c.min_holding_days:
        out.append(f"average holding {s.avg_holding_days:.1f} d < {c.min_holding_days:g} d")
    if s.mdd_90d > c.max_mdd_90d:
        out.append(f"90-day MDD {s.mdd_90d:.1%} > {c.max_mdd_90d:.0%}")
    return out


@dataclass(frozen=True, slots=True)
class DemotionOrder:
    rule: str
    src: Track
    dst: Track
    amount: int
    reason: str


def demotions(
    totals: dict[Track, int], stats: dict[Track, PoolStats], c: Demotion
) -> list[DemotionOrder]:
    """Demotions whose trigger holds now (the caller applies cooldowns and availability)."""
    out = []
    p, s = stats[Track.PORTFOLIO], stats[Track.SWING]
    if p.drawdown > c.portfolio_mdd:
        out.append(
            DemotionOrder(
                "portfolio_mdd",
                Track.PORTFOLIO,
                Track.SWING,
                transfer_amount(totals[Track.PORTFOLIO], c.portfolio_ratio),
                f"PORTFOLIO MDD {p.drawdown:.1%} > {c.portfolio_mdd:.0%}",
            )
        )
    if s.drawdown > c.swing_mdd:
        out.append(
            DemotionOrder(
                "swing_mdd",
                Track.SWING,
                Track.SCALP,
                transfer_amount(totals[Track.SWING], c.swing_ratio),
                f"SWING MDD {s.drawdown:.1%} > {c.swing_mdd:.0%}",
            )
        )
    elif s.loss_streak > c.swing_losses:
        out.append(
            DemotionOrder(
                "swing_losses",
                Track.SWING,
                Track.SCALP,
                transfer_amount(totals[Track.SWING], c.swing_losses_ratio),
                f"{s.loss_streak} SWING losses in a row > {c.swing_losses}",
            )
        )
    return out
