"""One scenario, two venues, one ledger.

The same seeded synthetic market (two trading days, the default universe and strategies) runs
(a) on the in-process simulated exchange and (b) through the KIS-compatible local exchange with
the real ``KisBroker`` adapter: REST orders, AES-encrypted WebSocket fill notices, inquiry.
Both are driven bar by bar with the same frames; for (b) each bar is pushed into the fake and
the loop waits — on data, never on time — until the adapter has booked every fill the fake's
exchange made in that bar, so each ETEDA cycle sees the same fills as in (a). The ledgers must
be identical row by row, fees and taxes to the won; only venue-assigned ids (fill ids) differ.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from qts.app.paper import PRE_OPEN, session_view
from qts.app.wiring import Engine, build_engine
from qts.brokers.base import Ack, Balance, BrokerEvent, OrderRequest, VenueOrder
from qts.brokers.kis import KisBroker, KisConfig, KisMode
from qts.brokers.kis.fake import FakeKisOptions, FakeKisServer
from qts.brokers.kis.fake.credentials import REAL_APP
from qts.brokers.kis.fake.serve import synthetic_frames
from qts.brokers.sim import SimBroker, SimConfig
from qts.config import load_config
from qts.config.models import QtsConfig
from qts.core.clock import Clock, Pacer, SimulatedClock
from qts.core.time import at
from qts.engines.strategy import create
from qts.feeds.synthetic import SyntheticMarket
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.fees import KrxFees
from qts.model.fill import Fill
from qts.model.frame import BarFrame, Universe
from qts.model.instrument import Instrument
from qts.pipeline.loop import TradingLoop

DAYS = 2
WAIT = 10.0  # seconds: a ceiling on each data barrier, never a sleep
RUN_ID = "kis-equivalence"
# venue-assigned: the fill id is the venue's execution key (SimBroker's own vs KIS's
# "<date>-<ODNO>-<cum qty>"); every other field must agree
VENUE_FIELDS = {"fill_id"}


@dataclasses.dataclass(frozen=True)
class Scenario:
    config: QtsConfig
    instruments: dict[str, Instrument]
    universe: Universe
    reference: dict[str, int]
    frames: list[BarFrame]
    start_day: date


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    config = load_config().config
    calendar = KrxCalendar()
    day = config.run.start
    if not calendar.is_trading_day(day):
        day = calendar.next_trading_day(day)
    days = [day]
    while len(days) < DAYS:
        days.append(calendar.next_trading_day(days[-1]))
    market = SyntheticMarket(config.run.seed)
    instruments = {i.symbol: i for i in market.instruments()}
    return Scenario(
        config,
        instruments,
        Universe(tuple(instruments)),
        dict(market.start_state().closes),
        list(synthetic_frames(market, days, calendar)),
        day,
    )


def sim_config(cfg: QtsConfig) -> SimConfig:
    """The exchange of both runs. Orders outside the session are refused (``APBK0918`` at
    KIS): KIS's order-cash has no reserved orders, so the in-process exchange must not keep
    them for the next morning either (SimConfig's default does, for backtests)."""
    return SimConfig(
        latency=timedelta(milliseconds=cfg.sim.latency_ms),
        participation=cfg.sim.participation,
        allow_reservation=False,
    )


def engine_for(s: Scenario, broker: Any) -> Engine:
    cfg = s.config
    strategies = [
        create(name, section.params, source=f"strategies.{name}")
        for name, section in cfg.strategies.items()
        if section.enabled
    ]
    engine = build_engine(
        run_id=RUN_ID,
        mode="paper",
        universe=s.universe,
        instruments=s.instruments,
        strategies=strategies,
        initial_cash=cfg.run.initial_cash,
        fees=cfg.fees,
        limits=cfg.risk,
        start=at(s.start_day, PRE_OPEN),
        db=None,
        durable=False,
        participation=cfg.sim.participation,
        latency_ms=cfg.sim.latency_ms,
        seed=cfg.run.seed,
        order_type=cfg.execution.order_type,
        limit_offset_ticks=cfg.execution.limit_offset_ticks,
        max_trades_per_day=cfg.execution.max_trades_per_day,
        reference_prices=s.reference,
        protect=cfg.risk_loop.enabled,
        broker=broker,
    )
    engine.runner.trading_enabled = True
    return engine


def run(engine: Engine, frames: list[BarFrame], venue: Any) -> int:
    loop = TradingLoop(
        engine.runner,
        iter(frames),
        engine.sim_clock,
        Pacer(None),
        session_view(engine.calendar),
        venue=venue,
        hooks=engine.spine,
    )
    return loop.run().cycles


class Barrier:
    """The KIS side's venue hook and the engine's broker in one.

    ``on_frame`` pushes the bar into the fake, counts the executions its exchange made, and
    drains the adapter until that many fills have arrived as notices; ``drain_events`` hands
    them (and anything later) to the loop. Every other call goes straight to the adapter."""

    name = "kis"

    def __init__(self, server: FakeKisServer, adapter: KisBroker) -> None:
        self.server = server
        self.adapter = adapter
        self.buffer: list[BrokerEvent] = []
        self.seen = 0  # executions the adapter has delivered
        self.bars = 0

    def venue_fills(self) -> int:
        return self.server.call(lambda: len(self.server.account().sim.fills()))

    def collect(self) -> None:
        target = self.venue_fills()
        deadline = time.monotonic() + WAIT
        while True:
            events = self.adapter.drain_events()
            self.buffer.extend(events)
            self.seen += sum(isinstance(e, Fill) for e in events)
            if self.seen >= target:
                return
            left = deadline - time.monotonic()
            assert left > 0, f"{target - self.seen} fill notice(s) missing after {WAIT} s"
            self.adapter.wait_events(1, left)

    def on_frame(self, frame: BarFrame) -> list[BrokerEvent]:
        self.server.advance(frame)
        self.bars += 1
        self.collect()
        return []

    # the Broker port
    def drain_events(self) -> list[BrokerEvent]:
        self.collect()  # fills of orders filled at submit, if any
        out, self.buffer = self.buffer, []
        return out

    def submit(self, request: OrderRequest) -> Ack:
        return self.adapter.submit(request)

    def cancel(self, client_order_id: str) -> Ack:
        return self.adapter.cancel(client_order_id)

    def replace(self, client_order_id: str, qty: int, limit_price: int | None) -> Ack:
        return self.adapter.replace(client_order_id, qty, limit_price)

    def open_orders(self) -> list[VenueOrder]:
        return self.adapter.open_orders()

    def order(self, client_order_id: str) -> VenueOrder | None:
        return self.adapter.order(client_order_id)

    def fills(self) -> list[Fill]:
        return self.adapter.fills()

    def balance(self) -> Balance:
        return self.adapter.balance()

    def close(self) -> None:
        self.adapter.close()


@pytest.fixture(scope="module")
def fake(scenario: Scenario) -> Iterator[FakeKisServer]:
    cfg = scenario.config
    # the fake's exchange: the very SimConfig the in-process run uses (latency, participation,
    # reservation), the same fees, reference prices and cash
    sim = sim_config(cfg)
    app = dataclasses.replace(REAL_APP, cash=cfg.run.initial_cash)
    server = FakeKisServer(
        scenario.instruments,
        SimulatedClock(at(scenario.start_day, PRE_OPEN)),
        options=FakeKisOptions(mode=KisMode.REAL, apps=(app,), sim_config=sim, rate_limit=10_000),
        reference_prices=scenario.reference,
        fees=KrxFees(),
    ).start()
    yield server
    server.stop()


def adapter_config(server: FakeKisServer) -> KisConfig:
    app = server.account().app
    return KisConfig(
        mode=KisMode.REAL,
        app_key=SecretStr(app.app_key),
        app_secret=SecretStr(app.app_secret),
        cano=SecretStr(app.cano),
        acnt_prdt_cd=app.acnt_prdt_cd,
        hts_id=SecretStr(app.hts_id),
        base_url=server.rest_url,
        ws_url=server.ws_url,
        rate_limit_per_s=5_000,
        token_min_interval_s=0.2,
        expiry_grace_s=0.0,
        inquiry_cache_s=0.0,
    )


def rows(engine: Engine) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in e.as_row().items() if k not in VENUE_FIELDS}
        for e in engine.oms.account.ledger.entries
    ]


