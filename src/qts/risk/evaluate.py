"""Evaluate every position in rule order: volatility → MAE → time in trade → trailing stop.

Per position per cycle the first rule that yields an exit wins (and none is sent while an exit is
pending); warnings from all rules are recorded; ratchets and the time extension are kept
whatever wins. Two implementations give identical :class:`Evaluation` results:

* :func:`evaluate_reference` calls the four rule functions on one :class:`PositionShadow` at a
  time — the readable definition, and the fallback;
* :func:`evaluate_vectorised` computes the same integers with numpy over all positions at once
  and builds Python objects only for the positions that act or warn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from qts.market.krx.tick_size import ETF_TICK, STOCK_BANDS
from qts.risk.actions import ActionType, MicroRiskAction, RiskCode
from qts.risk.config import MicroRiskConfig
from qts.risk.rules import mae as mae_rule
from qts.risk.rules import time_in_trade as time_rule
from qts.risk.rules import trailing as trailing_rule
from qts.risk.rules import volatility as vol_rule
from qts.risk.rules.base import BPS, LocalUpdate, RuleResult
from qts.risk.rules.volatility import VolLevel
from qts.risk.shadow import TRACK_CODES, US_PER_S, BoolArray, LocalRows, ShadowSnapshot, to_us

WARN_CODES: tuple[RiskCode, ...] = (RiskCode.GR071, RiskCode.GR072, RiskCode.FS105)
"""Per-position warnings, in the order they are reported; bit i of ``warn_bits`` is code i."""
_BIT = {code: 1 << i for i, code in enumerate(WARN_CODES)}

_LOWERS = np.array([lo for lo, _ in STOCK_BANDS], np.int64)
_TICKS = np.array([t for _, t in STOCK_BANDS], np.int64)
_SAFE = (2**63 - 1) // BPS  # products times BPS stay below int64's limit


@dataclass(slots=True)
class Evaluation:
    """The outcome of one cycle's evaluation, by snapshot row."""

    local: LocalRows
    actions: list[tuple[int, MicroRiskAction]] = field(default_factory=list)
    warnings: list[tuple[int, RiskCode]] = field(default_factory=list)
    errors: list[tuple[int, Exception]] = field(default_factory=list)
    suppressed: int = 0

    def sort(self) -> None:
        self.actions.sort(key=lambda t: t[0])
        self.warnings.sort(key=lambda t: (t[0], _BIT[t[1]]))
        self.errors.sort(key=lambda t: t[0])


def _apply(local: LocalRows, row: int, u: LocalUpdate) -> None:
    if u.trailing_stop_active is not None:
        local.stop_active[row] = u.trailing_stop_active
    if u.trailing_stop_price is not None:
        local.stop_price[row] = u.trailing_stop_price
    if u.partial_exit_done is not None:
        local.partial_done[row] = u.partial_exit_done
    if u.vol_reduced is not None:
        local.vol_done[row] = u.vol_reduced
    if u.time_extended is not None:
        local.extended[row] = u.time_extended


def _evaluate_row(
    snap: ShadowSnapshot,
    row: int,
    prev: LocalRows,
    pending: BoolArray,
    now: datetime,
    now_us: int,
    level: VolLevel,
    config: MicroRiskConfig,
    out: Evaluation,
) -> None:
    p = snap.position(row, prev)
    try:
        results: tuple[RuleResult, ...] = (
            vol_rule.evaluate_volatility(p, now, config.volatility, level),
            mae_rule.evaluate_mae(p, now, config.mae),
            time_rule.evaluate_time_in_trade(p, now, config.time_in_trade),
            trailing_rule.evaluate_trailing(p, now, config.trailing),
        )
    except Exception as exc:
        out.errors.append((row, exc))
        return
    local = out.local
    for r in results:
        _apply(local, row, r.update)
    chosen: MicroRiskAction | None = None
    for r in results:
        exit_ = r.exit
        if exit_ is not None:
            if pending[row]:
                out.suppressed += 1
            else:
                chosen = exit_
                _apply(local, row, r.on_exit)
            break
    if chosen is not None:
        out.actions.append((row, chosen))
    else:
        for a in results[3].actions:
            if a.action_type is ActionType.TRAILING_STOP_ADJUST:
                out.actions.append((row, a))
    bits = 0
    for r in results:
        for code in r.warnings:
            bits |= _BIT[code]
    if now_us - p.price_us > config.price_stale_ms * 1_000:
        bits |= _BIT[RiskCode.FS105]
    fresh = bits & ~int(prev.warn_bits[row])
    for code in WARN_CODES:
        if fresh & _BIT[code]:
            out.warnings.append((row, code))
    local.warn_bits[row] = bits


def evaluate_reference(
    snap: ShadowSnapshot,
    prev: LocalRows,
    pending: BoolArray,
    now: datetime,
    level: VolLevel,
    config: MicroRiskConfig,
) -> Evaluation:
    """One position at a time through the four rule functions."""
    out = Evaluation(prev.copy())
    now_us = to_us(now)
    for row in range(len(snap)):
        _evaluate_row(snap, row, prev, pending, now, now_us, level, config, out)
    return out


