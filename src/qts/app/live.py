"""Trading through a real broker adapter: ``qts run --broker kis|kiwoom --account paper|real``.

The adapter is built from the environment (``KisConfig.from_env`` / ``KiwoomConfig.from_env``,
:mod:`qts.app.venues`). Market data comes from the broker too: its real-time trade prints for
the universe (KIS H0STCNT0, Kiwoom 0B), aggregated into one-minute bar frames
(:mod:`qts.feeds.ticks_to_bars`) that drive the same ETEDA loop as every other mode. The engine
runs on the wall clock: the micro risk loop has its own 100 ms thread and the event spine is
threaded.

**Time.** Bars, sessions, order dates and day-order expiry follow the *venue's* time: the
business date and time each print carries (``BSOP_DATE`` + ``STCK_CNTG_HOUR``), running on with
the wall clock between prints (:class:`VenueClock`). Against KIS that is the wall clock in KST
within the feed's latency; against the local fake (``qts sim serve --broker kis``), which
replays a synthetic day at ``speed`` × real time, it is the fake's replay time, so a minute bar
closes every 1/speed minutes and the adapter asks for the fake's trading date.

``--account real`` starts only with all three live switches of decisions.md set.
"""

from __future__ import annotations

import logging
import os
import threading
import time as _time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from qts.app.adoption import adopter
from qts.app.adoption import check_policy as check_adoption
from qts.app.datalayer import with_data_layer
from qts.app.live_books import ACCOUNTS, describe_books, live_books, venue_account_id
from qts.app.paper import session_view
from qts.app.stores import open_books, open_market_store
from qts.app.trading_day import service_chores
from qts.app.universe import resolve as resolve_universe
from qts.app.universe import save_cache as save_instrument_cache
from qts.app.universe import universe_symbols
from qts.app.venues import VENUES, LiveVenue, open_venue
from qts.app.wiring import Engine, build_engine
from qts.config.loader import live_gate_problems
from qts.config.models import Mode, QtsConfig
from qts.core.clock import Pacer, SimulatedClock, WallClock
from qts.core.errors import ConfigError
from qts.core.time import KST
from qts.engines.contracts import CycleReport
from qts.engines.strategy import create
from qts.feeds.ticks_to_bars import MinuteBars, Print
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.sessions import regular_order_hours
from qts.model.fill import Fill
from qts.model.frame import BarFrame, Universe
from qts.pipeline.loop import LoopResult, TradingLoop
from qts.safety.books_watch import BooksWatch

log = logging.getLogger(__name__)

BROKERS = ("sim", *VENUES)
LATE_GRACE = timedelta(seconds=1)  # a minute closes on the clock this long after its end
POLL_S = 0.05  # how often the feed looks at the adapter's market queue when idle
FIRST_PRINT_TIMEOUT_S = 30.0


def account_problems(config: QtsConfig, account: str, env: Mapping[str, str]) -> list[str]:
    """Why ``--account`` may not start with this config and environment (empty: it may)."""
    if account not in ACCOUNTS:
        return [f"--account: expected paper or real, got {account!r}"]
    if account == "paper":
        if config.mode is Mode.LIVE:
            return ["Config_Local: mode: live needs --account real"]
        return []
    out: list[str] = []
    if config.mode is not Mode.LIVE:
        out.append("Config_Local: mode: must be live for --account real")
    problems = live_gate_problems(Mode.LIVE.value, config.execution.live_enabled, env)
    out += [str(p) for p in problems]
    return out


