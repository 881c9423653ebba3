"""Emergency exits never fight the sells already working at the venue (KIS fake).

The case from the field: a position of 6,529 shares, ETEDA's sell of all 6,529 pending, and the
micro risk loop's halving exit of 3,264 — KIS refuses that with APBK9002 (orderable quantity
exceeded). The executor never sells what pending sells hold; an exit that must happen cancels
the pending limit sells that are not filling first and sells at market once the venue confirms.

A live day's walkthrough: a scalp limit sell resting above the market from 14:55 to the close
blocked every later exit (ETEDA's stop-loss and flatten as ORDER_PENDING, the loop's halving
"stands aside"); a forced exit now replaces it. And the books holding shares the broker does not
(sold outside QTS): the refused exit (APBK9002) was resent every second; it now backs off with
one FS070, and a stopping run does not retry it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import time as dtime
from datetime import timedelta
from typing import ClassVar

from kis_kit import CALENDAR, DAY, INSTRUMENTS, OPEN, PRICES, SAMSUNG, UNIVERSE, WAIT, Tape, sell

from qts.app.wiring import Engine, build_engine
from qts.brokers.kis import KisBroker
from qts.brokers.kis.fake import FakeKisServer
from qts.core.clock import SimulatedClock
from qts.core.time import at
from qts.engines.contracts import CalcData, OrderDecision, StrategyDecision
from qts.engines.indicators import IndicatorSpec
from qts.engines.risk import RiskLimits
from qts.engines.strategy.base import Strategy
from qts.execution.emergency import BACKOFF_FIRST
from qts.market.krx.sessions import regular_order_hours
from qts.model.enums import OrderSide, OrderStatus, OrderType, Signal, Track, Urgency
from qts.pipeline.runner import SessionView
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


def decision(
    side: OrderSide, qty: int, kind: OrderType, limit: int | None, strategy: str = "eteda"
) -> OrderDecision:
    return OrderDecision(SAMSUNG, side, qty, kind, limit, "test", strategy, Track.SWING, 70_000)


class StopLoss:
    """Sells every position it holds with a stop-loss: an exit that must happen."""

    name: ClassVar[str] = "stopper"
    track: ClassVar[Track] = Track.SWING

    def __init__(self) -> None:
        self.params = None

    def indicators(self) -> list[IndicatorSpec]:
        return []

    def evaluate(self, calc: CalcData) -> list[StrategyDecision]:
        return [
            StrategyDecision(s, self.name, self.track, Signal.SELL, "stop loss -0.6%", h.qty,
                             urgency=Urgency.FORCED)
            for s, h in calc.raw.account.holdings.items()
            if h.strategy == self.name
        ]  # fmt: skip


def engine_on(
    broker: KisBroker,
    run_id: str,
    order_hours: Callable[[], bool] | None = None,
    strategies: list[Strategy] | None = None,
) -> Engine:
    return build_engine(
        run_id=run_id, mode="paper", universe=UNIVERSE, instruments=INSTRUMENTS,
        strategies=strategies or [], initial_cash=1_000_000_000, fees="krx", limits=RiskLimits(),
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
        # a halving while the market has reached the limit: the sell is filling, stand aside
        half = MicroRiskAction(ActionType.PARTIAL_EXIT, SAMSUNG, HALF, ExitReason.MAE_PARTIAL)
        oms.account.positions[SAMSUNG].mark(80_000)
        emergency.handle(half)
        assert fake.stats.orders_placed == placed  # nothing sent: the pending sell covers it
        assert emergency.stood_aside[-1][:2] == (SAMSUNG, HALF)
        assert oms.orders[eteda.client_order_id].status is OrderStatus.SUBMITTED  # not cancelled
        oms.account.positions[SAMSUNG].mark(70_000)

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


def test_a_halving_replaces_a_limit_sell_resting_above_the_market(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    """The field case: "emergency exit 071840 x11 stands aside: 11 shares already being sold by
    pending sells" while that sell rested above the market until the close."""
    broker = connect()
    engine = engine_on(broker, "halving")
    oms, held = engine.oms, engine.oms.account.held_qty
    tape = Tape()
    try:
        assert oms.submit(decision(OrderSide.BUY, HELD, OrderType.MARKET, None), "c1", OPEN).status
        fake.advance(tape.frame(volume=100_000))
        settle(engine, broker, lambda: held(SAMSUNG) == HELD)
        stale = oms.submit(decision(OrderSide.SELL, HELD, OrderType.LIMIT, 80_000), "c2", OPEN)
        assert stale.status == "submitted" and oms.account.positions[SAMSUNG].last_price < 80_000

        emergency = engine.spine.emergency
        placed = fake.stats.orders_placed
        half = MicroRiskAction(ActionType.PARTIAL_EXIT, SAMSUNG, HALF, ExitReason.MAE_PARTIAL)
        emergency.handle(half)
        assert fake.stats.orders_placed == placed  # nothing sold twice: the cancel comes first
        assert "cancelled" in emergency.stood_aside[-1][2]
        settle(engine, broker, lambda: oms.orders[stale.client_order_id].status
               is OrderStatus.CANCELED)  # fmt: skip
        emergency.handle(half)  # the loop's next attempt: the half at market
        assert fake.stats.orders_placed == placed + 1
        assert [(r.qty, r.status) for r in emergency.results] == [(HALF, "submitted")]
        fake.advance(tape.frame(volume=100_000))
        settle(engine, broker, lambda: held(SAMSUNG) == HELD - HALF)
    finally:
        engine.close()