def evaluate_vectorised(
    snap: ShadowSnapshot,
    prev: LocalRows,
    pending: BoolArray,
    now: datetime,
    level: VolLevel,
    config: MicroRiskConfig,
) -> Evaluation:
    """The same decisions as :func:`evaluate_reference`, computed over arrays."""
    n = len(snap)
    if n == 0:
        return Evaluation(prev.copy())
    now_us = to_us(now)
    qty, cost, price, high, low = snap.qty, snap.cost, snap.price, snap.high, snap.low
    elapsed = now_us - snap.opened_us
    if (
        int(cost.max()) >= _SAFE
        or max(int(high.max()), int(price.max())) * int(qty.max()) >= _SAFE
        or int(np.abs(elapsed).max()) >= _SAFE
    ):
        return evaluate_reference(snap, prev, pending, now, level, config)
    vc, mc, tc, sc = config.volatility, config.mae, config.time_in_trade, config.trailing
    bad = snap.track < 0
    no = np.zeros(n, np.bool_)

    # 1 volatility
    vol_qty = qty * vc.ratio_bps // BPS
    vol_full = ~no if level is VolLevel.KILL else no
    vol_part = ~prev.vol_done & (vol_qty > 0) if level is VolLevel.CRITICAL else no

    # 2 MAE
    adverse = (cost - low * qty) * BPS
    mae_full = adverse >= mc.full_bps * cost
    mae_qty = qty * mc.ratio_bps // BPS
    mae_part = ~mae_full & (adverse >= mc.partial_bps * cost) & ~prev.partial_done & (mae_qty > 0)
    mae_warn = adverse >= mc.warn_bps * cost

    # 3 time in trade
    limits = np.array(
        [
            -1 if (v := tc.limits[t]) is None else v * US_PER_S
            for t in sorted(TRACK_CODES, key=TRACK_CODES.__getitem__)
        ],
        np.int64,
    )
    limit = limits[np.where(bad, 0, snap.track)]
    has = limit >= 0
    time_warn = has & (elapsed * BPS >= tc.warn_bps * limit)
    extend = has & ~prev.extended & (elapsed >= limit) & (price * qty > cost)
    extended = prev.extended | extend
    deadline = limit + np.where(extended, tc.extension_s * US_PER_S, 0)
    time_exit = has & (elapsed >= deadline)

    # 4 trailing stop
    active = prev.stop_active | ((high * qty - cost) * BPS >= sc.activation_bps * cost)
    pct = -(-high * sc.distance_bps // BPS)
    raw = np.maximum(high - np.maximum(pct, sc.min_distance), 1)
    tick = np.where(snap.etf, ETF_TICK, _TICKS[np.searchsorted(_LOWERS, raw, side="right") - 1])
    floor = np.maximum(raw - raw % tick, np.where(snap.etf, ETF_TICK, 1))
    stop = np.where(active, np.maximum(prev.stop_price, floor), prev.stop_price)
    trail_hit = active & (price <= stop)

    # first exit wins; none while one is pending
    rule = np.select(
        [vol_full, vol_part, mae_full, mae_part, time_exit, trail_hit], np.arange(6), -1
    )
    ok = ~bad
    wanted = (rule >= 0) & ok
    chosen = wanted & ~pending
    adjust = ok & ~chosen & ~trail_hit & (stop != prev.stop_price)
    stale = (now_us - snap.price_us) > config.price_stale_ms * 1_000
    bits = (
        mae_warn * _BIT[RiskCode.GR071]
        + time_warn * _BIT[RiskCode.GR072]
        + stale * _BIT[RiskCode.FS105]
    ).astype(np.int64)
    fresh = np.where(ok, bits & ~prev.warn_bits, 0)

    local = LocalRows(
        stop_active=np.where(ok, active, prev.stop_active),
        stop_price=np.where(ok, stop, prev.stop_price),
        partial_done=prev.partial_done | (chosen & (rule == 3)),
        vol_done=prev.vol_done | (chosen & (rule == 1)),
        extended=np.where(ok, extended, prev.extended),
        warn_bits=np.where(ok, bits, prev.warn_bits),
    )
    out = Evaluation(local, suppressed=int(np.count_nonzero(wanted & pending)))

    for row in np.flatnonzero(chosen | adjust).tolist():
        sym = snap.symbol(row)
        r = int(rule[row]) if chosen[row] else -1
        q = int(qty[row])
        action: MicroRiskAction
        if r == 0:
            action = vol_rule.kill_exit(sym, q)
        elif r == 1:
            action = vol_rule.reduce_exit(sym, int(vol_qty[row]), vc)
        elif r == 2:
            action = mae_rule.full_exit(sym, q, int(low[row]), mc)
        elif r == 3:
            action = mae_rule.partial_exit(sym, int(mae_qty[row]), int(low[row]), mc)
        elif r == 4:
            action = time_rule.exit_action(sym, q, int(elapsed[row]), int(deadline[row]))
        elif r == 5:
            action = trailing_rule.exit_action(sym, q, int(stop[row]), int(price[row]))
        else:
            action = trailing_rule.adjust_action(sym, int(prev.stop_price[row]), int(stop[row]))
        out.actions.append((row, action))
    for row in np.flatnonzero(fresh).tolist():
        f = int(fresh[row])
        out.warnings.extend((row, code) for code in WARN_CODES if f & _BIT[code])
    if bad.any():  # a track the arrays cannot encode: let the reference rules judge (and fail)
        for row in np.flatnonzero(bad).tolist():
            _evaluate_row(snap, row, prev, pending, now, now_us, level, config, out)
        out.sort()
    return out