class VenueClock:
    """The venue's time as its prints carry it, running on with the wall clock between prints;
    the wall clock (KST) until the first print. Never goes back once anchored."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._venue: datetime | None = None
        self._mono = 0.0
        self._wall = WallClock()

    @property
    def anchored(self) -> bool:
        return self._venue is not None

    def now(self) -> datetime:
        with self._lock:
            if self._venue is None:
                return self._wall.now()
            return self._venue + timedelta(seconds=_time.monotonic() - self._mono)

    def observe(self, ts: datetime) -> None:
        """A print at venue time ``ts``: move forward to it (the first print sets the clock)."""
        with self._lock:
            mono = _time.monotonic()
            if self._venue is not None:
                current = self._venue + timedelta(seconds=mono - self._mono)
                if ts <= current:
                    return
            self._venue, self._mono = ts, mono


class StoppedBeforeData(Exception):
    """A stop came before the first trade print: nothing was started."""


@dataclass(slots=True)
class FeedStats:
    prints: int = 0
    frames: int = 0
    first_print: datetime | None = None
    last_frame: datetime | None = None
    symbols: set[str] = field(default_factory=set)
    before_engine: int = 0  # prints taken before the engine (and its micro loop) existed


class BrokerBars:
    """Minute frames from the adapter's trade prints, for as long as ``stop`` is not set."""

    def __init__(
        self,
        venue: LiveVenue,
        universe: Universe,
        clock: VenueClock,
        stop: threading.Event,
        *,
        deadline: float | None = None,  # time.monotonic() at which the feed ends
    ) -> None:
        self.venue = venue
        self.clock = clock
        self.stop = stop
        self.deadline = deadline
        self.bars = MinuteBars(universe)
        self.stats = FeedStats()
        self.ended = ""
        self.idle: Callable[[], None] | None = None  # the run's chores between bars
        self._pending: list[BarFrame] = []
        # every print and index value, as they come, for the micro risk loop (RunSpine)
        self.on_print: Callable[[str, int, datetime], None] | None = None
        self.on_index: Callable[[float, datetime], None] | None = None
        # every print with its volume for the data layer (tap), from the very first one
        self._tapped: Callable[[Print], None] | None = None
        self._early: list[Print] | None = None  # prints taken before the engine existed

    def poll(self) -> list[BarFrame]:
        """Take every queued print; return the frames they (or the clock) completed."""
        frames: list[BarFrame] = []
        for p in self.venue.drain_prints():
            ts = p.ts
            self.clock.observe(ts)
            self.stats.prints += 1
            self.stats.symbols.add(p.symbol)
            if self.stats.first_print is None:
                self.stats.first_print = ts
            if self.on_print is not None:
                self.on_print(p.symbol, p.price, ts)
            else:
                self.stats.before_engine += 1
            if self._tapped is not None:
                self._tapped(p)
            elif self._early is not None:
                self._early.append(p)
            frames += self.bars.add(p)
        for level, ts in self.venue.drain_index():
            if self.on_index is not None:
                self.on_index(level, ts)
        if self.clock.anchored:
            frames += self.bars.close_until(self.clock.now() - LATE_GRACE)
        self.stats.frames += len(frames)
        if frames:
            self.stats.last_frame = frames[-1].end
        return frames

    def tap(self, on_print: Callable[[Print], None]) -> None:
        """Hand every print to ``on_print`` (e.g. the data-layer recorder), from the first one
        taken while waiting for the venue clock."""
        early, self._early = self._early or [], None
        for p in early:
            on_print(p)
        self._tapped = on_print

    def wait_first_print(self, timeout: float) -> bool:
        """Block until the first print has set the venue clock (buffering what it made)."""
        self._early = []
        end = _time.monotonic() + timeout
        while not self.clock.anchored:
            if self.stop.is_set() or _time.monotonic() >= end:
                return False
            self._pending += self.poll()
            if not self.clock.anchored:
                self.stop.wait(POLL_S)
        return True

    def __iter__(self) -> Iterator[BarFrame]:
        self._early = None  # untapped: nobody wants the early prints
        pending, self._pending = self._pending, []
        yield from pending
        while True:
            if self.stop.is_set():
                self.ended = "stop requested"
                return
            if self.deadline is not None and _time.monotonic() >= self.deadline:
                self.ended = "duration reached"
                return
            frames = self.poll()
            if self.idle is not None:
                self.idle()
            if not frames:
                self.stop.wait(POLL_S)
            yield from frames


