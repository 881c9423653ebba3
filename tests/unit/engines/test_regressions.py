"""Regression tests for bugs found while writing the engine, pipeline and config tests."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from calc_kit import Book, Feed, Holding, calc, frame

from qts.config.loader import load_config
from qts.engines.contracts import (
    CalcData,
    Evaluation,
    EvaluationResult,
    RiskDecision,
    StrategyDecision,
)
from qts.engines.indicators import IndicatorSpec
from qts.engines.risk import RiskGate, RiskLimits
from qts.engines.strategy.swing_breakout import SwingBreakout, SwingParams
from qts.market.krx.tick_size import is_on_tick
from qts.model.enums import OrderType, Signal, Track
from qts.model.frame import Universe
from qts.pipeline.decide import DecidePolicy, decide
from qts.pipeline.evaluate import evaluate

UNI = Universe(("A", "B", "C"))


def test_config_problems_in_strategy_params_are_reported_alongside_other_problems(
    tmp_path: Path,
) -> None:
    local = tmp_path / "qts.yaml"
    local.write_text(
        "execution:\n  bogus: 1\n"
        "strategies:\n  scalp_reversion:\n    params:\n      rsi_windw: 3\n",
        encoding="utf-8",
    )
    reported = {p.key for p in load_config(local, env={}).problems}
    assert reported == {"execution.bogus", "strategies.scalp_reversion.params.rsi_windw"}


def test_config_live_gate_is_checked_even_when_another_key_is_wrong(tmp_path: Path) -> None:
    local = tmp_path / "qts.yaml"
    local.write_text("mode: live\nrun:\n  seed: x\n", encoding="utf-8")
    reported = {p.key for p in load_config(local, env={}).problems}
    assert {"execution.live_enabled", "ENABLE_REAL_ORDER", "QTS_LIVE_ACK"} <= reported


def test_config_model_level_param_error_key_has_no_trailing_dot(tmp_path: Path) -> None:
    local = tmp_path / "qts.yaml"
    local.write_text(
        "strategies:\n  sma_cross:\n    params:\n      fast: 30\n      slow: 10\n", encoding="utf-8"
    )
    (p,) = load_config(local, env={}).problems
    assert p.key == "strategies.sma_cross.params"


def test_swing_stop_loss_fires_at_exactly_the_stop_price() -> None:
    params = SwingParams(
        breakout_window=2, exit_window=20, trend_fast=2, trend_slow=4, atr_window=20
    )
    strategy = SwingBreakout(params)  # stop_loss_pct 7.0; channel and ATR exits not ready
    feed = Feed(("A",), strategy.indicators())
    book = Book(holdings={"A": Holding(10, 1000, "swing_breakout")})
    feed.push([1000], book)
    out = strategy.evaluate(feed.push([930], book))  # exactly −7.00 %
    assert [(d.signal, d.reason) for d in out] == [(Signal.SELL, "stop loss at 930")]


def test_decide_sell_limit_offset_near_the_bottom_of_the_grid_is_clipped() -> None:
    c = calc(
        frame(UNI, [3, 100, 100]),
        Book(holdings={"A": Holding(10, 3, "s")}),
        base_price=np.array([3, 100, 100], dtype=np.int64),
    )
    d = StrategyDecision("A", "s", Track.SWING, Signal.SELL, "exit", 10)
    ev = Evaluation(c, (EvaluationResult(d, 3, 10, RiskDecision(True, 10, "OK"), "EXIT"),))
    policy = DecidePolicy(order_type=OrderType.LIMIT, limit_offset_ticks=5)
    (o,) = decide(ev, policy).orders
    assert o.limit_price == 3  # the lower daily limit of base 3
    assert is_on_tick(o.limit_price)


def test_risk_position_qty_cap_is_shared_by_buys_of_one_cycle() -> None:
    c = calc(frame(UNI, [10_000, 20_000, 5_000]), Book(holdings={"A": Holding(20, 10_000, "s")}))
    gate = RiskGate(RiskLimits(max_position_qty=50))
    gate.start_cycle(c)
    d = StrategyDecision("A", "s", Track.SWING, Signal.BUY, "in", 30)
    assert gate.check(c, d, 30, 10_000).allowed_qty == 30
    second = gate.check(c, d, 30, 10_000)
    assert (second.approved, second.allowed_qty) == (False, 0)


class _Fixed:
    """A strategy that says one fixed decision every cycle."""

    name: ClassVar[str] = "fixed"
    track: ClassVar[Track] = Track.SWING

    def __init__(self, d: StrategyDecision) -> None:
        self.params = None
        self.d = d

    def indicators(self) -> list[IndicatorSpec]:
        return []

    def evaluate(self, calc_: CalcData) -> list[StrategyDecision]:
        return [self.d]


class _In(_Fixed):
    name: ClassVar[str] = "in"


class _Out(_Fixed):
    name: ClassVar[str] = "out"


def test_a_sell_in_the_same_cycle_frees_exposure_room_for_a_buy() -> None:
    # 5 M of A held, equity 10 M, max exposure 50 %: no room until A is sold
    c = calc(
        frame(UNI, [10_000, 20_000, 5_000]),
        Book(cash=5_000_000, holdings={"A": Holding(500, 10_000, "s")}),
    )
    sell = StrategyDecision("A", "out", Track.SWING, Signal.SELL, "exit", 500)
    buy = StrategyDecision("B", "in", Track.SWING, Signal.BUY, "entry", 100)
    ev = evaluate(c, [_In(buy), _Out(sell)], RiskGate(RiskLimits(max_exposure=0.5)))
    by_symbol = {r.decision.symbol: r.final_qty for r in ev.results}
    assert by_symbol == {"A": 500, "B": 100}
