"""A scalp exit restored after a crash, over real HTTP and WebSocket against the KIS fake.

As in a live run against a replayed market, the pipeline runs on the engine's wall clock while
decisions carry the venue's time, hours ahead of it. The process dies (``kill -9``: nothing is
closed in an orderly way) with a scalp exit resting at the broker; a new process over the same
books reconciles with the broker and restores the pipeline from the store. The exit's
execution must end — here by its fill monitor's deadline on the pipeline's own clock, then the
adjustments and the escape that flattens the position — instead of blocking every later exit
for the rest of the day.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from kis_kit import CASH, INSTRUMENTS, SAMSUNG, UNIVERSE, WAIT, Tape

from qts.app.scalp import ScalpWiring
from qts.app.spine import RunSpine
from qts.app.wiring import restore_account
from qts.brokers.kis import KisBroker
from qts.brokers.kis.fake import FakeKisServer
from qts.core.clock import SimulatedClock
from qts.data.ports import RunMeta
from qts.data.sqlite import SqliteStore
from qts.engines.contracts import OrderDecision
from qts.events import InlineDispatcher
from qts.execution.oms import EMERGENCY_STRATEGY, OrderManager
from qts.execution.stages.pipeline import STATE_KEY
from qts.execution.stages.state import ExecState
from qts.market.krx.calendar import KrxCalendar
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track
from qts.safety.supervisor import SafetySupervisor

BOOK = pytest.mark.parametrize("fake_options", [{"order_book": True}], indirect=True)
STRATEGY = "scalp_reversion"
LAG = timedelta(hours=5)  # the engine's wall clock behind the venue's replay time


class Process:
    """What one run process holds: books, order manager, spine and scalp pipeline."""

    def __init__(self, broker: KisBroker, db: Path, wall: SimulatedClock) -> None:
        self.broker = broker
        self.store = SqliteStore(str(db))
        meta = self.store.init_run(RunMeta("rs", "test", CASH, wall.now(), 0, {}))
        self.oms = OrderManager(
            "rs",
            broker,
            self.store,
            restore_account(self.store, meta.initial_cash),
            UNIVERSE,
            INSTRUMENTS,
            lambda d: d + timedelta(2),
        )
        self.report = self.oms.reconcile(wall.now(), cancel_unknown=True)  # a real broker's run
        safety = SafetySupervisor(self.store, wall, [])
        self.spine = RunSpine(InlineDispatcher(), self.oms, safety, wall, protect=False)
        self.spine.start()
        self.scalp = ScalpWiring(
            "rs", self.oms, safety, self.spine.controls, self.spine.dispatcher, wall, KrxCalendar()
        )
        self.spine.fill_listeners.append(self.scalp.on_fill)
        self.spine.update_listeners.append(self.scalp.on_update)

    def settle_until(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while not done():
            self.spine.settle(self.broker.drain_events())
            assert time.monotonic() < deadline, "the venue's reports did not arrive"
            self.broker.wait_events(1, 0.2)

    def run_until(self, wall: SimulatedClock, done: Callable[[], bool]) -> None:
        """Book the venue's reports and let the pipeline's timer run, a second at a time."""
        deadline = time.monotonic() + WAIT
        while not done():
            self.spine.settle(self.broker.drain_events())
            wall.advance(timedelta(seconds=1))
            self.scalp.on_time(wall.now())
            assert time.monotonic() < deadline, "the venue's reports did not arrive"
            self.broker.wait_events(1, 0.2)


def decision(side: OrderSide, qty: int, price: int) -> OrderDecision:
    return OrderDecision(
        SAMSUNG, side, qty, OrderType.LIMIT, None, "t", STRATEGY, Track.SCALP, price
    )


@BOOK
def test_a_restored_exit_resting_at_the_broker_ends_and_unblocks_the_symbol(
    fake: FakeKisServer, connect: Callable[..., KisBroker], clock: SimulatedClock, tmp_path: Path
) -> None:
    db, orders = tmp_path / "books.sqlite", tmp_path / "kis-orders.sqlite"
    wall = SimulatedClock(clock.now() - LAG)
    fake.advance(Tape().frame(volume=100))  # the book: 20 shares a step around 70,000
    first = Process(connect(state_path=orders), db, wall)
    entry = first.scalp.pipeline.execute(decision(OrderSide.BUY, 20, 70_100), "c1", clock.now())
    assert entry.status == "submitted"
    first.settle_until(lambda: first.oms.account.held_qty(SAMSUNG) == 20)
    exit_ = first.scalp.pipeline.execute(decision(OrderSide.SELL, 20, 70_500), "c2", clock.now())
    assert exit_.status == "submitted"  # resting above the bid
    eid = exit_.client_order_id
    assert [o.client_order_id for o in first.broker.open_orders()] == [f"{eid}.1"]
    stored = first.store.load_state(STATE_KEY)
    assert stored is not None and stored[eid]["state"] == "MONITORING"

    # kill -9: the process's objects are gone; only the broker (one session per app key) and
    # the clocks go on
    first.broker.close()
    clock.advance(timedelta(minutes=30))
    wall.advance(timedelta(minutes=30))

    second = Process(connect(state_path=orders), db, wall)
    assert second.report.clean, second.report.problems
    assert second.oms.account.held_qty(SAMSUNG) == 20
    ex = second.scalp.pipeline.live[eid]
    assert ex.state is ExecState.MONITORING
    # its order still works at the broker: a second exit is refused (nothing sold twice)
    assert second.scalp.inputs.has_live_execution(SAMSUNG, STRATEGY, OrderSide.SELL)
    assert ex.monitor_until is not None and ex.monitor_until <= wall.now() + timedelta(seconds=60)

    wall.advance(timedelta(seconds=60))  # the fill monitor's deadline, on the pipeline's clock
    second.scalp.on_time(wall.now())
    assert ex.rounds == 1  # AdaptiveAdjust: the slice re-priced at the broker
    for _ in range(3):
        wall.advance(timedelta(seconds=1))
        second.settle_until(
            lambda: not any(o.status is OrderStatus.NEW for o in second.oms.open_orders())
        )
        second.scalp.on_time(wall.now())
    assert ex.state is ExecState.ESCAPED
    assert not second.scalp.inputs.has_live_execution(SAMSUNG, STRATEGY, OrderSide.SELL)
    # the escape's exit goes once the broker confirmed the cancels (SpineEscape retries it)
    second.run_until(wall, lambda: second.oms.account.held_qty(SAMSUNG) == 0)
    exits = [o for o in second.oms.orders.values() if o.strategy == EMERGENCY_STRATEGY]
    assert [(o.side, o.qty, o.status) for o in exits] == [(OrderSide.SELL, 20, OrderStatus.FILLED)]
    second.settle_until(lambda: second.broker.open_orders() == [])
    assert second.broker.balance().holdings == {}
    assert second.store.load_state(STATE_KEY) == {}
    second.scalp.close()
    second.spine.stop()
