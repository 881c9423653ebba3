"""``pool_stats`` finds its 30- and 90-day windows by bisection on date-ordered windows: it must
equal the plain filters over the whole windows (the definition, kept here as the oracle)."""

from __future__ import annotations

import itertools
import math
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from qts.engines.capital.promotion import ClosedTrade, PoolStats, pool_stats


def oracle(
    history: list[tuple[date, float]],
    drawdown: float,
    trades: list[ClosedTrade],
    loss_streak: int,
    today: date,
) -> PoolStats:
    def mdd(values: list[float]) -> float:
        peak, worst = 0.0, 0.0
        for v in values:
            peak = max(peak, v)
            if peak > 0:
                worst = max(worst, 1 - v / peak)
        return worst

    def underwater(points: list[tuple[date, float]]) -> float:
        peak, since, longest = 0.0, None, 0.0
        for d, v in points:
            if v >= peak:
                peak, since = v, None
            elif since is None:
                since = d
            if since is not None:
                longest = max(longest, float((d - since).days))
        return longest

    last30 = [v for d, v in history if (today - d).days <= 30]
    last90 = [(d, v) for d, v in history if (today - d).days <= 90]
    rets = [b / a - 1 for a, b in itertools.pairwise(last30) if a > 0]
    sharpe = 0.0
    if len(rets) >= 2:
        mean = sum(rets) / len(rets)
        sd = math.sqrt(sum((r - mean) ** 2 for r in rets) / (len(rets) - 1))
        sharpe = mean / sd * math.sqrt(252) if sd > 0 else 0.0
    t30 = [t for t in trades if (today - t.day).days <= 30]
    wins = len([t for t in t30 if t.pnl > 0])
    return PoolStats(
        drawdown=drawdown,
        sharpe_30d=sharpe,
        mdd_30d=mdd(last30),
        mdd_90d=mdd([v for _, v in last90]),
        recovery_days=underwater(last90),
        win_rate_30d=wins / len(t30) if t30 else 0.0,
        trades_30d=len(t30),
        avg_holding_days=sum([t.holding_days for t in trades]) / len(trades) if trades else 0.0,
        loss_streak=loss_streak,
    )


START = date(2024, 1, 1)
gaps = st.lists(st.integers(0, 5), max_size=120)  # days between points; 0: the same day
index = st.one_of(st.just(0.0), st.floats(0.01, 3.0))  # a pool index: 0 (empty) or near 1


@given(
    history_gaps=gaps,
    values=st.lists(index, min_size=120, max_size=120),
    trade_gaps=st.lists(st.integers(0, 3), max_size=80),
    pnls=st.lists(st.integers(-(10**6), 10**6), min_size=80, max_size=80),
    holding=st.lists(st.floats(0.0, 60.0, allow_nan=False), min_size=80, max_size=80),
    anchor=st.integers(0, 10**6),
    offset=st.sampled_from([0, 29, 30, 31, 89, 90, 91, 200]),
)
@settings(max_examples=300)
def test_bisected_windows_equal_the_filters(
    history_gaps: list[int],
    values: list[float],
    trade_gaps: list[int],
    pnls: list[int],
    holding: list[float],
    anchor: int,
    offset: int,
) -> None:
    days = list(itertools.accumulate(history_gaps, initial=0))
    history = [(START + timedelta(days=d), v) for d, v in zip(days, values, strict=False)]
    tdays = list(itertools.accumulate(trade_gaps, initial=0))
    trades = [
        ClosedTrade(START + timedelta(days=d), p, h)
        for d, p, h in zip(tdays, pnls, holding, strict=False)
    ]
    # today a window's length after some point or trade: the windows' edges are where a
    # bisection would go wrong
    points = days[: len(history)] + tdays[: len(trades)]
    today = START + timedelta(days=points[anchor % len(points)] + offset)
    assert pool_stats(history, 0.1, trades, 2, today) == oracle(history, 0.1, trades, 2, today)
