"""Wire one trading engine: clock, store, broker, order manager and ETEDA runner.

Every mode goes through here; a mode only chooses the clock, the data source and the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from qts.app.cache import EngineCache
from qts.app.spine import RunSpine
from qts.brokers.base import Broker
from qts.brokers.sim import SimBroker, SimConfig
from qts.core.clock import Clock, SimulatedClock, WallClock
from qts.core.errors import StorageError
from qts.data.memory import MemoryStore
from qts.data.ports import RunMeta, TradingStore
from qts.engines.capital.config import CapitalConfig
from qts.engines.risk import RiskLimits
from qts.engines.strategy.base import Strategy
from qts.events import Alert, Dispatcher, EventDispatcher, InlineDispatcher
from qts.execution.oms import OrderManager, ReconcileReport
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.fees import FeeModel, KrxFees, NoFees
from qts.model.account import Account
from qts.model.enums import OrderType
from qts.model.frame import BarFrame, Universe
from qts.model.instrument import Instrument, Market
from qts.pipeline.capital import CapitalStep
from qts.pipeline.decide import DecidePolicy
from qts.pipeline.runner import EtedaRunner
from qts.safety.codes import CATALOGUE
from qts.safety.guard import GuardPolicy
from qts.safety.notifier import LogNotifier, Notifier, WebhookNotifier
from qts.safety.supervisor import SafetySupervisor

if TYPE_CHECKING:
    from qts.app.scalp import ScalpWiring
    from qts.config.models import CacheSection  # the schema's models: not for a backtest
    from qts.data.market_ports import MarketDataStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Engine:
    clock: SimulatedClock | WallClock
    store: TradingStore
    venue: SimBroker | None  # the in-process simulated exchange, when that is the broker
    oms: OrderManager
    runner: EtedaRunner
    calendar: KrxCalendar
    reconcile: ReconcileReport
    resumed: bool
    spine: RunSpine
    cache: EngineCache
    scalp: ScalpWiring | None = None  # the scalp execution pipeline (paper, live, tick runs)
    # the venue's time on the live path (qts.app.live.VenueClock): sessions are judged on it
    venue_clock: Clock | None = None

    @property
    def trading_clock(self) -> Clock:
        """The clock the engine trades on: the venue's on the live path (where ``clock`` is the
        machine's wall clock), the simulated one in paper runs and backtests."""
        return self.venue_clock if self.venue_clock is not None else self.clock

    @property
    def sim_clock(self) -> SimulatedClock:
        """The clock a simulated loop drives (backtest and paced paper runs)."""
        if not isinstance(self.clock, SimulatedClock):
            raise TypeError("this engine runs on the wall clock")
        return self.clock

    def close(self) -> None:
        if self.scalp is not None:
            self.scalp.close()
        self.spine.stop()
        self.cache.close()
        for n in self.runner.safety.notifiers:
            if isinstance(n, WebhookNotifier):
                n.flush()
                n.close()
        self.store.close()
        closer = getattr(self.oms.broker, "close", None)
        if callable(closer):
            closer()


def fee_model(name: str) -> FeeModel:
    return NoFees() if name == "none" else KrxFees()


def restore_account(store: TradingStore, initial_cash: int) -> Account:
    """Rebuild the account from the durable ledger, then check it against the stored snapshot."""
    account = Account(initial_cash)
    for entry in store.load_ledger():
        account.ledger.append(entry)
    stored = store.load_account()
    positions = store.load_positions()
    account.positions = positions
    if stored is not None:
        account.cash = stored.cash
        account.pending = dict(stored.pending)
    problems = account.reconcile()
    if problems:
        raise StorageError("stored account does not reconcile: " + "; ".join(problems))
    return account