def test_sim_and_kis_end_with_identical_ledgers(scenario: Scenario, fake: FakeKisServer) -> None:
    exchange: list[SimBroker] = []

    def simulated(clock: Clock) -> SimBroker:
        assert isinstance(clock, SimulatedClock)
        exchange.append(
            SimBroker(
                scenario.instruments,
                clock,
                initial_cash=scenario.config.run.initial_cash,
                config=sim_config(scenario.config),
                fees=KrxFees(),
                calendar=KrxCalendar(),
                reference_prices=scenario.reference,
            )
        )
        return exchange[0]

    sim_engine = engine_for(scenario, broker=simulated)
    try:
        sim_cycles = run(sim_engine, scenario.frames, exchange[0])
        expected = rows(sim_engine)
        sim_cash = sim_engine.oms.account.cash
        sim_positions = {p.symbol: p.qty for p in sim_engine.oms.account.open_positions() if p.qty}
    finally:
        sim_engine.close()

    made: list[Barrier] = []

    def connect(clock: Clock) -> Barrier:
        adapter = KisBroker(
            adapter_config(fake), clock=clock, fees=KrxFees(), instruments=scenario.instruments
        )
        assert adapter.ws is not None and adapter.ws.wait_ready(WAIT)
        made.append(Barrier(fake, adapter))
        return made[0]

    kis_engine = engine_for(scenario, broker=connect)
    try:
        kis_cycles = run(kis_engine, scenario.frames, made[0])
        actual = rows(kis_engine)
        kis_cash = kis_engine.oms.account.cash
        kis_positions = {p.symbol: p.qty for p in kis_engine.oms.account.open_positions() if p.qty}
        venue_balance = made[0].adapter.balance()
    finally:
        kis_engine.close()

    assert sim_cycles == kis_cycles == len(scenario.frames) > 700
    buys = sum(r["side"] == "BUY" for r in expected)
    sells = sum(r["side"] == "SELL" for r in expected)
    assert buys >= 3 and sells >= 3, "the scenario must trade several times"
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert a == e, f"ledger row {i + 1} differs: KIS {a} vs sim {e}"
    assert sum(r["commission"] for r in actual) == sum(r["commission"] for r in expected) > 0
    assert sum(r["tax"] for r in actual) == sum(r["tax"] for r in expected) > 0
    assert kis_cash == sim_cash
    assert kis_positions == sim_positions
    # and KIS's own books agree with ours (inquire-balance)
    assert venue_balance.cash == kis_cash
    assert venue_balance.holdings == kis_positions
