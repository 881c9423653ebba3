"""Paper trading on the simulated KRX exchange with a synthetic, seeded market.

The simulated clock starts at the pre-open of ``config.run.start`` and is paced against real
time at ``speed`` simulated seconds per second (``None``: as fast as events allow). Time when the
market is closed passes instantly. With a database path the run is durable: start it again after
a crash or a stop and it resumes where its books end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

from qts.app.datalayer import with_data_layer
from qts.app.stores import open_books, open_market_store, open_store
from qts.app.wiring import Engine, build_engine
from qts.brokers.sim.bar_quotes import BarBook
from qts.config.models import QtsConfig
from qts.core.clock import Pacer
from qts.core.time import at
from qts.engines.contracts import CycleReport
from qts.engines.strategy import create
from qts.feeds.replay import FrameTable
from qts.feeds.synthetic import SyntheticMarket
from qts.market.krx.calendar import KrxCalendar
from qts.model.fill import Fill
from qts.model.frame import BarFrame, Universe
from qts.pipeline.loop import LoopResult, TradingLoop
from qts.pipeline.runner import SessionView

PRE_OPEN = time(8, 30)


@dataclass(frozen=True, slots=True)
class PaperRun:
    engine: Engine
    loop: LoopResult
    start: datetime
    until: datetime | None


def session_view(calendar: KrxCalendar) -> Callable[[datetime], SessionView]:
    def view(ts: datetime) -> SessionView:
        d = ts.date()
        if not calendar.is_trading_day(d):
            return SessionView(False, 0.0)
        s = calendar.session(d)
        return SessionView(s.open <= ts <= s.close, (s.close - ts).total_seconds() / 60.0)

    return view


class VolIndexFeed:
    """The synthetic VKOSPI-like level at each bar, as the generator made it."""

    def __init__(self) -> None:
        self.levels: dict[int, float] = {}

    def __call__(self, frame: BarFrame) -> float | None:
        return self.levels.get(int(frame.start.timestamp()))


def synthetic_frames(
    market: SyntheticMarket,
    calendar: KrxCalendar,
    first_day: datetime,
    pacer: Pacer,
    vol: VolIndexFeed | None = None,
) -> Iterator[BarFrame]:
    """Minute frames day after day, without end; the pacer skips the closed hours."""
    day = first_day.date()
    if not calendar.is_trading_day(day):
        day = calendar.next_trading_day(day)
    state = market.start_state()
    while True:
        out = market.day(day, state)
        table = FrameTable(list(out.bars.values()), last_end=calendar.session(day).close)
        if vol is not None:
            vol.levels = dict(zip(table.ts.tolist(), out.vol_index.value.tolist(), strict=False))
        pacer.rebase()
        yield from table.frames()
        state = out.end_state
        day = calendar.next_trading_day(day)


def run_paper(
    config: QtsConfig,
    db: Path | None,
    speed: float | None,
    duration: timedelta | None,
    on_cycle: Callable[[CycleReport, list[Fill]], None] | None = None,
    stop: threading.Event | None = None,
    on_ready: Callable[[Engine], None] | None = None,
) -> PaperRun:
    market = SyntheticMarket(config.run.seed)
    vol = VolIndexFeed()
    calendar = KrxCalendar()
    start = at(config.run.start, PRE_OPEN)
    instruments = {i.symbol: i for i in market.instruments()}
    universe = Universe(tuple(instruments))
    strategies = [
        create(name, section.params, source=f"strategies.{name}")
        for name, section in config.strategies.items()
        if section.enabled
    ]
    books = (
        open_books(config.data, db, now=start)
        if db is not None
        else open_store(config.data, db, durable=False, now=start)
    )
    try:
        engine = build_engine(
            run_id=f"paper-seed{config.run.seed}-{config.run.start.isoformat()}",
            mode="paper",
            universe=universe,
            instruments=instruments,
            strategies=strategies,
            initial_cash=config.run.initial_cash,
            fees=config.fees,
            limits=config.risk,
            start=start,
            db=db,
            durable=db is not None,
            participation=config.sim.participation,
            latency_ms=config.sim.latency_ms,
            seed=config.run.seed,
            order_type=config.execution.order_type,
            limit_offset_ticks=config.execution.limit_offset_ticks,
            max_trades_per_day=config.execution.max_trades_per_day,
            config=config.model_dump(mode="json"),
            cache=config.cache,
            reference_prices=dict(market.start_state().closes),
            store_override=books,
            webhook_url=config.safety.webhook_url,
            max_data_age=timedelta(seconds=config.safety.max_data_age_s),
            # paced runs use the threaded spine (P0 thread, P1/P2 pools); "as fast as possible"
            # dispatches inline: same handlers, same barriers, no thread hand-offs per bar
            threaded_events=speed is not None,
            protect=config.risk_loop.enabled,
            vol_index=vol,
            scalp=True,
            market_store=open_market_store(db, books),
            capital=config.capital,
        )
    except BaseException:
        if books is not None:
            books.close()
        raise
    engine.runner.trading_enabled = (
        config.execution.trading_enabled and not config.execution.kill_switch
    )
    if on_cycle is not None:
        engine.spine.ui.append(on_cycle)  # UI updates travel as P3 events
    if on_ready is not None:
        on_ready(engine)
    checkpoint = engine.runner.checkpoint_ts
    pacer = Pacer(speed)
    until = start + duration if duration is not None else None
    frames = synthetic_frames(market, calendar, start, pacer, vol)
    resume_after = datetime.fromisoformat(checkpoint) if checkpoint else None
    # books in PostgreSQL: ticks, order events, daily maintenance; hybrid: the CD-001 check
    frames, _recorder, finish = with_data_layer(engine, frames, "paper", resume_after)
    loop = TradingLoop(
        engine.runner,
        frames,
        engine.sim_clock,
        pacer,
        session_view(calendar),
        venue=BarBook(engine.venue, instruments) if engine.venue is not None else None,
        resume_after=resume_after,
        until=until,
        stop=stop,
        hooks=engine.spine,
    )
    try:
        result = loop.run()
    finally:
        finish()
    return PaperRun(engine, result, start, until)
