"""``qts sim serve --broker kis``: the KIS fake replaying the seeded synthetic market.

The clock starts one minute before the first day's open and runs ``speed`` times faster than
real time; each minute bar is fed to the exchange when the clock reaches its end, and nights
are skipped. Credentials are the documented test ones (docs/brokers.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta

from qts.brokers.kis.config import KisMode
from qts.brokers.kis.fake.options import FakeKisOptions
from qts.brokers.kis.fake.paced_clock import PacedClock
from qts.brokers.kis.fake.server import FakeKisServer
from qts.core.time import KST
from qts.feeds.replay import FrameTable
from qts.feeds.synthetic import MarketState, SyntheticMarket
from qts.feeds.synthetic_codes import CatalogMarket, SyntheticCatalog
from qts.market.krx.calendar import KrxCalendar
from qts.model.frame import BarFrame

log = logging.getLogger("qts.brokers.kis.fake")

DEFAULT_PORTS = {KisMode.PAPER: (29443, 31000), KisMode.REAL: (9443, 21000)}


def synthetic_frames(
    market: SyntheticMarket, days: list[date], calendar: KrxCalendar
) -> Iterator[BarFrame]:
    """Minute frames of ``days``, one day generated at a time (each from the last day's end)."""
    state: MarketState = market.start_state()
    for d in days:
        out = market.day(d, state)
        state = out.end_state
        table = FrameTable(list(out.bars.values()), last_end=calendar.session(d).close)
        yield from table.frames()


def first_day(calendar: KrxCalendar, today: date | None = None) -> date:
    d = today or datetime.now(KST).date()
    return d if calendar.is_trading_day(d) else calendar.next_trading_day(d)


def build_replay_server(
    *,
    seed: int = 7,
    speed: float = 60.0,
    mode: KisMode = KisMode.PAPER,
    day: date | None = None,
    days: int = 1,
    options: FakeKisOptions | None = None,
    holdings: Mapping[str, Mapping[str, int]] | None = None,
) -> tuple[FakeKisServer, PacedClock, Iterator[BarFrame]]:
    """A fake on the synthetic market (not started), its clock and its frames. ``holdings``:
    what each app key's account holds before the replay (symbol -> shares)."""
    calendar = KrxCalendar()
    start_day = first_day(calendar, day)
    trading = [start_day]
    while len(trading) < max(1, days):
        trading.append(calendar.next_trading_day(trading[-1]))
    market = SyntheticMarket(seed)
    instruments = {i.symbol: i for i in market.instruments()}
    clock = PacedClock(calendar.session(start_day).open - timedelta(minutes=1), speed)
    catalog = SyntheticCatalog(market.universe)  # any valid code a client names joins it
    server = FakeKisServer(
        instruments,
        clock,
        options=options or FakeKisOptions(mode=mode, order_book=True),
        reference_prices=dict(market.start_state().closes),
        calendar=calendar,
        catalog=catalog,
        holdings=holdings,
    )
    market_days = CatalogMarket(seed, catalog, calendar)
    server.index_source = market_days.level_at  # the synthetic VKOSPI of the replayed day

    def frames() -> Iterator[BarFrame]:
        for d in trading:
            yield from market_days.frames(d)

    return server, clock, frames()


def serve_kis(
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    ws_port: int | None = None,
    seed: int = 7,
    speed: float = 60.0,
    mode: str = "paper",
    day: date | None = None,
    days: int = 1,
    echo: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> None:
    """Serve until interrupted (or ``stop`` is set). ``port``/``ws_port`` default to KIS's
    own ports for the mode (paper 29443/31000, real 9443/21000); 0 picks free ports."""
    kis_mode = KisMode(mode)
    rest_default, ws_default = DEFAULT_PORTS[kis_mode]
    server, clock, frames = build_replay_server(
        seed=seed, speed=speed, mode=kis_mode, day=day, days=days
    )
    server.start(
        host, rest_default if port is None else port, ws_default if ws_port is None else ws_port
    )
    try:
        server.replay(frames, clock)
        echo(f"KIS fake ({kis_mode.value}) REST {server.rest_url}  WebSocket {server.ws_url}")
        echo(
            f"synthetic market seed {seed}, from {clock.now().isoformat()} at {speed:g}x; "
            "test credentials: docs/brokers.md"
        )
        waiter = stop or threading.Event()
        try:
            while not waiter.wait(0.5):
                pass
        except KeyboardInterrupt:
            echo("stopping")
    finally:
        server.stop()
