"""The micro risk loop protects a position while the ETEDA loop is stalled.

Real parts on real threads: the journaled simulated exchange, the order manager, the threaded
event spine (P0 handler thread, P1 pool) and the micro risk loop on its own 100 ms thread with the
wall clock. ETEDA is stuck inside a strategy; prices arrive as P1 ticks; the trailing stop must
send the exit within two loop periods of the price crossing it, and the exchange fills it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from qts.app.wiring import Engine, build_engine
from qts.core.clock import WallClock
from qts.engines.contracts import CalcData, OrderDecision, StrategyDecision
from qts.engines.indicators import IndicatorSpec
from qts.engines.risk import RiskLimits
from qts.events import Event, EventType
from qts.execution.oms import EMERGENCY_STRATEGY
from qts.feeds.bars import BarSeries, to_epoch
from qts.feeds.replay import FrameTable
from qts.market.krx.calendar import KrxCalendar
from qts.model.enums import OrderSide, OrderType, Track
from qts.model.frame import BarFrame
from qts.model.instrument import Instrument
from qts.pipeline.runner import SessionView

SYM = "005930"


def first_bar_time() -> datetime:
    """The first minute the simulated exchange trades an order sent now (wall clock): the next
    minute of today's session, or the next trading day's open."""
    cal = KrxCalendar()
    now = WallClock().now()
    today = now.date()
    if cal.is_trading_day(today):
        s = cal.session(today)
        if now < s.close - timedelta(minutes=10):
            start = max(now.replace(second=0, microsecond=0) + timedelta(minutes=1), s.open)
            return start
    return cal.session(cal.next_trading_day(today)).open


T0 = first_bar_time()  # set again by the fixture: a long test session outlives a minute


class Stuck:
    """A strategy that never returns until released: the ETEDA loop is stalled inside it."""

    name: ClassVar[str] = "stuck"
    track: ClassVar[Track] = Track.SWING

    def __init__(self) -> None:
        self.params = None
        self.entered = threading.Event()
        self.release = threading.Event()

    def indicators(self) -> list[IndicatorSpec]:
        return []

    def evaluate(self, calc: CalcData) -> list[StrategyDecision]:
        self.entered.set()
        self.release.wait(30)
        return []


def bar(minute: int, price: int) -> BarFrame:
    ts = np.array([to_epoch(T0 + timedelta(minutes=minute))], dtype=np.int64)
    p = np.array([price], dtype=np.int64)
    return next(FrameTable([BarSeries(SYM, ts, p, p, p, p, np.array([50_000]))]).frames())


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[Engine, Stuck]]:
    global T0
    T0 = first_bar_time()
    strategy = Stuck()
    e = build_engine(
        run_id="stalled",
        mode="paper",
        universe=bar(0, 70_000).universe,
        instruments={SYM: Instrument.krx(SYM)},
        strategies=[strategy],
        initial_cash=100_000_000,
        fees="krx",
        limits=RiskLimits(),
        start=T0,
        db=tmp_path / "r.sqlite",
        durable=True,
        participation=1.0,
        latency_ms=0,
        reference_prices={SYM: 70_000},
        threaded_events=True,
        protect=True,
        wall_clock=True,
    )
    yield e, strategy
    strategy.release.set()
    e.close()


def test_trailing_stop_exits_within_two_periods_while_eteda_is_stalled(
    engine: tuple[Engine, Stuck],
) -> None:
    e, strategy = engine
    spine, oms, micro = e.spine, e.oms, e.spine.micro
    # a position of 100 shares at 70,000, bought and filled on the exchange
    buy = OrderDecision(
        SYM, OrderSide.BUY, 100, OrderType.MARKET, None, "setup", "stuck", Track.SWING, 70_000
    )
    assert oms.submit(buy, "setup", e.clock.now()).status == "submitted"
    e.venue.on_frame(bar(0, 70_000))
    spine.settle(oms.broker.drain_events())
    assert oms.account.held_qty(SYM) == 100
    assert micro.wait_for_cycle(micro.cycles + 1, 5)  # the loop runs and sees the position

    # ETEDA stalls inside Evaluate, on its own thread
    eteda = threading.Thread(
        target=e.runner.run_cycle,
        args=(bar(1, 70_000), e.clock.now(), SessionView(True, 300)),
        daemon=True,
    )
    eteda.start()
    assert strategy.entered.wait(5)

    def tick(price: int) -> None:
        spine.dispatcher.publish(
            Event.of(EventType.PRICE_TICK, (SYM, price, e.clock.now()), key=SYM)
        )
        spine.dispatcher.wait_idle()

    tick(70_800)  # +1.1 %: the trailing stop activates
    tick(71_500)  # new high: stop = 71,500 - max(357.5, 500) = 71,000 on the tick grid
    assert micro.wait_for_cycle(micro.cycles + 2, 5)
    shadow = micro.position(SYM)
    assert shadow is not None and shadow.trailing_stop_active
    assert shadow.trailing_stop_price == 71_000
    assert not [o for o in oms.orders.values() if o.strategy == EMERGENCY_STRATEGY]

    crossed_at = micro.cycles
    tick(70_900)  # through the stop
    assert micro.wait_for_cycle(crossed_at + 2, 5)
    spine.dispatcher.wait_idle()
    exits = [o for o in oms.orders.values() if o.strategy == EMERGENCY_STRATEGY]
    assert len(exits) == 1, "exactly one emergency exit"
    exit_order = exits[0]
    assert (exit_order.side, exit_order.qty) == (OrderSide.SELL, 100)
    actions = [r for r in spine.emergency.results if r.symbol == SYM]
    assert actions and actions[0].status == "submitted"
    assert eteda.is_alive() and not strategy.release.is_set()  # ETEDA never moved

    e.venue.on_frame(bar(2, 70_900))  # the exchange fills the exit on the next bar
    spine.settle(oms.broker.drain_events())
    assert oms.account.held_qty(SYM) == 0
    sells = [r for r in oms.account.ledger.entries if r.side is OrderSide.SELL]
    assert [(r.qty, r.price, r.strategy) for r in sells] == [(100, 70_900, EMERGENCY_STRATEGY)]
    assert oms.account.reconcile() == []
    codes = [ev.code for ev in e.runner.safety.history()]
    assert "FS102" in codes  # emergency exit reported to safety
    strategy.release.set()
    eteda.join(5)
