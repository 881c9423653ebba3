"""Running the fake: on a background thread (tests) or in the foreground (``qts sim serve``).

Market data reaches the fake in one of two ways:

* the test pushes frames with ``advance(frame)`` — time is then exactly the frames' time;
* :class:`MarketReplay` replays the seeded synthetic market (``SyntheticMarket`` one day at a
  time through ``FrameTable``) against real time × ``speed``. The night between two days lasts
  ``night_s`` real seconds (the clock stays at the close), then the next day starts at its
  pre-open with its first bar: a client learns the venue's time only from its prints, so the
  venue's day turns with the next day's first print, never while the client still (rightly)
  sees the evening of the last one — an order it sends then is refused as after the close, as
  Kiwoom refuses it, not taken for the next morning's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
import time as time_mod
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from types import TracebackType

from aiohttp import web

from qts.brokers.kiwoom.fake.server import FakeConfig, FakeKiwoom
from qts.brokers.kiwoom.fake.venue import FakeVenue
from qts.brokers.sim import SimConfig
from qts.core.clock import Clock, SimulatedClock, WallClock
from qts.core.time import KST, at
from qts.feeds.synthetic import SyntheticMarket
from qts.feeds.synthetic_codes import CatalogMarket, SyntheticCatalog
from qts.market.krx.calendar import KrxCalendar
from qts.model.frame import BarFrame

log = logging.getLogger(__name__)

PRE_OPEN = time(8, 30)


def check_loopback(host: str) -> None:
    """The fake serves only this machine."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the fake Kiwoom server binds loopback addresses only, got {host!r}")


class FakeKiwoomServer:
    """The fake on its own thread and event loop. ``start()`` returns once it listens."""

    def __init__(
        self,
        venue: FakeVenue,
        config: FakeConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_clock: Clock | None = None,
    ) -> None:
        check_loopback(host)
        self.kiwoom = FakeKiwoom(venue, config, token_clock=token_clock)
        self.venue = venue
        self.faults = self.kiwoom.faults
        self.host = host
        self.port = port
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def advance(self, frame: BarFrame) -> None:
        self.venue.advance(frame)

    def start(self, timeout: float = 10.0) -> FakeKiwoomServer:
        self._thread = threading.Thread(target=self._serve, name="fake-kiwoom", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"fake kiwoom: not listening after {timeout}s")
        if self._error is not None:
            raise RuntimeError(f"fake kiwoom: could not start: {self._error}") from self._error
        log.info("fake kiwoom: listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> FakeKiwoomServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            runner = web.AppRunner(
                self.kiwoom.app(), access_log=None, handle_signals=False, shutdown_timeout=0.2
            )
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self.port)
            loop.run_until_complete(site.start())
            self._runner = runner
            addresses = runner.addresses
            if addresses:
                self.port = int(addresses[0][1])
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()


class MarketReplay:
    """Replays the seeded synthetic market into a venue, paced at ``speed`` × real time."""

    def __init__(
        self,
        venue: FakeVenue,
        market: SyntheticMarket,
        first_day: date,
        speed: float,
        *,
        calendar: KrxCalendar | None = None,
        stop: threading.Event | None = None,
        days: int | None = None,
        night_s: float = 5.0,
        fast_until: time | None = None,
    ) -> None:
        """``fast_until``: the first day's bars before this time of day are traded at once
        (a test that needs only the day's end starts there)."""
        self.venue = venue
        self.night_s = night_s
        self.fast_until = fast_until
        self.market = market
        self.calendar = calendar or KrxCalendar()
        self.first_day = first_day
        if speed <= 0:
            raise ValueError(f"replay speed must be positive, got {speed}")
        self.speed = speed
        self.stop = stop or threading.Event()
        self.days = days
        self.frames = 0
        self._thread: threading.Thread | None = None

    def start(self) -> MarketReplay:
        self._thread = threading.Thread(target=self.run, name="fake-kiwoom-replay", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        cal = self.calendar
        day = self.first_day
        if not cal.is_trading_day(day):
            day = cal.next_trading_day(day)
        catalog = self.venue.catalog or SyntheticCatalog(self.market.universe)
        market = CatalogMarket(self.market.seed, catalog, cal)
        self.venue.index_source = market.level_at  # the synthetic VKOSPI of the replayed day
        done = 0
        while not self.stop.is_set() and (self.days is None or done < self.days):
            origin: tuple[float, datetime] | None = None  # the night has passed
            for frame in market.frames(day):
                fast = self.fast_until
                if done == 0 and fast is not None and frame.start.astimezone(KST).time() < fast:
                    self.venue.advance(frame)
                    self.frames += 1
                    continue
                if origin is None:
                    origin = (time_mod.monotonic(), frame.start)
                due = origin[0] + (frame.start - origin[1]).total_seconds() / self.speed
                if self.stop.wait(max(0.0, due - time_mod.monotonic())):
                    return
                self.venue.advance(frame)
                self.frames += 1
            done += 1
            day = cal.next_trading_day(day)
            if self.days is None or done < self.days:
                if self.stop.wait(self.night_s):  # the night, at the close
                    return
                self.venue.advance_time(at(day, PRE_OPEN))


def synthetic_venue(
    seed: int,
    first_day: date,
    *,
    initial_cash: int = 100_000_000,
    sim_config: SimConfig | None = None,
    calendar: KrxCalendar | None = None,
    order_book: bool = False,
    holdings: Mapping[str, int] | None = None,
) -> tuple[FakeVenue, SyntheticMarket, date]:
    """A venue over the seeded synthetic market's instruments, its clock at the pre-open of
    the first trading day on or after ``first_day``. ``holdings``: what the account holds
    before the replay (symbol -> shares), bought at the symbol's reference price."""
    cal = calendar or KrxCalendar()
    day = first_day if cal.is_trading_day(first_day) else cal.next_trading_day(first_day)
    market = SyntheticMarket(seed)
    instruments = {i.symbol: i for i in market.instruments()}
    venue = FakeVenue(
        instruments,
        SimulatedClock(at(day, PRE_OPEN)),
        initial_cash=initial_cash,
        holdings=holdings,
        sim_config=sim_config,
        calendar=cal,
        reference_prices=dict(market.start_state().closes),
        names={s.symbol: s.name for s in market.universe},
        order_book=order_book,
    )
    venue.catalog = SyntheticCatalog(market.universe)  # any valid code a client names
    return venue, market, day


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 7,
    speed: float | None = 60.0,
    *,
    start: date | None = None,
    initial_cash: int = 100_000_000,
    config: FakeConfig | None = None,
    stop: threading.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve a fake Kiwoom REST API until ``stop`` is set (or Ctrl-C).

    The market is the seeded synthetic market from ``start`` (default: today, KST), replayed
    at ``speed`` simulated seconds per real second (``None``: no replay; the market stands
    still). Credentials are ``FakeConfig``'s test credentials unless ``config`` says otherwise.
    ``on_ready`` receives the base URL once the server listens (``port=0`` picks a free port).
    """
    check_loopback(host)
    first = start or WallClock().now().astimezone(KST).date()
    venue, market, day = synthetic_venue(seed, first, initial_cash=initial_cash, order_book=True)
    stop = stop or threading.Event()
    server = FakeKiwoomServer(venue, config, host=host, port=port).start()
    replay = MarketReplay(venue, market, day, speed, stop=stop).start() if speed else None
    if on_ready is not None:
        on_ready(server.base_url)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if replay is not None:
            replay.join(timeout=5)
        server.stop()


__all__ = [
    "FakeKiwoomServer",
    "MarketReplay",
    "check_loopback",
    "serve",
    "synthetic_venue",
]
