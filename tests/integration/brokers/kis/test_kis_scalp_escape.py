"""EmergencyEscape under a broker disconnect, over real HTTP and WebSocket against the KIS fake:
a scalp entry half filled, the fake drops the real-time session, the pipeline escapes —
its resting slice is cancelled and the bought shares are sold at market — and once the session
is back the books show the position flat."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from kis_kit import (
    CASH,
    INSTRUMENTS,
    SAMSUNG,
    UNIVERSE,
    WAIT,
    Tape,
    buy,
    collect,
    filled_qty,
    fills_of,
)

from qts.app.scalp import ScalpWiring
from qts.app.spine import RunSpine
from qts.brokers.kis import KisBroker
from qts.brokers.kis.fake import FakeKisServer
from qts.core.clock import SimulatedClock
from qts.data.memory import MemoryStore
from qts.data.ports import RunMeta
from qts.engines.contracts import OrderDecision
from qts.events import InlineDispatcher
from qts.execution.oms import EMERGENCY_STRATEGY, OrderManager
from qts.execution.stages.state import ExecState
from qts.market.krx.calendar import KrxCalendar
from qts.model.account import Account
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track
from qts.safety.supervisor import SafetySupervisor

BOOK = pytest.mark.parametrize("fake_options", [{"order_book": True}], indirect=True)


@BOOK
def test_fake_trades_on_the_book_and_shows_it_over_rest(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    broker = connect()
    fake.advance(Tape().frame(volume=100))  # a ladder around 70,000: 20 shares a step
    book = broker.order_book(SAMSUNG)
    assert book.bids[:2] == ((70_000, 20), (69_900, 40))
    assert book.asks[:2] == ((70_100, 20), (70_200, 40))
    assert broker.submit(buy("m1", 30)).accepted  # a MARKET buy fills at once: 20 + 10
    events = collect(broker, lambda ev: filled_qty(ev, "m1") == 30)
    assert [(f.qty, f.price) for f in fills_of(events)] == [(20, 70_100), (10, 70_200)]
    assert broker.order_book(SAMSUNG).asks[0] == (70_200, 30)  # the depth we took is gone
    assert broker.submit(buy("l1", 5, 69_900)).accepted  # rests behind the 40 shown
    assert broker.order_book(SAMSUNG).bids[1] == (69_900, 45)


@BOOK
def test_escape_on_disconnect_flattens_the_position(
    fake: FakeKisServer, connect: Callable[..., KisBroker], clock: SimulatedClock
) -> None:
    broker = connect()
    assert broker.ws is not None
    tape = Tape()
    fake.advance(tape.frame(volume=100))  # the book: 20 shares a step around 70,000
    store = MemoryStore()
    store.init_run(RunMeta("esc", "test", CASH, clock.now(), 0, {}))
    oms = OrderManager(
        "esc", broker, store, Account(CASH), UNIVERSE, INSTRUMENTS, lambda d: d + timedelta(2)
    )
    safety = SafetySupervisor(store, clock, [])
    spine = RunSpine(InlineDispatcher(), oms, safety, clock, protect=False)
    spine.start()
    scalp = ScalpWiring("esc", oms, safety, spine.controls, spine.dispatcher, clock, KrxCalendar())
    spine.fill_listeners.append(scalp.on_fill)
    spine.update_listeners.append(scalp.on_update)

    def settle_until(done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while not done():
            spine.settle(broker.drain_events())
            assert time.monotonic() < deadline, "the venue's reports did not arrive"
            broker.wait_events(1, 0.2)

    decision = OrderDecision(
        SAMSUNG,
        OrderSide.BUY,
        50,
        OrderType.LIMIT,
        None,
        "dip",
        "scalp_reversion",
        Track.SCALP,
        70_000,
    )
    result = scalp.pipeline.execute(decision, "c1", clock.now())
    assert result.status == "submitted"
    ex = scalp.pipeline.live[result.client_order_id]
    settle_until(lambda: oms.account.held_qty(SAMSUNG) == 20)  # the ask showed 20
    assert ex.state is ExecState.MONITORING and ex.filled == 20
    resting = [o for o in oms.open_orders() if o.strategy == "scalp_reversion"]
    assert len(resting) == 1 and resting[0].remaining == 30

    fake.refuse_websockets()
    assert fake.drop_websockets() == 1
    deadline = time.monotonic() + WAIT
    while broker.connected():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    scalp.on_time(clock.now())  # the pipeline's timer notices the lost session

    assert ex.state is ExecState.ESCAPED
    assert "FS092" in {r.code for r in store.load_safety_events()}
    assert spine.controls.suspended(clock.now())  # BROKER_DISCONNECT suspends ETEDA
    exits = [o for o in oms.orders.values() if o.strategy == EMERGENCY_STRATEGY]
    assert [(o.side, o.qty, o.order_type) for o in exits] == [
        (OrderSide.SELL, 20, OrderType.MARKET)
    ]

    fake.refuse_websockets(False)  # the session comes back; the gap is booked from inquiry
    assert broker.ws.wait_generation(2, WAIT)
    settle_until(lambda: oms.account.held_qty(SAMSUNG) == 0)
    settle_until(lambda: resting[0].status is OrderStatus.CANCELED)
    assert broker.balance().holdings == {}
    assert exits[0].status is OrderStatus.FILLED
    scalp.close()
    spine.stop()
