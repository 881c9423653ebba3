"""The four micro-loop rules as pure functions, table-driven with the spec's oracle values."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from risk_kit import T0, at

from qts.market.krx.tick_size import is_on_tick, round_nearest
from qts.model.enums import Track
from qts.risk import ActionType, ExitReason, PositionShadow, RiskCode
from qts.risk.rules import (
    MAEConfig,
    TimeInTradeConfig,
    TrailingStopConfig,
    VolatilityConfig,
    VolatilityMonitor,
    VolLevel,
    evaluate_mae,
    evaluate_time_in_trade,
    evaluate_trailing,
    evaluate_volatility,
    stop_price,
    volatility_level,
)

MAE = MAEConfig()
TIME = TimeInTradeConfig()
TRAIL = TrailingStopConfig()
VOL = VolatilityConfig()


def pos(qty: int = 100, avg: int = 10_000, **kw: object) -> PositionShadow:
    flags = {k: kw.pop(k) for k in list(kw) if k not in ("price", "highest", "lowest", "etf")}
    base = PositionShadow.open("005930", qty, avg, T0, Track.SWING, **kw)  # type: ignore[arg-type]
    return replace(base, **flags)  # type: ignore[arg-type]


# -- the shadow's derived numbers ---------------------------------------------------------------


def test_spec_shadow_example() -> None:
    p = pos(100, 75_000, price=75_500, highest=76_000, lowest=74_800)
    assert p.unrealized_pnl == 50_000
    assert round(p.unrealized_pnl_pct, 4) == Decimal("0.0067")
    assert round(p.mfe_pct, 4) == Decimal("0.0133")
    assert round(p.mae_pct, 4) == Decimal("-0.0027")
    # the spec's example stop (75,200) came from its buggy formula; ours keeps ≥ 500 KRW:
    assert stop_price(76_000, TRAIL) == 75_500


# -- MAE -------------------------------------------------------------------------------------------

MAE_TABLE = [
    # qty, avg, lowest, partial_done, expected type, expected qty, warnings
    (100, 100, 97, False, ActionType.FULL_EXIT, 100, True),  # spec oracle: MAE -3 % ≥ 2 %
    (100, 10_000, 9_800, False, ActionType.FULL_EXIT, 100, True),  # exactly 2.0 %
    (100, 10_000, 9_801, False, ActionType.PARTIAL_EXIT, 50, True),
    (100, 10_000, 9_850, False, ActionType.PARTIAL_EXIT, 50, True),  # exactly 1.5 %
    (101, 10_000, 9_850, False, ActionType.PARTIAL_EXIT, 50, True),  # floor(101 × 0.5)
    (3, 10_000, 9_850, False, ActionType.PARTIAL_EXIT, 1, True),
    (1, 10_000, 9_850, False, None, 0, True),  # floor(0.5) = 0: nothing to sell
    (100, 10_000, 9_851, False, None, 0, True),  # 1.49 %: warn only
    (100, 10_000, 9_900, False, None, 0, True),  # 1.0 % warns
    (100, 10_000, 9_901, False, None, 0, False),
    (100, 10_000, 9_850, True, None, 0, True),  # partial latched: once per position
    (100, 10_000, 9_800, True, ActionType.FULL_EXIT, 100, True),  # the latch never blocks 2 %
    (100, 10_000, 10_500, False, None, 0, False),
]


@pytest.mark.parametrize(("qty", "avg", "low", "done", "kind", "exit_qty", "warns"), MAE_TABLE)
def test_mae_table(
    qty: int,
    avg: int,
    low: int,
    done: bool,
    kind: ActionType | None,
    exit_qty: int,
    warns: bool,
) -> None:
    r = evaluate_mae(pos(qty, avg, lowest=low, partial_exit_done=done), T0, MAE)
    assert (r.warnings == (RiskCode.GR071,)) is warns
    if kind is None:
        assert r.exit is None
        return
    assert r.exit is not None
    assert (r.exit.action_type, r.exit.qty, r.exit.code) == (kind, exit_qty, RiskCode.FS102)
    if kind is ActionType.PARTIAL_EXIT:
        assert r.on_exit.partial_exit_done is True
        assert r.exit.reason == ExitReason.MAE_PARTIAL
    else:
        assert r.exit.reason == ExitReason.MAE_FULL


def test_mae_uses_exact_cost_basis() -> None:
    # avg 10,000.01 (cost 1,000,001 for 100): a low of 9,800 is 2.0001 % under it
    p = replace(pos(100, 10_000, lowest=9_800), cost_basis=1_000_001)
    assert evaluate_mae(p, T0, MAE).exit is not None
    # and a cost a won lower than 2 % below: 980,000 / 0.98 = 1,000,000 → exactly at the limit
    p2 = replace(pos(100, 10_000, lowest=9_800), cost_basis=999_999)
    r = evaluate_mae(p2, T0, MAE)
    assert r.exit is not None and r.exit.action_type is ActionType.PARTIAL_EXIT


def test_mae_config_checks() -> None:
    with pytest.raises(ValueError, match="basis point"):
        MAEConfig(full_pct=Decimal("0.00015"))
    with pytest.raises(ValueError, match="warn_pct <= partial_pct <= full_pct"):
        MAEConfig(partial_pct=Decimal("0.03"))


# -- trailing stop ---------------------------------------------------------------------------------

STOP_TABLE = [
    # highest, etf, stop
    (210_000, False, 208_500),  # brief oracle: 210,000 − max(1,050, 500) = 208,950 → tick 500
    (212_000, False, 210_500),  # 212,000 − 1,060 = 210,940 → 210,500
    (50_000, False, 49_500),  # 0.5 % = 250 < 500: the 500 KRW minimum distance wins
    (123_456, False, 122_800),  # 617.28 rounds the distance up (618) → 122,838 → 122,800
    (101_000, False, 100_400),
    (30_017, True, 29_515),  # ETF: flat 5 KRW tick
    (30_017, False, 29_500),
    (400, False, 1),  # the distance exceeds the price: the stop bottoms out at 1 won
    (400, True, 5),  # … or at 5 won, the lowest ETF price
]


@pytest.mark.parametrize(("high", "etf", "expected"), STOP_TABLE)
def test_stop_price_table(high: int, etf: bool, expected: int) -> None:
    assert stop_price(high, TRAIL, etf) == expected
    assert is_on_tick(expected, etf)


TRAIL_TABLE = [
    # avg, highest, price, active, old stop → expected action, new stop
    (200_000, 210_000, 209_000, False, 0, ActionType.TRAILING_STOP_ADJUST, 208_500),
    (200_000, 210_000, 208_500, False, 0, ActionType.FULL_EXIT, 208_500),  # price == stop
    (200_000, 210_000, 209_000, True, 208_500, None, 208_500),
    (200_000, 212_000, 211_000, True, 208_500, ActionType.TRAILING_STOP_ADJUST, 210_500),
    (200_000, 209_000, 209_500, True, 209_000, None, 209_000),  # computed 207,500: no move down
    (200_000, 209_000, 209_000, True, 209_000, ActionType.FULL_EXIT, 209_000),
    (100_000, 101_000, 100_900, False, 0, ActionType.TRAILING_STOP_ADJUST, 100_400),  # +1.0 %
    (100_000, 100_900, 100_900, False, 0, None, 0),  # +0.9 %: not active
    (100_000, 100_900, 50_000, False, 0, None, 0),  # inactive stops never fire
]


@pytest.mark.parametrize(("avg", "high", "price", "active", "old", "kind", "new"), TRAIL_TABLE)
def test_trailing_table(
    avg: int,
    high: int,
    price: int,
    active: bool,
    old: int,
    kind: ActionType | None,
    new: int,
) -> None:
    p = pos(
        100,
        avg,
        price=price,
        highest=high,
        trailing_stop_active=active,
        trailing_stop_price=old,
    )
    r = evaluate_trailing(p, T0, TRAIL)
    kinds = [a.action_type for a in r.actions]
    assert kinds == ([] if kind is None else [kind])
    if kind is ActionType.FULL_EXIT:
        assert r.actions[0].qty == 100
        assert r.actions[0].payload == {"stop": new, "price": price}
    if kind is ActionType.TRAILING_STOP_ADJUST:
        assert r.actions[0].payload == {"old_stop": old, "new_stop": new}
    if active or kind is not None:
        assert r.update.trailing_stop_price in (None, new)
        stored = old if r.update.trailing_stop_price is None else r.update.trailing_stop_price
        assert stored == new


def test_trailing_activation_is_exact_at_one_percent() -> None:
    # cost 10,000,000 for 100; +1 % is a high of 101,000.00 — 100,999 is just short
    assert (
        evaluate_trailing(pos(100, 100_000, highest=100_999), T0, TRAIL).update.trailing_stop_active
        is None
    )
    assert evaluate_trailing(
        pos(100, 100_000, highest=101_000), T0, TRAIL
    ).update.trailing_stop_active


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(5, 1_000_000),
    moves=st.lists(st.integers(-300, 300), min_size=1, max_size=80),
    etf=st.booleans(),
)
def test_trailing_stop_property(start: int, moves: list[int], etf: bool) -> None:
    """Over any on-grid price path: the stop never moves down, sits on the grid, stays ≤ the
    high, and is active exactly once the high has been ≥ +1 %; exit iff price ≤ stop."""
    avg = round_nearest(start, etf)
    p = pos(100, avg, etf=etf)
    last_stop = 0
    for bp in moves:
        price = round_nearest(max(5, p.current_price + p.current_price * bp // 10_000), etf)
        p = replace(
            p,
            current_price=price,
            highest=max(p.highest, price),
            lowest=min(p.lowest, price),
        )
        r = evaluate_trailing(p, T0, TRAIL)
        u = r.update
        p = replace(
            p,
            trailing_stop_active=u.trailing_stop_active or p.trailing_stop_active,
            trailing_stop_price=(
                p.trailing_stop_price if u.trailing_stop_price is None else u.trailing_stop_price
            ),
        )
        assert p.trailing_stop_active is (100 * p.highest >= 101 * avg)
        if p.trailing_stop_active:
            assert p.trailing_stop_price >= last_stop
            assert is_on_tick(p.trailing_stop_price, etf)
            assert p.trailing_stop_price <= p.highest
            exit_ = r.exit
            assert (exit_ is not None) is (price <= p.trailing_stop_price)
            last_stop = p.trailing_stop_price
        else:
            assert p.trailing_stop_price == 0 and not r.actions


# -- time in trade ---------------------------------------------------------------------------------

TIME_TABLE = [
    # track, elapsed s, price vs avg, extended → exit?, warn?, extends?
    (Track.SCALP, 2_879, 0, False, False, False, False),
    (Track.SCALP, 2_880, 0, False, False, True, False),  # 80 % of 3,600
    (Track.SCALP, 3_599, -100, False, False, True, False),
    (Track.SCALP, 3_600, -100, False, True, True, False),  # losing at the limit: out
    (Track.SCALP, 3_600, 0, False, True, True, False),  # break-even is not profitable
    (Track.SCALP, 3_600, 100, False, False, True, True),  # profitable: +30 min, once
    (Track.SCALP, 5_399, 100, True, False, True, False),
    (Track.SCALP, 5_400, 100, True, True, True, False),  # still profitable: no second extension
    (Track.SCALP, 9_000, 100, False, True, True, True),  # first seen late: extension already spent
    (Track.SWING, 604_799, -100, False, False, True, False),
    (Track.SWING, 604_800, -100, False, True, True, False),  # 7 days, calendar time
    (Track.SWING, 483_839, 0, False, False, False, False),
    (Track.SWING, 483_840, 0, False, False, True, False),
    (Track.PORTFOLIO, 10 * 365 * 86_400, -100, False, False, False, False),  # no limit
]


@pytest.mark.parametrize(
    ("track", "elapsed", "delta", "extended", "exits", "warns", "extends"), TIME_TABLE
)
def test_time_in_trade_table(
    track: Track,
    elapsed: int,
    delta: int,
    extended: bool,
    exits: bool,
    warns: bool,
    extends: bool,
) -> None:
    p = replace(pos(100, 10_000, price=10_000 + delta), track=track, time_extended=extended)
    r = evaluate_time_in_trade(p, at(elapsed), TIME)
    assert (r.exit is not None) is exits
    assert (RiskCode.GR072 in r.warnings) is warns
    assert (r.update.time_extended is True) is extends
    if r.exit is not None:
        assert r.exit.reason == ExitReason.TIME
        limit = 3_600 if track is Track.SCALP else 604_800
        ext = 1_800 if (extended or extends) else 0
        assert r.exit.payload == {"time_in_trade_s": elapsed, "limit_s": limit + ext}


def test_time_in_trade_unknown_track_raises() -> None:
    p = replace(pos(), track="DAYTRADE")  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        evaluate_time_in_trade(p, at(10), TIME)


# -- volatility ------------------------------------------------------------------------------------

LEVELS = [
    (None, VolLevel.NORMAL),
    (math.nan, VolLevel.NORMAL),
    (24.99, VolLevel.NORMAL),
    (25.0, VolLevel.WARNING),
    (29.99, VolLevel.WARNING),
    (30.0, VolLevel.CRITICAL),
    (39.99, VolLevel.CRITICAL),
    (40.0, VolLevel.KILL),
    (45.0, VolLevel.KILL),
]


@pytest.mark.parametrize(("value", "level"), LEVELS)
def test_volatility_levels(value: float | None, level: VolLevel) -> None:
    assert volatility_level(value, VOL) is level


VOL_TABLE = [
    # level, qty, vol_reduced → type, qty, code
    (VolLevel.KILL, 100, False, ActionType.FULL_EXIT, 100, RiskCode.FS104),
    (VolLevel.KILL, 100, True, ActionType.FULL_EXIT, 100, RiskCode.FS104),
    (VolLevel.CRITICAL, 101, False, ActionType.PARTIAL_EXIT, 50, RiskCode.FS102),
    (VolLevel.CRITICAL, 100, True, None, 0, None),  # halved once per position
    (VolLevel.CRITICAL, 1, False, None, 0, None),
    (VolLevel.WARNING, 100, False, None, 0, None),
    (VolLevel.NORMAL, 100, False, None, 0, None),
]


@pytest.mark.parametrize(("level", "qty", "done", "kind", "exit_qty", "code"), VOL_TABLE)
def test_volatility_per_position(
    level: VolLevel,
    qty: int,
    done: bool,
    kind: ActionType | None,
    exit_qty: int,
    code: RiskCode | None,
) -> None:
    r = evaluate_volatility(pos(qty, vol_reduced=done), T0, VOL, level)
    if kind is None:
        assert r.exit is None
        return
    assert r.exit is not None
    assert (r.exit.action_type, r.exit.qty, r.exit.code) == (kind, exit_qty, code)


def test_volatility_monitor_episodes() -> None:
    m = VolatilityMonitor(VOL)
    seen = []
    for value in (20, 26, 31, 32, 29, 31, 45, 46, 20):
        m.push(value, T0)
        s = m.step()
        seen.append((s.level, [a.action_type for a in s.actions], s.warnings))
    K, C, W, N = VolLevel.KILL, VolLevel.CRITICAL, VolLevel.WARNING, VolLevel.NORMAL
    red, kill = (
        [ActionType.REDUCE_EXPOSURE],
        [
            ActionType.KILL_SWITCH,
            ActionType.ETEDA_SUSPEND,
            ActionType.BLOCK_ENTRIES,
        ],
    )
    g = (RiskCode.GR073,)
    assert seen == [
        (N, [], ()),
        (W, [], g),
        (C, red, g),  # halve exposure: once per episode
        (C, [], g),
        (W, [], g),
        (C, red, g),  # a new episode
        (K, kill, g),  # VKOSPI 45: kill switch, once
        (K, [], g),
        (K, [], g),  # latched: LOCKDOWN is released by an operator, not by the index
    ]
    m.release_kill_switch()
    s = m.step()
    assert s.level is VolLevel.NORMAL and not m.killed


def test_kill_switch_actions_carry_codes() -> None:
    m = VolatilityMonitor(VOL)
    m.push(45.0, T0)
    acts = {a.action_type: a for a in m.step().actions}
    assert acts[ActionType.KILL_SWITCH].code is RiskCode.FS104
    assert acts[ActionType.ETEDA_SUSPEND].code is RiskCode.FS103
    assert acts[ActionType.ETEDA_SUSPEND].payload == {"duration_ms": None}  # indefinite
