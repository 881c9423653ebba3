"""ETEDA commits and the micro loop's emergency exits, at the same time, never deadlock.

The live run froze with a lock-order inversion: the ETEDA thread committed a cycle holding the
store's transaction and then asked for the order manager's lock (``save_answers``), while the P0
thread held the order manager's lock for an emergency exit and asked for the store's
transaction (``submit_all``). Real parts on real threads: a durable SQLite store, the journaled
simulated exchange, the threaded event spine (emergency exits run on its P0 handler thread, as
the micro loop's sink sends them) and ETEDA cycles on a second thread. Both sides run hundreds of
times; a deadlock shows as a thread that does not finish by the deadline.
"""

from __future__ import annotations

import sys
import threading
import traceback
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
from qts.risk import ActionType, MicroRiskAction

SYM = "005930"
ROUNDS = 300
DEADLINE_S = 30.0


def first_bar_time() -> datetime:
    """The first minute the simulated exchange trades an order sent now (wall clock)."""
    cal = KrxCalendar()
    now = WallClock().now()
    today = now.date()
    if cal.is_trading_day(today):
        s = cal.session(today)
        if now < s.close - timedelta(minutes=10):
            return max(now.replace(second=0, microsecond=0) + timedelta(minutes=1), s.open)
    return cal.session(cal.next_trading_day(today)).open


class Idle:
    """A strategy with nothing to say: every cycle still commits (equity, checkpoint, answers)."""

    name: ClassVar[str] = "idle"
    track: ClassVar[Track] = Track.SWING
    params = None

    def indicators(self) -> list[IndicatorSpec]:
        return []

    def evaluate(self, calc: CalcData) -> list[StrategyDecision]:
        return []


def bar(t0: datetime, minute: int, price: int = 70_000) -> BarFrame:
    ts = np.array([to_epoch(t0 + timedelta(minutes=minute))], dtype=np.int64)
    p = np.array([price], dtype=np.int64)
    return next(FrameTable([BarSeries(SYM, ts, p, p, p, p, np.array([50_000]))]).frames())


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[Engine, datetime]]:
    t0 = first_bar_time()  # now, not at import: the setup order must fill on the first bar
    e = build_engine(
        run_id="lock-order",
        mode="paper",
        universe=bar(t0, 0).universe,
        instruments={SYM: Instrument.krx(SYM)},
        strategies=[Idle()],
        initial_cash=10_000_000_000,
        fees="krx",
        limits=RiskLimits(),
        start=t0,
        db=tmp_path / "r.sqlite",
        durable=False,
        participation=1.0,
        latency_ms=0,
        reference_prices={SYM: 70_000},
        threaded_events=True,
        protect=False,  # the test plays the micro loop: it sends the exits itself
        wall_clock=True,  # emergency exits are named by the time they are sent
    )
    yield e, t0
    # a deadlocked engine cannot be closed: close it on a daemon thread and move on
    closer = threading.Thread(target=e.close, name="close-engine", daemon=True)
    closer.start()
    closer.join(10)


def _stacks() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    return "\n".join(
        f"--- {names.get(ident, ident)}\n" + "".join(traceback.format_stack(frame))
        for ident, frame in sys._current_frames().items()
    )


def test_eteda_commits_and_emergency_exits_concurrently_do_not_deadlock(
    engine: tuple[Engine, datetime],
) -> None:
    e, t0 = engine
    oms, spine = e.oms, e.spine
    buy = OrderDecision(
        SYM, OrderSide.BUY, 10_000, OrderType.MARKET, None, "setup", "idle", Track.SWING, 70_000
    )
    assert oms.submit(buy, "setup", e.clock.now()).status == "submitted"
    assert e.venue is not None
    e.venue.on_frame(bar(t0, 0))
    spine.settle(oms.broker.drain_events())
    assert oms.account.held_qty(SYM) == 10_000

    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def eteda() -> None:
        try:
            start.wait()
            for k in range(1, ROUNDS + 1):
                frame = bar(t0, k)
                e.runner.run_cycle(frame, frame.end, SessionView(True, 300))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def micro_loop() -> None:
        try:
            start.wait()
            for k in range(ROUNDS):
                action = MicroRiskAction(
                    ActionType.PARTIAL_EXIT, SYM, 1, f"test exit {k}", action_id=str(k)
                )
                spine.dispatcher.publish(Event.of(EventType.EMERGENCY_ORDER, action, key=SYM))
            spine.dispatcher.wait_idle()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=eteda, name="eteda-test", daemon=True),
        threading.Thread(target=micro_loop, name="micro-test", daemon=True),
    ]
    for t in threads:
        t.start()
    end = threading.Event()
    for t in threads:
        t.join(DEADLINE_S)
    stuck = [t.name for t in threads if t.is_alive()]
    end.set()
    assert not stuck, f"deadlock: {stuck} did not finish in {DEADLINE_S} s\n{_stacks()}"
    assert not errors, errors
    assert e.runner.cycles == ROUNDS
    exits = [o for o in oms.orders.values() if o.strategy == EMERGENCY_STRATEGY]
    assert len(exits) == ROUNDS
    assert all(o.venue_order_id for o in exits), "every exit was sent and its answer stored"
    stored = {o.client_order_id: o for o in e.store.load_orders()}
    assert all(stored[o.client_order_id].status is o.status for o in exits)
