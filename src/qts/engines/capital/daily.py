"""The capital flow's first cycle of a trading day: the previous day's books are closed (the
pools' value indices, drawdown locks FS082), then demotions, promotions (Scalp → Swing weekly,
Swing → Portfolio quarterly) and rebalancing (≤ 5 % of capital a day) move money between pools.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from qts.engines.capital import allocation as alloc
from qts.engines.capital.cycle import CycleInputs
from qts.engines.capital.pool import POOLS, Transfer, TransferError, _history_row
from qts.engines.capital.promotion import (
    PoolStats,
    demotions,
    scalp_to_swing_misses,
    swing_to_portfolio_misses,
    transfer_amount,
)
from qts.engines.capital.windows import HISTORY_WINDOW
from qts.engines.state.profile import PROFILES, OperatingState
from qts.model.enums import Track

if TYPE_CHECKING:
    from qts.engines.capital.flow import CapitalFlow


def _quarter(d: date) -> tuple[int, int]:
    return d.year, (d.month - 1) // 3


def close_day(
    flow: CapitalFlow,
    x: CycleInputs,
    totals: dict[Track, int],
    codes: list[tuple[str, str]],
    events: list[dict[str, Any]],
) -> None:
    """Close the previous day's books: profitable-day streak, pool value indices, FS082."""
    book = flow.book
    assert book is not None
    if flow.day is not None:
        flow.profitable_days = (
            flow.profitable_days + 1 if flow.last_equity >= flow.day_open_equity else 0
        )
    flow.day = x.ts.date()
    flow.day_open_equity = x.day_start_equity or x.equity
    flow.moved_today = 0
    flow._seen_today.clear()
    for t in POOLS:
        p = book[t]
        now = totals[t]
        if p.last_total > 0 and now - p.flow >= 0:
            p.index *= (now - p.flow) / p.last_total
        p.peak = max(p.peak, p.index)
        p.history.append((flow.day, p.index))
        flow.windows_version += 1
        flow._tail["history"].setdefault(t.value, []).append(_history_row(p.history[-1]))
        flow.tail_rows += 1
        if len(p.history) > HISTORY_WINDOW:
            del p.history[:-HISTORY_WINDOW]
        p.flow, p.last_total = 0, now
        limit = flow.config.lock_drawdown
        if p.drawdown > limit and p.lock("FS082", f"drawdown {p.drawdown:.1%}", x.ts):
            codes.append(("FS082", f"{t} pool drawdown {p.drawdown:.1%} > {limit:.0%}"))
            events.append(flow._lock_event(t, x.ts))
        elif p.locked and p.lock_code == "FS082":
            waited = p.lock_ts is not None and (
                (x.ts - p.lock_ts).total_seconds() / 86_400 >= flow.config.lock_release_days
            )
            flat = x.held.get(t, 0) == 0
            if p.drawdown <= limit or (waited and flat):
                p.peak = p.index  # a fresh start: the loss is behind the pool
                p.unlock()
                events.append({"kind": "unlock", "ts": x.ts.isoformat(), "pool": t.value})