def build_engine(
    *,
    run_id: str,
    mode: str,
    universe: Universe,
    instruments: dict[str, Instrument],
    strategies: Sequence[Strategy],
    initial_cash: int,
    fees: str,
    limits: RiskLimits,
    start: datetime,
    db: Path | None,
    durable: bool,
    participation: float,
    latency_ms: int,
    seed: int | None = None,
    order_type: OrderType = OrderType.MARKET,
    limit_offset_ticks: int = 0,
    max_trades_per_day: int | None = None,
    record_decisions: bool = True,
    config: dict[str, object] | None = None,
    calendar: KrxCalendar | None = None,
    reference_prices: dict[str, int] | None = None,
    webhook_url: str | None = None,
    max_data_age: timedelta = timedelta(minutes=5),
    threaded_events: bool = False,
    protect: bool = False,
    vol_index: Callable[[BarFrame], float | None] | None = None,
    wall_clock: bool = False,
    broker: Callable[[Clock], Broker] | None = None,
    order_hours: Callable[[], bool] | None = None,
    store_override: TradingStore | None = None,
    log_safety_events: bool = True,
    scalp: bool = False,
    market_store: MarketDataStore | None = None,
    adopt: Callable[[OrderManager], None] | None = None,
    cache: CacheSection | None = None,
    capital: CapitalConfig | None = None,
    state_index: Callable[[BarFrame], float | None] | None = None,
    keep_capital_rows: bool = False,
    venue_clock: Clock | None = None,
) -> Engine:
    """``reference_prices`` are the previous closes before the first bar: the first day's price
    limits and the venue's cash holds for market buys are computed from them. ``broker`` builds
    a real broker adapter on the engine's clock; without it the broker is the simulated exchange.
    ``order_hours`` tells whether that broker takes a regular order now (on the venue's clock):
    outside them emergency exits and scalp orders wait, since a broker refuses them; the
    simulated exchange reserves an order placed out of hours, so it needs none.
    ``capital`` turns on the pools and the operating state; they read the volatility index from
    ``state_index`` (default: ``vol_index``; in paper and live runs without either, the level the
    venue pushes). A backtest without either has no index at all. ``venue_clock`` is the
    venue's time when it is not ``clock`` (the live path's :class:`qts.app.live.VenueClock`):
    the dashboard's ``/health`` and the heartbeat judge the session on it."""
    calendar = calendar or KrxCalendar()
    # threads share a store only where it takes a lock: MemoryStore belongs to one thread
    store: TradingStore
    if store_override is not None:
        store = store_override
    elif db or threaded_events:
        from qts.data.sqlite import SqliteStore  # not imported by a backtest kept in memory

        store = (
            SqliteStore(str(db), durable=durable, writer=True)
            if db
            else SqliteStore(":memory:", durable=False)
        )
    else:
        store = MemoryStore()
    meta = store.init_run(RunMeta(run_id, mode, initial_cash, start, seed, dict(config or {})))
    resumed = store.load_state("cycle_checkpoint") is not None
    clock: SimulatedClock | WallClock = (
        WallClock() if wall_clock else SimulatedClock(meta.started_at)
    )
    sim_config = SimConfig(latency=timedelta(milliseconds=latency_ms), participation=participation)
    fee = fee_model(fees)
    venue: SimBroker | None = None
    if broker is not None:
        adapter: Broker = broker(clock)
    elif db is not None:
        venue = adapter = SimBroker.open(
            Path(f"{db}.venue"),
            instruments,
            clock,
            initial_cash=initial_cash,
            config=sim_config,
            fees=fee,
            calendar=calendar,
            reference_prices=reference_prices,
        )
    else:
        venue = adapter = SimBroker(
            instruments,
            clock,
            initial_cash=initial_cash,
            config=sim_config,
            fees=fee,
            calendar=calendar,
            reference_prices=reference_prices,
        )
    account = restore_account(store, meta.initial_cash)  # the books' own, on a resume too
    oms = OrderManager(
        run_id,
        adapter,
        store,
        account,
        universe,
        instruments,
        lambda d: calendar.add_trading_days(d, 2),
    )
    if adopt is not None and not resumed:
        adopt(oms)  # a fresh live run books the broker's holdings before reconciling
    # a real broker's run never re-runs a crashed cycle: what it does not know is closed here
    report = oms.reconcile(clock.now(), cancel_unknown=broker is not None)
    if not report.clean:
        log.error("reconciliation with the venue found problems: %s", "; ".join(report.problems))
    policy = DecidePolicy(
        order_type=order_type,
        limit_offset_ticks=limit_offset_ticks,
        max_trades_per_day=max_trades_per_day,
        etf_symbols=frozenset(s for s, i in instruments.items() if i.is_etf),
        markets={s: i.market for s, i in instruments.items() if i.market is not Market.KOSPI},
    )
    # a backtest counts its safety events in the report instead of logging each one
    notifiers: list[Notifier] = [LogNotifier()] if log_safety_events else []
    if webhook_url:
        notifiers.append(WebhookNotifier(webhook_url))
    safety = SafetySupervisor(store, clock, notifiers)
    if not report.clean:
        safety.report("FS070", "reconciliation with the venue: " + "; ".join(report.problems))
    runner = EtedaRunner(
        oms,
        store,
        strategies,
        limits,
        policy,
        safety,
        record_decisions,
        GuardPolicy(max_data_age=max_data_age),
    )
    hot = EngineCache.open(cache, run_id=run_id, clock=clock, store=store, oms=oms, limits=limits)
    runner.cache = hot
    runner.gate.view = hot
    dispatcher: Dispatcher = (
        EventDispatcher(on_alert=_alert_to(safety))
        if threaded_events
        else InlineDispatcher(on_alert=_alert_to(safety), auto_drain=False)
    )
    spine = RunSpine(
        dispatcher,
        oms,
        safety,
        clock,
        protect=protect,
        vol_index=vol_index,
        threaded_micro_loop=wall_clock,
        cache=hot,
        order_hours=order_hours,
    )
    runner.controls = spine.controls
    if capital is not None and capital.enabled:
        # the volatility index: the backtest's --index, the synthetic feed, or a live push
        pushed = None if mode == "backtest" else (lambda _frame: spine.last_index)
        level = state_index or vol_index or pushed
        runner.capital = CapitalStep(capital, store, oms, level, keep_rows=keep_capital_rows)
    spine.start()
    scalp_wiring = (
        _wire_scalp(
            run_id, oms, safety, spine, clock, calendar, market_store, wall_clock, order_hours
        )
        if scalp
        else None
    )
    if scalp_wiring is not None:
        hot.wire_scalp(scalp_wiring)
        runner.scalp = scalp_wiring.pipeline
    for symbol, price in (reference_prices or {}).items():
        if symbol in universe:
            runner.last_close[universe.index(symbol)] = price
    return Engine(
        clock,
        store,
        venue,
        oms,
        runner,
        calendar,
        report,
        resumed,
        spine,
        hot,
        scalp_wiring,
        venue_clock,
    )


def _wire_scalp(
    run_id: str,
    oms: OrderManager,
    safety: SafetySupervisor,
    spine: RunSpine,
    clock: Clock,
    calendar: KrxCalendar,
    market_store: MarketDataStore | None,
    wall_clock: bool,
    order_hours: Callable[[], bool] | None,
) -> ScalpWiring:
    """Scalp orders go through the micro-pipeline; its events ride on the run's spine."""
    from qts.app.scalp import ScalpWiring  # the micro-pipeline's modules load with a scalp run

    wiring = ScalpWiring(
        run_id, oms, safety, spine.controls, spine.dispatcher, clock, calendar, market_store,
        order_hours=order_hours,
    )  # fmt: skip
    spine.fill_listeners.append(wiring.on_fill)
    spine.update_listeners.append(wiring.on_update)
    if wall_clock:
        wiring.start_timer()
    else:
        spine.timers.append(wiring.on_time)
    return wiring


def _alert_to(safety: SafetySupervisor) -> Callable[[Alert], None]:
    """Event-system faults (FS110–FS113, GR090) go to the safety state machine."""

    def alert(a: Alert) -> None:
        code = a.code if a.code in CATALOGUE else "FS113"
        safety.report(code, a.message)

    return alert
