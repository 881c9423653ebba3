"""A KIS-compatible exchange on 127.0.0.1: REST and WebSocket listeners over a real SimBroker.

It speaks KIS's wire protocol as brokers-and-sheets-wire.md §1 describes it — paths, headers,
TR ids (new and legacy), field names, strings for numbers, ``rt_cd``/``msg_cd``/``msg1`` with a
space-padded ``msg1``, paging by ``tr_cont``, token rules, per-app-key rate limits, approval
keys, AES-encrypted fill notices, PINGPONG — so a client written against KIS's own samples works
with only its base URLs changed. docs/brokers.md lists what it implements and what it does not.

Time is the caller's: in tests a :class:`~qts.core.clock.SimulatedClock` moved by
:meth:`FakeKisServer.advance` (one bar frame at a time); for ``qts sim serve`` a
:class:`PacedClock` that replays the seeded synthetic market at ``speed`` × real time.
Everything runs on one asyncio loop in a background thread; the public methods are safe to call
from any other thread.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import TypeVar

from aiohttp import web

from qts.brokers.kis.fake.auth import Token
from qts.brokers.kis.fake.credentials import FakeApp
from qts.brokers.kis.fake.faults import Faults
from qts.brokers.kis.fake.market import MarketData
from qts.brokers.kis.fake.options import FakeKisOptions, ServerStats
from qts.brokers.kis.fake.paced_clock import PacedClock
from qts.brokers.kis.fake.rest import handle_rest
from qts.brokers.kis.fake.venue import FakeAccount
from qts.brokers.kis.fake.websocket import (
    Session,
    close_session,
    handle_ws,
    push_market,
    push_notices,
)
from qts.core.clock import Clock, SimulatedClock
from qts.feeds.synthetic_codes import SyntheticCatalog
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.fees import FeeModel
from qts.model.frame import BarFrame
from qts.model.instrument import Instrument

__all__ = ["FakeKisOptions", "FakeKisServer", "PacedClock", "ServerStats"]

log = logging.getLogger("qts.brokers.kis.fake")

T = TypeVar("T")


class FakeKisServer:
    """The fake KIS exchange. ``start()`` binds both ports; use as a context manager."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        *,
        options: FakeKisOptions | None = None,
        reference_prices: Mapping[str, int] | None = None,
        holdings: Mapping[str, Mapping[str, int]] | None = None,
        fees: FeeModel | None = None,
        calendar: KrxCalendar | None = None,
        catalog: SyntheticCatalog | None = None,
    ) -> None:
        self.options = options or FakeKisOptions()
        # with a catalog, every valid KRX code is served (listed on first sight)
        self.catalog = catalog
        # index levels: what a test set (set_index) wins over the replay's synthetic series
        self.indices: dict[str, float] = {}
        self.index_source: Callable[[datetime], float | None] | None = None
        self.clock = clock
        self.instruments = dict(instruments)
        self.market = MarketData(instruments, reference_prices)
        self.faults = Faults()
        self.stats = ServerStats()
        apps = self.options.app_list()
        for app in apps:
            if app.mode is not self.options.mode:
                raise ValueError(f"{app!r} is for the {app.mode.value} server")
        self.apps: dict[str, FakeApp] = {a.app_key: a for a in apps}
        self.accounts: dict[str, FakeAccount] = {
            a.app_key: FakeAccount(
                a,
                instruments,
                clock,
                sim_config=self.options.sim_config,
                fees=fees,
                calendar=calendar,
                reference_prices=reference_prices,
                holdings=(holdings or {}).get(a.app_key),
                order_book=self.options.order_book,
            )
            for a in apps
        }
        if (
            self.accounts and self.options.order_book
        ):  # quotes (H0STASP0, inquire-asking-price) show the venue's book
            self.market.depth = next(iter(self.accounts.values())).sim.depth
        self._tokens: dict[str, Token] = {}
        self._last_token_call: dict[str, float] = {}
        self._approvals: dict[str, str] = {}  # approval key -> app key
        self._approval_of: dict[str, str] = {}  # app key -> approval key
        self._window: dict[str, deque[float]] = {}
        self._sessions: list[Session] = []
        self._jwt_secret = secrets.token_bytes(32)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._runners: list[web.AppRunner] = []
        self._sub_counts: Counter[tuple[str, str]] = Counter()
        self._sub_cond = threading.Condition()
        self._replay_task: asyncio.Task[None] | None = None
        self._startup_error: BaseException | None = None
        self._ws_refusing = False
        self.host = "127.0.0.1"
        self.port = 0
        self.ws_port = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0, ws_port: int = 0) -> FakeKisServer:
        """Bind REST on ``port`` and WebSocket on ``ws_port`` (0 = any free port) and serve
        from a background thread; returns once both listen."""
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the KIS fake listens on loopback only")
        self.host = host
        self._thread = threading.Thread(
            target=self._serve, args=(host, port, ws_port), name="kis-fake", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("KIS fake did not start within 10 s")
        if self._startup_error is not None:
            raise RuntimeError(f"KIS fake failed to start: {self._startup_error}")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        try:
            fut.result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> FakeKisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.ws_port}"

    def _serve(self, host: str, port: int, ws_port: int) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start_sites(host, port, ws_port))
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _start_sites(self, host: str, port: int, ws_port: int) -> None:
        rest = web.Application()
        rest.router.add_route("*", "/{tail:.*}", functools.partial(handle_rest, self))
        wsapp = web.Application()
        wsapp.router.add_route("GET", "/{tail:.*}", functools.partial(handle_ws, self))
        for app, wanted in ((rest, port), (wsapp, ws_port)):
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)  # no access log:
            await runner.setup()  # its query strings hold account numbers
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, wanted))
            site = web.SockSite(runner, sock)
            await site.start()
            self._runners.append(runner)
            if app is rest:
                self.port = sock.getsockname()[1]
            else:
                self.ws_port = sock.getsockname()[1]

    async def _shutdown(self) -> None:
        if self._replay_task is not None:
            self._replay_task.cancel()
        for s in list(self._sessions):
            await close_session(self, s, abrupt=False)
        for runner in self._runners:
            await runner.cleanup()

    # ------------------------------------------------------------------ thread-safe controls

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop (where all state lives) and return its result."""
        return self._run(self._wrap(fn))

    def advance(self, frame: BarFrame) -> None:
        """Feed one bar frame: the clock moves to its start, the exchange matches it, the clock
        moves to its end; fills become notices, bars become trade/order-book pushes."""
        self._run(self._advance(frame, move_clock=True))

    def set_time(self, ts: datetime) -> None:
        """Move a SimulatedClock forward without a bar (e.g. past the close: orders expire)."""
        self._run(self._set_time(ts))

    def expire_tokens(self) -> None:
        """Every issued token now answers EGW00123 (as if its day had passed)."""

        def expire() -> None:
            for tok in self._tokens.values():
                tok.expired = True
            self._last_token_call.clear()

        self.call(expire)

    def drop_websockets(self, abrupt: bool = True) -> int:
        """Close every WebSocket session (``abrupt``: reset the TCP connection, no close frame).
        Returns how many were closed."""

        async def drop() -> int:
            sessions = list(self._sessions)
            for s in sessions:
                await close_session(self, s, abrupt=abrupt)
            return len(sessions)

        return self._run(drop())

    def refuse_websockets(self, refuse: bool = True) -> None:
        """While set, WebSocket handshakes fail with HTTP 503 (an outage the client rides out
        with its reconnect backoff); ``refuse_websockets(False)`` ends it."""
        self._ws_refusing = refuse

    def subscriptions(self, tr_id: str, tr_key: str) -> int:
        """How many successful registrations of (tr_id, tr_key) the fake has answered so far."""
        with self._sub_cond:
            return self._sub_counts[(tr_id, tr_key)]

    def wait_subscribed(
        self, tr_id: str, tr_key: str, count: int = 1, timeout: float = 5.0
    ) -> bool:
        """Block until (tr_id, tr_key) has been registered ``count`` times in total."""
        deadline = time.monotonic() + timeout
        with self._sub_cond:
            while self._sub_counts[(tr_id, tr_key)] < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._sub_cond.wait(left)
            return True

    def account(self, app_key: str | None = None) -> FakeAccount:
        """The account of ``app_key`` (the only one by default). Read it through ``call``."""
        if app_key is None:
            return next(iter(self.accounts.values()))
        return self.accounts[app_key]

    def replay(self, frames: Iterable[BarFrame], clock: PacedClock) -> None:
        """Feed ``frames`` as the paced clock reaches each frame's end (``qts sim serve``)."""

        async def start() -> None:
            self._replay_task = asyncio.get_running_loop().create_task(self._replay(frames, clock))

        self._run(start())

    def _run(self, coro: Awaitable[T]) -> T:
        loop = self._loop
        if loop is None:
            raise RuntimeError("KIS fake is not running; call start() first")
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, loop)  # type: ignore[arg-type]
        return fut.result(30)

    @staticmethod
    async def _wrap(fn: Callable[[], T]) -> T:
        return fn()

    # ------------------------------------------------------------------ market data and time

    async def _advance(self, frame: BarFrame, *, move_clock: bool) -> None:
        clock = self.clock
        if move_clock and isinstance(clock, SimulatedClock) and frame.start > clock.now():
            clock.advance_to(frame.start)
        traded = self.market.on_frame(frame)
        fresh = {n: a.book.fresh(frame) for n, a in self.accounts.items() if a.book is not None}
        for account in self.accounts.values():
            account.sim.on_frame(frame)
        if move_clock and isinstance(clock, SimulatedClock) and frame.end > clock.now():
            clock.advance_to(frame.end)
        for name, account in self.accounts.items():  # the bar's prints, then its order book
            if account.book is not None:
                account.book.feed(frame, prints=fresh[name])
        push_market(self, traded, frame.end)  # the print first, then the fills it made
        for account in self.accounts.values():
            account.sim.open_orders()  # lets time act (expiry at the close)
            push_notices(self, account.pump())

    async def _set_time(self, ts: datetime) -> None:
        if isinstance(self.clock, SimulatedClock) and ts > self.clock.now():
            self.clock.advance_to(ts)
        for account in self.accounts.values():
            account.sim.open_orders()
            push_notices(self, account.pump())

    async def _replay(self, frames: Iterable[BarFrame], clock: PacedClock) -> None:
        for frame in frames:
            if frame.start - clock.now() > timedelta(minutes=30):
                clock.jump_to(frame.start - timedelta(minutes=1))  # skip nights and weekends
            wait = clock.seconds_until(frame.end)
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await self._advance(frame, move_clock=False)
            except Exception:
                log.exception("replay: frame at %s failed", frame.start.isoformat())
        log.info("replay finished")

    # ------------------------------------------------------------------ REST

    def set_index(self, code: str, value: float) -> None:
        """Index ``code`` stands at ``value`` from now on (a test's spike)."""
        self.call(lambda: self.indices.__setitem__(code, value))

    def index_level(self, code: str) -> float:
        """Index ``code`` now: what a test set, else the replay's synthetic VKOSPI, else 18."""
        if code in self.indices:
            return self.indices[code]
        level = self.index_source(self.clock.now()) if self.index_source is not None else None
        return level if level is not None else 18.0

    def list_symbol(self, symbol: str) -> bool:
        """``symbol`` is served; a valid code new to the catalog is listed on first sight
        (instrument, quotes, every account's exchange; the replay adds its series)."""
        if symbol in self.instruments:
            return True
        sym = self.catalog.add(symbol) if self.catalog is not None else None
        if sym is None:
            return False
        inst = sym.instrument
        self.instruments[symbol] = inst
        self.market.add_symbol(inst, sym.base_price)
        for account in self.accounts.values():
            account.instruments[symbol] = inst
            account.sim.add_instrument(inst, sym.base_price)
        return True