def daily_transfers(
    flow: CapitalFlow,
    x: CycleInputs,
    prev: date | None,
    totals: dict[Track, int],
    codes: list[tuple[str, str]],
    events: list[dict[str, Any]],
) -> list[Transfer]:
    """Demotions, promotions and rebalancing of the first cycle of a trading day."""
    book = flow.book
    assert book is not None
    ts, today = x.ts, x.ts.date()
    out: list[Transfer] = []
    stats = flow._stats(today)
    free = {t: max(0, book[t].cash - x.order_holds.get(t, 0)) for t in POOLS}

    def move(src: Track, dst: Track, amount: int, kind: str, reason: str) -> Transfer | None:
        amount = min(amount, free[src])
        if amount <= 0:
            return None
        try:
            tr = book.transfer(src, dst, amount, kind, reason, ts, free=free)
        except TransferError as exc:
            codes.append(("FS083", str(exc)))
            return None
        free[src] -= amount
        totals[src] -= amount
        totals[dst] += amount
        out.append(tr)
        return tr

    # demotions: a rule fires at most once per cooldown
    for d in demotions(totals, stats, flow.config.demotion):
        last = flow.last_demotion.get(d.rule)
        cool = flow.config.demotion.cooldown_days
        if last and (today - date.fromisoformat(last)).days < cool:
            continue
        if book[d.src].locked or book[d.dst].locked or d.amount <= 0:
            continue
        if move(d.src, d.dst, d.amount, "DEMOTION", d.reason):
            flow.last_demotion[d.rule] = today.isoformat()
    # promotions: Scalp → Swing weekly (first cycle of a week: Monday 08:30 before the
    # open), Swing → Portfolio quarterly (first cycle after the quarter's last close)
    if prev is not None and today.isocalendar()[:2] != prev.isocalendar()[:2]:
        promote(flow, Track.SCALP, Track.SWING, totals, stats, ts, codes, move)
    if prev is not None and _quarter(today) != _quarter(prev):
        promote(flow, Track.SWING, Track.PORTFOLIO, totals, stats, ts, codes, move)
    # rebalancing toward the state's targets
    profile = PROFILES[flow.machine.state]
    total = sum(totals.values())
    targets = alloc.target_amounts(total, profile, flow.config.min_amounts)
    drift = alloc.drift(totals, targets)
    worst = max(drift, key=lambda t: drift[t])
    if drift[worst] > flow.config.drift_threshold:
        flow._guard(codes, "GR055", f"{worst} is {drift[worst]:.1%} off its target")
        if flow.machine.state is OperatingState.BALANCED:
            flow._guard(codes, "GR081", f"pool imbalance in BALANCED: {worst} drifted")
        flow.rebalance_reason = flow.rebalance_reason or f"DRIFT {worst} {drift[worst]:.1%}"
    if (
        flow.config.monthly_rebalance
        and profile.rebalancing_enabled
        and prev is not None
        and (today.year, today.month) != (prev.year, prev.month)
    ):
        flow.rebalance_reason = flow.rebalance_reason or "SCHEDULED_MONTHLY"
    for t in POOLS:
        lo, _hi = alloc.HARD_BOUNDS[t]
        share = Decimal(totals[t]) / Decimal(total) if total > 0 else Decimal(0)
        if share < lo:
            flow._guard(codes, "GR051", f"{t} at {share:.1%} < its minimum {lo:.0%}")
            flow.rebalance_reason = flow.rebalance_reason or f"{t} BELOW_MINIMUM"
    if flow.rebalance_reason:
        rebalance(flow, totals, free, targets, codes, move)
    return out


def promote(
    flow: CapitalFlow,
    src: Track,
    dst: Track,
    totals: dict[Track, int],
    stats: dict[Track, PoolStats],
    ts: datetime,
    codes: list[tuple[str, str]],
    move: Any,
) -> None:
    book = flow.book
    assert book is not None
    p = book[src]
    profit = totals[src] - p.contributed - p.profit_base
    if src is Track.SCALP:
        c1 = flow.config.scalp_to_swing
        misses, ratio = scalp_to_swing_misses(profit, stats[src], c1), c1.ratio
    else:
        c2 = flow.config.swing_to_portfolio
        misses, ratio = swing_to_portfolio_misses(profit, stats[src], c2), c2.ratio
    if misses or p.locked or book[dst].locked:
        return
    total = sum(totals.values())
    hi = alloc.HARD_BOUNDS[dst][1]
    if total > 0 and Decimal(totals[dst]) / Decimal(total) >= hi:
        flow._guard(codes, "GR052", f"{dst} above its maximum {hi:.0%}: no promotion into it")
        return
    amount = transfer_amount(profit, ratio)
    free = max(0, p.cash - p.earmarked)
    if amount > free:
        flow._guard(codes, "GR053", f"promotion {amount:,} > {src} available {free:,}")
        amount = free
    tr = move(src, dst, amount, "PROMOTION", f"PROFIT_THRESHOLD_EXCEEDED {profit:,} × {ratio:g}")
    if tr is None:
        return
    p.profit_base = totals[src] - p.contributed  # accumulated profit resets to 0
    p.last_promotion = ts


def rebalance(
    flow: CapitalFlow,
    totals: dict[Track, int],
    free: dict[Track, int],
    targets: dict[Track, int],
    codes: list[tuple[str, str]],
    move: Any,
) -> None:
    book = flow.book
    assert book is not None
    total = sum(totals.values())
    budget = alloc.daily_budget(total, flow.config.max_daily_rebalance_pct) - flow.moved_today
    locked = frozenset(t for t in POOLS if book[t].locked)
    p = alloc.plan(totals, free, targets, budget, flow.config.min_transfer, locked)
    for leg in p.legs:
        tr = move(leg.src, leg.dst, leg.amount, "REBALANCE", flow.rebalance_reason)
        if tr is not None:
            flow.moved_today += tr.amount
    if p.delayed:
        flow._guard(codes, "GR054", "rebalancing held to the daily limit; it continues tomorrow")
    for t in POOLS:
        book[t].earmarked = min(p.outflow[t], max(0, book[t].cash))
    if p.done:
        flow.rebalance_reason = ""