@dataclass(frozen=True, slots=True)
class BrokerRun:
    engine: Engine
    loop: LoopResult
    feed: FeedStats
    stopped: str


def run_broker(
    config: QtsConfig,
    *,
    broker: str = "kis",
    account: str = "paper",
    duration: timedelta | None = None,
    stop: threading.Event | None = None,
    env: Mapping[str, str] | None = None,
    on_cycle: Callable[[CycleReport, list[Fill]], None] | None = None,
    on_ready: Callable[[Engine], None] | None = None,
    echo: Callable[[str], None] = print,
    db: Path | None = None,
) -> BrokerRun:
    """Trade through ``broker`` on ``account`` until ``stop`` is set or ``duration`` (wall
    time) has passed. The books are durable (:mod:`qts.app.live_books`): ``db`` or the
    account's default file under ``var/``, or the ``data.backend`` store."""
    environ = dict(os.environ if env is None else env)
    if broker not in VENUES:
        raise ConfigError("command line", "--broker", f"no live path for broker {broker!r}")
    problems = account_problems(config, account, environ)
    if problems:
        raise ConfigError("command line", "--account", "; ".join(problems))
    stop = stop or threading.Event()
    deadline = _time.monotonic() + duration.total_seconds() if duration is not None else None
    calendar = KrxCalendar()
    clock = VenueClock()
    books = live_books(broker, account, venue_account_id(broker, account, environ), db)
    # the books' store first: its writer lock (ADR 0016) refuses a second run on the same books
    # before that run touches the broker (its token, WebSocket session and order map belong to
    # the run that holds the books)
    store = open_books(config.data, books.db, now=clock.now())
    try:
        venue = open_venue(
            broker,
            account,
            environ,
            clock=clock,
            instruments={},
            calendar=calendar,
            # a restarted process keeps the broker's order numbers and its token (KIS issues
            # one token a minute per app key, Kiwoom rate-limits its day-long tokens: a restart
            # must not wait for, or burn, a new one)
            order_map=books.order_map,
            token_cache=books.token_cache,
        )
    except BaseException:
        store.close()
        raise
    adapter = venue.broker
    venue.stop_reads_on(stop)
    try:
        # the account as the broker has it (qts.app.adoption): cash, and holdings to adopt
        snapshot = venue.account_snapshot()
        check_adoption(snapshot, config.live.adopt_holdings)
        # universe.symbols (or the synthetic market's) and the holdings, described by the broker
        symbols, known = universe_symbols(config)
        symbols += [s for s in sorted(snapshot.holdings) if s not in symbols]
        instruments, _asked = resolve_universe(symbols, known, venue=venue)
        universe = Universe(tuple(instruments))
        fee_table = getattr(adapter, "instruments", None)
        if isinstance(fee_table, dict):  # the adapter's fee estimates need each market
            fee_table.update(instruments)
        echo(f"{venue.describe()}; {venue.subscribe(universe.symbols)}")
        # only a run without books adopts the broker's holdings; a restart keeps its own
        fresh = store.run_meta() is None
        echo(
            f"account: cash {snapshot.cash:,} KRW, {len(snapshot.holdings)} holding(s) "
            + (
                "adopted at the broker's average price"
                if fresh
                else "at the broker (the books' own positions are kept, then reconciled)"
            )
        )
        vol = config.risk_loop
        echo(f"volatility: {venue.watch_index(vol.vol_index, vol.vol_index_poll_s)}")
        feed = BrokerBars(venue, universe, clock, stop, deadline=deadline)
        if not feed.wait_first_print(FIRST_PRINT_TIMEOUT_S) and stop.is_set():
            raise StoppedBeforeData("stopped before the first trade print")
    except BaseException:
        venue.close()
        store.close()
        raise
    if clock.anchored:
        echo(f"venue time {clock.now():%Y-%m-%d %H:%M:%S} (from the first trade print)")
    else:  # the market is closed (or quiet): the books are opened and reconciled all the same
        echo(
            f"no trade print within {FIRST_PRINT_TIMEOUT_S:g} s: starting on the wall clock "
            f"({clock.now():%Y-%m-%d %H:%M:%S} KST); the venue's time takes over at its first print"
        )
    try:
        # the adapter follows the account's orders from here on: the clock tells the venue's day
        venue.start_orders()
    except BaseException:
        venue.close()
        raise
    strategies = [
        create(name, section.params, source=f"strategies.{name}")
        for name, section in config.strategies.items()
        if section.enabled
    ]
    # a run that has books keeps their initial cash (the adoption of the first start), a new
    # one starts from the broker's cash and holdings at cost
    meta = store.run_meta()
    initial_cash = meta.initial_cash if meta is not None else snapshot.cash + snapshot.cost
    engine = build_engine(
        run_id=books.run_id,
        mode=account,
        universe=universe,
        instruments=instruments,
        strategies=strategies,
        initial_cash=initial_cash,
        fees=config.fees,
        limits=config.risk,
        start=clock.now(),
        db=books.db,
        durable=True,
        store_override=store,
        market_store=open_market_store(books.db, store),  # feedback_data beside the books
        participation=config.sim.participation,
        latency_ms=config.sim.latency_ms,
        seed=config.run.seed,
        order_type=config.execution.order_type,
        limit_offset_ticks=config.execution.limit_offset_ticks,
        max_trades_per_day=config.execution.max_trades_per_day,
        config=config.model_dump(mode="json"),
        cache=config.cache,
        webhook_url=config.safety.webhook_url,
        max_data_age=timedelta(seconds=config.safety.max_data_age_s),
        threaded_events=True,
        protect=config.risk_loop.enabled,
        capital=config.capital,
        wall_clock=True,
        venue_clock=clock,  # /health and the heartbeat judge the session by the venue's time
        scalp=True,
        broker=lambda _wall: adapter,  # the adapter keeps the venue clock (module docstring)
        order_hours=regular_order_hours(calendar, clock.now),
        # yesterday's closes (KIS 기준가): the first day's limits and the value of positions
        # before their first print
        reference_prices=venue.base_prices(universe.symbols),
        adopt=adopter(snapshot, clock.now()),
    )
    save_instrument_cache(engine.store, instruments)
    engine.runner.trading_enabled = (
        config.execution.trading_enabled and not config.execution.kill_switch
    )
    feed.on_print, feed.on_index = engine.spine.on_print, engine.spine.on_index
    # a stop does not wait behind an emergency exit the broker refused for good
    engine.spine.emergency.stopping = stop.is_set
    if on_cycle is not None:
        engine.spine.ui.append(on_cycle)
    echo(describe_books(engine, books, config.data.backend))
    feed.idle = service_chores(engine, books, calendar, clock, echo)
    if on_ready is not None:
        on_ready(engine)
    # books in PostgreSQL: every print and order event recorded, daily maintenance
    frames, recorder, finish = with_data_layer(
        engine, feed, f"{broker}-{account}", record_frames=False
    )
    if recorder is not None:
        feed.tap(lambda p: recorder.record_print(p.symbol, p.ts, p.price, p.volume))
    # books vs broker between cycles: an unexplained mismatch keeps FS070 active
    watch = BooksWatch(
        engine.oms,
        engine.runner.safety,
        clock.now,
        interval_s=config.live.books_check_s,
        stop=stop,
    )
    checkpoint = engine.runner.checkpoint_ts
    loop = TradingLoop(
        engine.runner,
        watch.wrap(frames),
        SimulatedClock(datetime(2000, 1, 1, tzinfo=KST)),  # the end of the last bar taken
        Pacer(None),  # frames arrive in real time
        session_view(calendar),
        # a bar the previous process already traded on (a restart within its minute) only
        # warms the indicators up
        resume_after=datetime.fromisoformat(checkpoint) if checkpoint else None,
        hooks=engine.spine,
        stop=stop,
    )
    try:
        result = loop.run()
    finally:
        venue.close_feeds()
        finish()
    return BrokerRun(engine, result, feed.stats, feed.ended or result.stopped)
