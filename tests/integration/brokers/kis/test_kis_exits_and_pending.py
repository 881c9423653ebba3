"""Emergency exits never fight the sells already working at the venue (KIS fake).

The case from the field: a position of 6,529 shares, ETEDA's sell of all 6,529 pending, and the
micro risk loop's halving exit of 3,264 — KIS refuses that with APBK9002 (orderable quantity
exceeded). The executor now stands aside when pending sells already do the job, and for a full
exit cancels the pending limit sells first and sells at market once the venue confirms.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import time as dtime

from kis_kit import CALENDAR, DAY, INSTRUMENTS, OPEN, PRICES, SAMSUNG, UNIVERSE, WAIT, Tape, sell

from qts.app.wiring import Engine, build_engine
from qts.brokers.kis import KisBroker
from qts.brokers.kis.fake import FakeKisServer
from qts.core.clock import SimulatedClock
from qts.core.time import at
from qts.engines.contracts import OrderDecision
from qts.engines.risk import RiskLimits
from qts.market.krx.sessions import regular_order_hours
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track
from qts.risk import ActionType, MicroRiskAction
from qts.risk.actions import ExitReason

HELD = 1_000  # the field case had 6,529 and a halving of 3,264; the fake account has 100M
HALF = HELD // 2


def settle(engine: Engine, broker: KisBroker, done: Callable[[], bool]) -> None:
    """Book the venue's events until ``done()``, waiting on the adapter with a deadline."""
    deadline = time.monotonic() + WAIT
    while True:
        engine.oms.process_events()
        if done():
            return
        if time.monotonic() > deadline:
            raise AssertionError("the venue's events did not arrive in time")
        broker.wait_events(1, 0.5)


def decision(side: OrderSide, qty: int, kind: OrderType, limit: int | None) -> OrderDecision:
    return OrderDecision(SAMSUNG, side, qty, kind, limit, "test", "eteda", Track.SWING, 70_000)


def engine_on(
    broker: KisBroker, run_id: str, order_hours: Callable[[], bool] | None = None
) -> Engine:
    return build_engine(
        run_id=run_id, mode="paper", universe=UNIVERSE, instruments=INSTRUMENTS,
        strategies=[], initial_cash=1_000_000_000, fees="krx", limits=RiskLimits(),
        start=OPEN, db=None, durable=False, participation=1.0, latency_ms=0,
        reference_prices=dict(PRICES), broker=lambda _clock: broker, order_hours=order_hours,
    )  # fmt: skip


def test_exits_account_for_pending_sells(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    broker = connect()
    engine = engine_on(broker, "exits")
    oms, held = engine.oms, engine.oms.account.held_qty
    tape = Tape()
    try:
        bought = oms.submit(decision(OrderSide.BUY, HELD, OrderType.MARKET, None), "c1", OPEN)
        assert bought.status == "submitted"
        fake.advance(tape.frame(volume=100_000))
        settle(engine, broker, lambda: held(SAMSUNG) == HELD)

        # ETEDA sells everything with a limit above the market: it stays pending
        eteda = oms.submit(decision(OrderSide.SELL, HELD, OrderType.LIMIT, 80_000), "c2", OPEN)
        assert eteda.status == "submitted"
        # what the old executor did: a halving on top is refused by KIS
        refused = broker.submit(sell("raw-half", HALF))
        assert not refused.accepted and refused.code == "APBK9002"

        emergency = engine.spine.emergency
        placed = fake.stats.orders_placed
        half = MicroRiskAction(ActionType.PARTIAL_EXIT, SAMSUNG, HALF, ExitReason.MAE_PARTIAL)
        emergency.handle(half)
        assert fake.stats.orders_placed == placed  # nothing sent: the pending sell covers it
        assert emergency.stood_aside[-1][:2] == (SAMSUNG, HALF)

        # a full exit cannot wait on a limit that may never fill: cancel, then sell at market
        full = MicroRiskAction(ActionType.FULL_EXIT, SAMSUNG, HELD, ExitReason.MAE_FULL)
        emergency.handle(full)
        assert fake.stats.orders_placed == placed
        settle(engine, broker, lambda: oms.orders[eteda.client_order_id].status
               is OrderStatus.CANCELED)  # fmt: skip
        emergency.handle(full)  # the loop's next attempt
        assert fake.stats.orders_placed == placed + 1
        assert emergency.results[-1].status == "submitted"
        fake.advance(tape.frame(volume=100_000))
        settle(engine, broker, lambda: held(SAMSUNG) == 0)
        codes = [e.code for e in engine.store.load_safety_events()]
        assert "GR074" not in codes  # no exit failed
    finally:
        engine.close()


def test_an_exit_after_the_close_waits_for_the_next_session(
    fake: FakeKisServer, connect: Callable[..., KisBroker], clock: SimulatedClock
) -> None:
    """After 15:30 KIS refuses a market order (APBK0918): the exit is deferred without a
    request, and goes out at the next session."""
    broker = connect()
    engine = engine_on(broker, "late", order_hours=regular_order_hours(CALENDAR, clock.now))
    oms, held = engine.oms, engine.oms.account.held_qty
    try:
        bought = oms.submit(decision(OrderSide.BUY, HELD, OrderType.MARKET, None), "c1", OPEN)
        assert bought.status == "submitted"
        fake.advance(Tape().frame(volume=100_000))
        settle(engine, broker, lambda: held(SAMSUNG) == HELD)

        emergency = engine.spine.emergency
        full = MicroRiskAction(ActionType.FULL_EXIT, SAMSUNG, HELD, ExitReason.TIME)
        for late in (dtime(15, 30), dtime(15, 45), dtime(18, 5)):  # closed, after-hours, night
            for c in (clock, engine.sim_clock):
                c.advance_to(at(DAY, late))
            requests, placed = fake.stats.paths.total(), fake.stats.orders_placed
            emergency.handle(full)
            assert (fake.stats.paths.total(), fake.stats.orders_placed) == (requests, placed)
            assert emergency.deferred == {SAMSUNG} and emergency.results == []
        next_open = at(CALENDAR.next_trading_day(DAY), dtime(9, 0))
        for c in (clock, engine.sim_clock):
            c.advance_to(next_open)
        emergency.handle(full)
        assert fake.stats.orders_placed == placed + 1
        assert [r.status for r in emergency.results] == ["submitted"] and not emergency.deferred
        codes = [e.code for e in engine.store.load_safety_events()]
        assert "GR074" not in codes  # a deferral is no failed exit
    finally:
        engine.close()
