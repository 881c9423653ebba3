"""A scalp pipeline over the real simulated exchange in book mode and the real order manager."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from qts.brokers.base import Ack, BrokerEvent, OrderRequest, OrderUpdate
from qts.brokers.sim import SimBroker, SimConfig
from qts.core.clock import SimulatedClock
from qts.core.time import kst
from qts.data.memory import MemoryStore
from qts.data.ports import RunMeta, TradingStore
from qts.engines.contracts import OrderDecision
from qts.execution.oms import OrderManager
from qts.execution.stages.pipeline import ScalpConfig, ScalpPipeline
from qts.execution.stages.ports import Quote
from qts.model.account import Account
from qts.model.enums import OrderSide, OrderType, Track
from qts.model.fill import Fill
from qts.model.frame import Universe
from qts.model.instrument import Instrument, Market

SYM = "005930"
T0 = kst(2026, 3, 4, 10, 0)  # a Wednesday, continuous session
INSTRUMENTS = {SYM: Instrument(SYM, Market.KOSPI)}


@dataclass(slots=True)
class Inputs:
    """PreCheck's read interface with settable answers."""

    cash: Callable[[], int]
    held: Callable[[str], int]
    connected: bool = True
    reconnects: bool = False
    open: bool = True
    risk: str = ""
    live: set[tuple[str, str, OrderSide]] = field(default_factory=set)
    reconnect_calls: int = 0

    def has_live_execution(self, symbol: str, strategy: str, side: OrderSide) -> bool:
        return (symbol, strategy, side) in self.live

    def position_qty(self, symbol: str) -> int:
        return self.held(symbol)

    def available_cash(self) -> int:
        return self.cash()

    def broker_connected(self) -> bool:
        return self.connected

    def reconnect(self) -> bool:
        self.reconnect_calls += 1
        self.connected = self.reconnects
        return self.connected

    def market_open(self, symbol: str, now: datetime) -> bool:
        return self.open

    def risk_check(self, symbol: str, side: OrderSide, qty: int, price: int) -> str:
        return self.risk


@dataclass(slots=True)
class Escapes:
    flattened: list[tuple[str, str]] = field(default_factory=list)
    codes: list[tuple[str, str]] = field(default_factory=list)
    suspended: list[str] = field(default_factory=list)
    on_flatten: Callable[[str, str], None] | None = None

    def flatten(self, symbol: str, reason: str) -> None:
        self.flattened.append((symbol, reason))
        if self.on_flatten is not None:
            self.on_flatten(symbol, reason)

    def report(self, code: str, message: str) -> None:
        self.codes.append((code, message))

    def suspend_eteda(self, reason: str) -> None:
        self.suspended.append(reason)


class Flaky:
    """The simulated broker behind a link that times out the first ``failures`` submits."""

    def __init__(self, inner: SimBroker, failures: int = 0) -> None:
        self.inner = inner
        self.failures = failures
        self.submits = 0
        self.name = "flaky"

    def submit(self, request: OrderRequest) -> Ack:
        self.submits += 1
        if self.failures > 0:
            self.failures -= 1
            raise TimeoutError("broker did not answer in time")
        return self.inner.submit(request)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class BookMarket:
    def __init__(self, broker: SimBroker) -> None:
        self.broker = broker

    def quote(self, symbol: str) -> Quote | None:
        d = self.broker.depth(symbol, 1)
        if not d or not d[0] or not d[1]:
            return None
        return Quote(d[0][0][0], d[0][0][1], d[1][0][0], d[1][0][1])

    def avg_daily_volume(self, symbol: str) -> int:
        return 0


class Kit:
    def __init__(
        self,
        *,
        failures: int = 0,
        cash: int = 100_000_000,
        store: TradingStore | None = None,
        config: ScalpConfig | None = None,
        quotes: bool = True,
    ) -> None:
        self.clock = SimulatedClock(T0)
        self.sim = SimBroker(
            INSTRUMENTS,
            self.clock,
            initial_cash=cash,
            config=SimConfig(),
            reference_prices={SYM: 75_000},
        )
        self.broker = Flaky(self.sim, failures)
        self.store = store or MemoryStore()
        self.store.init_run(RunMeta("r1", "test", cash, T0, 0, {}))
        self.account = Account(cash)
        self.oms = OrderManager(
            "r1",
            self.broker,  # type: ignore[arg-type]
            self.store,
            self.account,
            Universe((SYM,)),
            INSTRUMENTS,
            lambda d: d + timedelta(days=2),
        )
        self.inputs = Inputs(lambda: self.account.buying_power, self.account.held_qty)
        self.escapes = Escapes()
        self.sleeps: list[float] = []
        self.pipeline = ScalpPipeline(
            "r1",
            self.oms,
            self.store,
            self.inputs,
            self.escapes,
            self.clock.now,
            market=BookMarket(self.sim),
            config=config,
            sleep=self.sleeps.append,
        )
        if quotes:
            self.quotes()

    def quotes(self, bid: int = 75_000, ask: int = 75_100, qty: int = 100) -> None:
        self.sim.on_quotes(
            SYM,
            [(bid, qty), (bid - 100, qty * 2)],
            [(ask, qty), (ask + 100, qty * 2)],
        )
        self.pump()

    def pump(self) -> list[BrokerEvent]:
        """Book the venue's reports and hand them to the pipeline (the spine's job in a run)."""
        events = self.sim.drain_events()
        for ev in events:
            if isinstance(ev, Fill):
                if self.oms.book_fill(ev):
                    self.pipeline.on_fill(ev)
            elif isinstance(ev, OrderUpdate):
                self.oms.apply_update(ev)
                self.pipeline.on_update(ev)
        return events

    def decide(
        self, side: OrderSide, qty: int, price: int = 75_000, cycle: str = "c1"
    ) -> tuple[str, str]:
        od = OrderDecision(
            SYM, side, qty, OrderType.LIMIT, None, "test", "scalp_reversion", Track.SCALP, price
        )
        r = self.pipeline.execute(od, cycle, self.clock.now())
        self.pump()
        return r.client_order_id, r.status

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        self.pipeline.on_timer(self.clock.now())
        self.pump()