def test_a_stop_loss_replaces_a_limit_sell_resting_above_the_market(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    """ETEDA's forced exit (stop-loss; likewise time in trade, flatten before the close) was
    "blocked: ORDER_PENDING" behind the resting sell until the close: now the cycle cancels it
    and, once the venue confirmed, the next cycle sells at market."""
    broker = connect()
    stopper = StopLoss()
    engine = engine_on(broker, "stop", strategies=[stopper])
    oms, held = engine.oms, engine.oms.account.held_qty
    venue, bars = Tape(), Tape()
    try:
        buy = decision(OrderSide.BUY, HELD, OrderType.MARKET, None, stopper.name)
        assert oms.submit(buy, "c1", OPEN).status == "submitted"
        fake.advance(venue.frame(volume=100_000))
        settle(engine, broker, lambda: held(SAMSUNG) == HELD)
        stale = decision(OrderSide.SELL, HELD, OrderType.LIMIT, 80_000, stopper.name)
        resting = oms.submit(stale, "c2", OPEN)
        assert resting.status == "submitted"

        placed = fake.stats.orders_placed
        frame = bars.frame()  # the market at 70,000: the limit at 80,000 does not fill
        engine.spine.before_cycle(frame, [])
        report = engine.runner.run_cycle(frame, frame.end, SessionView(True, 300))
        assert report.decisions is not None
        assert [c.client_order_id for c in report.decisions.cancels] == [resting.client_order_id]
        assert report.decisions.orders == ()  # the resting sell still holds every share
        assert [b.reason[:13] for b in report.decisions.blocked] == ["ORDER_PENDING"]
        assert fake.stats.orders_placed == placed
        settle(engine, broker, lambda: oms.orders[resting.client_order_id].status
               is OrderStatus.CANCELED)  # fmt: skip

        frame = bars.frame()
        engine.spine.before_cycle(frame, [])
        report = engine.runner.run_cycle(frame, frame.end, SessionView(True, 300))
        assert report.decisions is not None
        assert [(o.symbol, o.qty, o.order_type) for o in report.decisions.orders] == [
            (SAMSUNG, HELD, OrderType.MARKET)
        ]
        assert [e.status for e in report.executions] == ["submitted"]
        assert fake.stats.orders_placed == placed + 1
        fake.advance(venue.frame(volume=100_000))
        settle(engine, broker, lambda: held(SAMSUNG) == 0)
    finally:
        engine.close()


def test_a_refused_exit_backs_off_with_one_fs070_and_a_stop_does_not_retry_it(
    fake: FakeKisServer, connect: Callable[..., KisBroker], clock: SimulatedClock
) -> None:
    """The books hold shares the broker does not (sold outside QTS): KIS refuses the exit with
    APBK9002 every time. It was resent about once a second for minutes (283 refusals), and a
    SIGTERM waited behind it on the rate limiter."""
    broker = connect()
    engine = engine_on(broker, "refused")
    try:
        assert engine.oms.adopt(SAMSUNG, HELD, 70_000, OPEN)  # in the books, not at the broker
        emergency = engine.spine.emergency
        full = MicroRiskAction(ActionType.FULL_EXIT, SAMSUNG, HELD, ExitReason.MAE_FULL)
        requests = fake.stats.paths.total()
        emergency.handle(full)
        assert [(r.status, r.code) for r in emergency.results] == [("rejected", "APBK9002")]
        sent = fake.stats.paths.total()
        assert sent > requests
        for _ in range(50):  # the loop's attempts while backing off: no request
            emergency.handle(full)
        assert fake.stats.paths.total() == sent and len(emergency.results) == 1

        def advance(by: timedelta) -> None:
            for c in (clock, engine.sim_clock):
                c.advance_to(c.now() + by)

        advance(BACKOFF_FIRST)
        emergency.handle(full)  # one retry after the back-off, refused again: a longer wait
        assert len(emergency.results) == 2 and fake.stats.paths.total() > sent
        sent = fake.stats.paths.total()
        advance(BACKOFF_FIRST)
        emergency.handle(full)
        assert fake.stats.paths.total() == sent  # 10 s now

        emergency.stopping = lambda: True  # SIGTERM: the refused exit is not tried again
        advance(BACKOFF_FIRST * 100)
        emergency.handle(full)
        assert fake.stats.paths.total() == sent and len(emergency.results) == 2

        events = engine.store.load_safety_events()
        fs070 = [e for e in events if e.code == "FS070"]
        assert len(fs070) == 1  # one clear event, naming the symbol and the refusal
        assert SAMSUNG in fs070[0].message and "APBK9002" in fs070[0].message
    finally:
        engine.close()
