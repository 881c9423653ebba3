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
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import socket
import string
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from qts.brokers.kis import crypto
from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.config import KisMode
from qts.brokers.kis.fake.credentials import FakeApp, default_app
from qts.brokers.kis.fake.faults import Fault, Faults
from qts.brokers.kis.fake.market import MarketData, index_outputs
from qts.brokers.kis.fake.venue import INPUT_ERROR, ORDER_OK, FakeAccount, FakeRefusal, Notice
from qts.brokers.sim import SimConfig
from qts.core.clock import Clock, SimulatedClock
from qts.core.time import KST, require_aware
from qts.feeds.synthetic_codes import SyntheticCatalog
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.fees import FeeModel
from qts.model.enums import OrderSide
from qts.model.frame import BarFrame
from qts.model.instrument import Instrument

log = logging.getLogger("qts.brokers.kis.fake")

T = TypeVar("T")

MSG1_WIDTH = 40  # KIS right-pads msg1 with spaces; clients must strip()
STATS_KEEP = 100_000  # request times kept per app key (a long `qts sim serve` stays bounded)
_APIS_BY_PATH: dict[str, list[ep.Api]] = {}
for _api in ep.ALL_APIS:
    _APIS_BY_PATH.setdefault(_api.path, []).append(_api)

OK_QUERY = ("KIOK0510", "조회가 완료되었습니다")
OK_LAST_PAGE = ("KIOK0460", "조회 되었습니다. (마지막 자료)")
OK_MORE = ("KIOK0500", "조회가 계속됩니다..다음버튼을 Click 하십시오.")
OK_EMPTY = ("KIOK0560", "조회할 내용이 없습니다")
OK_GENERIC = ("MCA00000", "정상처리 되었습니다.")
RATE_LIMITED = ("EGW00201", "초당 거래건수를 초과하였습니다.")
TOKEN_EXPIRED = ("EGW00123", "기간이 만료된 token 입니다.")
TOKEN_INVALID = ("EGW00121", "유효하지 않은 token 입니다.")
TOKEN_TOO_SOON = ("EGW00133", "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)")
BAD_APPKEY = ("EGW00103", "유효하지 않은 AppKey입니다.")
BAD_APPSECRET = ("EGW00105", "유효하지 않은 AppSecret입니다.")
NO_DATA = ("KIOK0560", "조회할 내용이 없습니다")
BAD_TR = ("EGW00204", "유효하지 않은 TR ID 입니다.")  # fake's code; KIS's is not published
NOT_IN_PAPER = ("APBK9902", "모의투자에서는 해당업무가 제공되지 않습니다.")
SERVER_FAULT = ("EGW00001", "일시적인 오류가 발생했습니다.")


# ---------------------------------------------------------------------------- options, stats


@dataclass(frozen=True, slots=True)
class FakeKisOptions:
    """Knobs of the fake. ``None`` picks KIS's value for the mode."""

    mode: KisMode = KisMode.PAPER
    apps: tuple[FakeApp, ...] = ()
    rate_limit: int | None = None  # requests per window per app key (20 real, 2 paper)
    rate_window_s: float = 1.0
    rate_limit_status: int = 500  # HTTP status of EGW00201 (fixtures disagree: 500 or 200)
    token_error_status: int = 500  # HTTP status of EGW00121/EGW00123
    token_lifetime_s: float = 86_400.0
    token_reissue_interval_s: float = 60.0  # EGW00133 when tokenP comes sooner
    token_same_window_s: float = 6 * 3600.0  # tokenP returns the same token within this
    ping_interval_s: float = 10.0
    max_registrations: int = ep.MAX_REGISTRATIONS
    ccld_page_size: int | None = None  # 100 real, 15 paper
    balance_page_size: int | None = None  # 50 real, 20 paper
    accept_legacy_tr: bool = True
    sim_config: SimConfig | None = None
    pad_msg1: bool = True
    # trade on the simulated exchange's order book (quotes and prints from each bar) and show
    # it in H0STASP0 / inquire-asking-price; off: the documented bar-fill model
    order_book: bool = False

    @property
    def paper(self) -> bool:
        return self.mode is KisMode.PAPER

    @property
    def limit(self) -> int:
        return self.rate_limit if self.rate_limit is not None else (2 if self.paper else 20)

    @property
    def ccld_page(self) -> int:
        return self.ccld_page_size or (15 if self.paper else 100)

    @property
    def balance_page(self) -> int:
        return self.balance_page_size or (20 if self.paper else 50)

    def app_list(self) -> tuple[FakeApp, ...]:
        return self.apps or (default_app(self.mode),)


@dataclass(slots=True)
class ServerStats:
    """What the fake saw; read by tests (values are appended on the loop thread)."""

    accepted: dict[str, deque[float]] = field(default_factory=dict, repr=False)  # by app key
    paths: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    token_expired_hits: int = 0
    tokens_issued: int = 0
    tokens_refused: int = 0
    orders_placed: int = 0
    ws_connections: int = 0
    pongs: int = 0
    pingpongs_sent: int = 0
    notices_sent: int = 0
    faults_fired: int = 0

    def max_in_window(self, app_key: str, window: float = 1.0) -> int:
        """The most accepted requests of ``app_key`` inside any window of ``window`` seconds."""
        times = sorted(self.accepted.get(app_key, []))
        best, j = 0, 0
        for i, t in enumerate(times):
            while t - times[j] >= window:
                j += 1
            best = max(best, i - j + 1)
        return best


@dataclass(slots=True)
class _Token:
    value: str
    app_key: str
    issued_at: float  # time.time()
    expires_at: float
    expired: bool = False


@dataclass(eq=False, slots=True)
class _Session:
    ws: web.WebSocketResponse
    request: web.Request
    out: asyncio.Queue[str | None]
    app: FakeApp | None = None
    regs: set[tuple[str, str]] = field(default_factory=set)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # tr_id -> (key, iv)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


# ---------------------------------------------------------------------------- paced clock


class PacedClock:
    """Simulated time that runs ``speed`` times faster than real time; may jump forward."""

    def __init__(self, start: datetime, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._origin_sim = require_aware(start, "paced clock start")
        self._origin_real = time.monotonic()
        self.speed = speed
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._origin_real) * self.speed
            return self._origin_sim + timedelta(seconds=elapsed)

    def jump_to(self, ts: datetime) -> None:
        """Skip ahead (e.g. over a night); never backwards."""
        with self._lock:
            now = self._origin_sim + timedelta(
                seconds=(time.monotonic() - self._origin_real) * self.speed
            )
            if ts > now:
                self._origin_sim, self._origin_real = ts, time.monotonic()

    def seconds_until(self, ts: datetime) -> float:
        return max(0.0, (ts - self.now()).total_seconds() / self.speed)


# ---------------------------------------------------------------------------- the server


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
        self._tokens: dict[str, _Token] = {}
        self._last_token_call: dict[str, float] = {}
        self._approvals: dict[str, str] = {}  # approval key -> app key
        self._approval_of: dict[str, str] = {}  # app key -> approval key
        self._window: dict[str, deque[float]] = {}
        self._sessions: list[_Session] = []
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
        rest.router.add_route("*", "/{tail:.*}", self._handle_rest)
        wsapp = web.Application()
        wsapp.router.add_route("GET", "/{tail:.*}", self._handle_ws)
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
            await self._close_session(s, abrupt=False)
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
                await self._close_session(s, abrupt=abrupt)
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
        self._push_market(traded, frame.end)  # the print first, then the fills it made
        for account in self.accounts.values():
            account.sim.open_orders()  # lets time act (expiry at the close)
            self._push_notices(account.pump())

    async def _set_time(self, ts: datetime) -> None:
        if isinstance(self.clock, SimulatedClock) and ts > self.clock.now():
            self.clock.advance_to(ts)
        for account in self.accounts.values():
            account.sim.open_orders()
            self._push_notices(account.pump())

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

    async def _handle_rest(self, request: web.Request) -> web.StreamResponse:
        path, method = request.path, request.method
        fault = self.faults.take(method, path, after=False)
        if fault is not None:
            early = await self._apply_fault(fault, request)
            if early is not None:
                return early
        try:
            response = await self._route(request)
        except FakeRefusal as refusal:
            response = self._envelope({}, (refusal.msg_cd, refusal.msg1), ok=False)
        fault = self.faults.take(method, path, after=True)
        if fault is not None:
            late = await self._apply_fault(fault, request)
            if late is not None:
                return late
        return response

    async def _apply_fault(self, fault: Fault, request: web.Request) -> web.StreamResponse | None:
        self.stats.faults_fired += 1
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.drop:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never reaches the client
        if fault.status:
            if fault.msg_cd:
                body = {"rt_cd": "1", "msg_cd": fault.msg_cd, "msg1": self._pad(SERVER_FAULT[1])}
                return web.json_response(body, status=fault.status)
            return web.Response(status=fault.status, text="Internal Server Error")
        return None

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if request.method == "POST" and path == ep.TOKEN_PATH:
            return await self._token(request)
        if request.method == "POST" and path == ep.REVOKE_PATH:
            return await self._revoke(request)
        if request.method == "POST" and path == ep.APPROVAL_PATH:
            return await self._approval(request)
        if request.method == "POST" and path == ep.HASHKEY_PATH:
            return await self._hashkey(request)
        apis = _APIS_BY_PATH.get(path)
        if apis is None or request.method != apis[0].method:
            return web.json_response(
                {"rt_cd": "1", "msg_cd": "OPSQ0001", "msg1": self._pad("없는 서비스 코드 입니다")},
                status=404,
            )
        return await self._uapi(request, apis)

    async def _uapi(self, request: web.Request, apis: list[ep.Api]) -> web.StreamResponse:
        h = request.headers
        app = self.apps.get(h.get("appkey", ""))
        if app is None:
            return self._envelope({}, BAD_APPKEY, ok=False, status=403)
        if not hmac.compare_digest(h.get("appsecret", ""), app.app_secret):
            return self._envelope({}, BAD_APPSECRET, ok=False, status=403)
        # custtype (P individual / B corporate) is optional: KIS assumes P without it
        if not self._admit(app.app_key):
            self.stats.rate_limited += 1
            return self._envelope({}, RATE_LIMITED, ok=False, status=self.options.rate_limit_status)
        auth = h.get("authorization", "")
        token = self._tokens.get(auth.removeprefix("Bearer ").strip())
        if token is None or token.app_key != app.app_key:
            return self._envelope(
                {}, TOKEN_INVALID, ok=False, status=self.options.token_error_status
            )
        if token.expired or time.time() >= token.expires_at:
            self.stats.token_expired_hits += 1
            return self._envelope(
                {}, TOKEN_EXPIRED, ok=False, status=self.options.token_error_status
            )
        tr_id = h.get("tr_id", "")
        api = self._api_for(apis, tr_id)
        if api is None:
            other = any(tr_id in a.accepted_tr_ids(not self.options.paper) for a in apis)
            refusal = NOT_IN_PAPER if other and self.options.paper else BAD_TR
            return self._envelope({}, refusal, ok=False, tr_id=tr_id)
        if self.options.paper and not api.paper_supported:
            return self._envelope({}, NOT_IN_PAPER, ok=False, tr_id=tr_id)
        self.stats.paths[api.name] += 1
        account = self.accounts[app.app_key]
        if api.method == "POST":
            body = await _json_body(request)
            return self._post(api, account, body, tr_id)
        params = {k.upper(): v for k, v in request.query.items()}
        return self._get(api, account, params, tr_id, h.get("tr_cont", ""))

    def _api_for(self, apis: list[ep.Api], tr_id: str) -> ep.Api | None:
        for api in apis:
            ids = api.accepted_tr_ids(self.options.paper)
            if not self.options.accept_legacy_tr and api.legacy:
                ids = frozenset({api.tr_id(self.options.paper)})
            if tr_id in ids:
                return api
        return None

    def _admit(self, app_key: str) -> bool:
        now = time.monotonic()
        window = self._window.setdefault(app_key, deque())
        while window and now - window[0] >= self.options.rate_window_s:
            window.popleft()
        if len(window) >= self.options.limit:
            return False
        window.append(now)
        self.stats.accepted.setdefault(app_key, deque(maxlen=STATS_KEEP)).append(now)
        return True

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

    def _post(
        self, api: ep.Api, account: FakeAccount, body: dict[str, Any], tr_id: str
    ) -> web.StreamResponse:
        if any(k != k.upper() for k in body):
            raise FakeRefusal(INPUT_ERROR)  # KIS wants upper-case keys in POST bodies
        if api in (ep.ORDER_BUY, ep.ORDER_SELL):
            self.list_symbol(str(body.get("PDNO", "")))
            side = OrderSide.BUY if api is ep.ORDER_BUY else OrderSide.SELL
            output, notices = account.order_cash(body, side)
            self.stats.orders_placed += 1
        else:
            output, notices = account.rvsecncl(body)
        self._push_notices(notices)
        return self._envelope({"output": output}, ORDER_OK, tr_id=tr_id)

    def _get(
        self,
        api: ep.Api,
        account: FakeAccount,
        params: dict[str, str],
        tr_id: str,
        tr_cont: str,
    ) -> web.StreamResponse:
        if api is ep.PRICE or api is ep.ORDERBOOK:
            symbol = params.get("FID_INPUT_ISCD", "")
            if not self.list_symbol(symbol):
                raise FakeRefusal(("APBK9005", "주문종목이 존재하지 않습니다."))
            if api is ep.PRICE:
                return self._envelope(
                    {"output": self.market.price_output(symbol)}, OK_GENERIC, tr_id=tr_id
                )
            out1, out2 = self.market.orderbook_outputs(symbol)
            return self._envelope({"output1": out1, "output2": out2}, OK_GENERIC, tr_id=tr_id)
        if api is ep.SEARCH_INFO:
            symbol = params.get("PDNO", "")
            kind = params.get("PRDT_TYPE_CD", "")
            if not symbol or not kind:
                raise FakeRefusal(INPUT_ERROR)
            if kind != ep.PRDT_TYPE_STOCK or not self.list_symbol(symbol):
                return self._envelope({}, NO_DATA, ok=False, rt_cd="7", tr_id=tr_id)
            return self._envelope(
                {"output": self.market.search_info_output(symbol)}, OK_GENERIC, tr_id=tr_id
            )
        if api is ep.INDEX_DAILY:
            code = params.get("FID_INPUT_ISCD", "")
            if params.get("FID_COND_MRKT_DIV_CODE", "") != "U" or not code:
                raise FakeRefusal(INPUT_ERROR)
            return self._envelope(index_outputs(code, self.index_level(code), self.clock.now()),
                                  OK_GENERIC, tr_id=tr_id)  # fmt: skip
        if api is ep.DAILY_CCLD:
            rows, out2 = account.ccld_rows(params)
            return self._paged(
                rows, {"output2": out2}, params, tr_id, tr_cont, self.options.ccld_page
            )
        if api is ep.BALANCE:
            rows, out2 = account.balance_rows(params, self.market.last_prices())
            return self._paged(
                rows, {"output2": [out2]}, params, tr_id, tr_cont, self.options.balance_page
            )
        if api is ep.PSBL_ORDER:
            symbol = params.get("PDNO", "")
            last = self.market.last_prices().get(symbol, 0)
            return self._envelope(
                {"output": account.psbl_order(params, last)}, OK_GENERIC, tr_id=tr_id
            )
        if api is ep.PSBL_RVSECNCL:
            rows = account.psbl_rvsecncl_rows(params)
            return self._paged(rows, {}, params, tr_id, tr_cont, 50, key="output")
        raise FakeRefusal(INPUT_ERROR)  # pragma: no cover - every GET api is routed above

    def _paged(
        self,
        rows: list[dict[str, str]],
        extra: dict[str, Any],
        params: Mapping[str, str],
        tr_id: str,
        tr_cont: str,
        size: int,
        key: str = "output1",
    ) -> web.StreamResponse:
        start = 0
        if tr_cont.upper() == "N":
            try:
                start = int((params.get("CTX_AREA_NK100", "") or "0").strip() or "0")
            except ValueError:
                raise FakeRefusal(INPUT_ERROR) from None
        page = rows[start : start + size]
        more = start + size < len(rows)
        fk = hashlib.sha256(json.dumps(sorted(params.items())).encode()).hexdigest()[:20]
        body = {
            "ctx_area_fk100": fk.ljust(100),
            "ctx_area_nk100": (str(start + size) if more else "").ljust(100),
            key: page,
            **extra,
        }
        msg = OK_MORE if more else (OK_LAST_PAGE if rows else OK_EMPTY)
        return self._envelope(body, msg, tr_id=tr_id, tr_cont="M" if more else "D")

    def _envelope(
        self,
        body: dict[str, Any],
        msg: tuple[str, str],
        *,
        ok: bool = True,
        status: int = 200,
        tr_id: str = "",
        tr_cont: str = "",
        rt_cd: str | None = None,
    ) -> web.Response:
        code = rt_cd if rt_cd is not None else ("0" if ok else "1")
        data = {"rt_cd": code, "msg_cd": msg[0], "msg1": self._pad(msg[1]), **body}
        headers = {"tr_id": tr_id, "tr_cont": tr_cont}
        text = json.dumps(data, ensure_ascii=False)
        return web.Response(
            text=text,
            status=status,
            headers=headers,
            content_type="application/json",
            charset="utf-8",
        )

    def _pad(self, text: str) -> str:
        return text.ljust(MSG1_WIDTH) if self.options.pad_msg1 else text

    # ------------------------------------------------------------------ oauth

    async def _token(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        app = self.apps.get(str(body.get("appkey", "")))
        if app is None:
            return _oauth_error(BAD_APPKEY, 403)
        if str(body.get("appsecret", "")) != app.app_secret:
            return _oauth_error(BAD_APPSECRET, 403)
        if body.get("grant_type") != "client_credentials":
            return _oauth_error(("EGW00002", "grant_type 오류입니다."), 400)
        now = time.time()
        last = self._last_token_call.get(app.app_key)
        if last is not None and now - last < self.options.token_reissue_interval_s:
            self.stats.tokens_refused += 1
            return _oauth_error(TOKEN_TOO_SOON, 403)
        self._last_token_call[app.app_key] = now
        current = next(
            (
                t
                for t in self._tokens.values()
                if t.app_key == app.app_key
                and not t.expired
                and now < t.expires_at
                and now - t.issued_at < self.options.token_same_window_s
            ),
            None,
        )
        if current is None:
            current = self._mint(app, now)
            self.stats.tokens_issued += 1
        expires = datetime.fromtimestamp(current.expires_at, KST).strftime("%Y-%m-%d %H:%M:%S")
        return web.json_response(
            {
                "access_token": current.value,
                "access_token_token_expired": expires,
                "token_type": "Bearer",
                "expires_in": round(current.expires_at - now),
            }
        )

    def _mint(self, app: FakeApp, now: float) -> _Token:
        exp = now + self.options.token_lifetime_s
        header = {"typ": "JWT", "alg": "HS512"}
        payload = {
            "sub": "token",
            "aud": str(uuid.uuid4()),
            "prdt_cd": "",
            "iss": "unogw",
            "exp": int(exp),
            "iat": int(now),
            "jti": app.app_key,
        }
        signing = f"{_b64(json.dumps(header))}.{_b64(json.dumps(payload))}"
        sig = hmac.new(self._jwt_secret, signing.encode(), hashlib.sha512).digest()
        value = f"{signing}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"
        tok = _Token(value, app.app_key, now, exp)
        self._tokens[value] = tok
        return tok

    async def _revoke(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        app = self.apps.get(str(body.get("appkey", "")))
        if app is None or str(body.get("appsecret", "")) != app.app_secret:
            return _oauth_error(BAD_APPKEY, 403)
        tok = self._tokens.get(str(body.get("token", "")))
        if tok is not None and tok.app_key == app.app_key:
            del self._tokens[tok.value]
        return web.json_response({"code": 200, "message": "접근토큰 폐기에 성공하였습니다"})

    async def _approval(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        app = self.apps.get(str(body.get("appkey", "")))
        if app is None:
            return _oauth_error(BAD_APPKEY, 403)
        if str(body.get("secretkey", "")) != app.app_secret:
            return _oauth_error(BAD_APPSECRET, 403)
        key = self._approval_of.get(app.app_key)
        if key is None:
            key = str(uuid.uuid4())
            self._approval_of[app.app_key] = key
            self._approvals[key] = app.app_key
        return web.json_response({"approval_key": key})

    async def _hashkey(self, request: web.Request) -> web.StreamResponse:
        app = self.apps.get(request.headers.get("appkey", ""))
        if app is None or request.headers.get("appsecret", "") != app.app_secret:
            return _oauth_error(BAD_APPKEY, 403)
        raw = await request.read()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        return web.json_response(
            {"BODY": body, "HASH": hashlib.sha256(raw).hexdigest()}, dumps=_dumps
        )

    # ------------------------------------------------------------------ WebSocket

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        if not request.path.startswith(ep.WS_PATH):
            return web.Response(status=404, text="not found")
        if self._ws_refusing:
            return web.Response(status=503, text="service unavailable")
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        session = _Session(ws, request, asyncio.Queue())
        self._sessions.append(session)
        self.stats.ws_connections += 1
        loop = asyncio.get_running_loop()
        session.tasks.append(loop.create_task(self._writer(session)))
        if self.options.ping_interval_s > 0:
            session.tasks.append(loop.create_task(self._pinger(session)))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_ws_text(session, msg.data)
                elif msg.type is WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type is WSMsgType.PONG:
                    self.stats.pongs += 1
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            await self._close_session(session, abrupt=False)
        return ws

    async def _writer(self, session: _Session) -> None:
        while True:
            text = await session.out.get()
            if text is None or session.ws.closed:
                return
            try:
                await session.ws.send_str(text)
            except (ConnectionResetError, RuntimeError):
                return

    async def _pinger(self, session: _Session) -> None:
        while not session.ws.closed:
            await asyncio.sleep(self.options.ping_interval_s)
            stamp = datetime.now(KST).strftime("%Y%m%d%H%M%S")
            session.out.put_nowait(json.dumps({"header": {"tr_id": "PINGPONG", "datetime": stamp}}))
            self.stats.pingpongs_sent += 1

    async def _close_session(self, session: _Session, *, abrupt: bool) -> None:
        if session not in self._sessions:
            return
        self._sessions.remove(session)
        current = asyncio.current_task()
        for task in session.tasks:
            if task is not current:
                task.cancel()
        if abrupt and session.request.transport is not None:
            session.request.transport.abort()
        elif not session.ws.closed:
            with contextlib.suppress(TimeoutError, ConnectionResetError, RuntimeError):
                await asyncio.wait_for(session.ws.close(), 1.0)

    def _on_ws_text(self, session: _Session, text: str) -> None:
        try:
            msg = json.loads(text)
            header = msg.get("header") or {}
        except (ValueError, AttributeError):
            return
        tr_id = str(header.get("tr_id", ""))
        if tr_id == "PINGPONG":
            self.stats.pongs += 1  # python-kis and mojito echo the frame back
            return
        body_in = ((msg.get("body") or {}).get("input")) or {}
        tr_id = str(body_in.get("tr_id", tr_id))
        tr_key = str(body_in.get("tr_key", ""))

        def reply(code: tuple[str, str], ok: bool, output: bool = False) -> None:
            encrypt = "Y" if tr_id in ep.NOTICE_TRS else "N"
            out: dict[str, Any] = {
                "header": {"tr_id": tr_id, "tr_key": tr_key, "encrypt": encrypt},
                "body": {"rt_cd": "0" if ok else "1", "msg_cd": code[0], "msg1": code[1]},
            }
            if output:
                key, iv = session.keys[tr_id]
                out["body"]["output"] = {"iv": iv, "key": key}
            session.out.put_nowait(json.dumps(out))

        app_key = self._approvals.get(str(header.get("approval_key", "")))
        if app_key is None:
            reply(("OPSP0011", "INVALID APPROVAL KEY"), False)
            return
        if session.app is None:
            if any(
                s.app is not None and s.app.app_key == app_key and not s.ws.closed
                for s in self._sessions
            ):
                reply(("OPSP8996", "ALREADY IN USE appkey"), False)
                return
            session.app = self.apps[app_key]
        elif session.app.app_key != app_key:
            reply(("OPSP8996", "ALREADY IN USE appkey"), False)
            return
        reg = (tr_id, tr_key)
        tr_type = str(header.get("tr_type", "1"))
        if tr_type == "2":
            if reg not in session.regs:
                reply(("OPSP0003", "UNSUBSCRIBE ERROR(not found!)"), False)
                return
            session.regs.discard(reg)
            reply(("OPSP0001", "UNSUBSCRIBE SUCCESS"), True, output=tr_id in session.keys)
            return
        if tr_id not in ep.ALL_WS_TRS:
            reply(("OPSP0007", "INTERNAL ERROR"), False)
            return
        if reg in session.regs:
            reply(("OPSP0002", "ALREADY IN SUBSCRIBE"), False)
            return
        if len(session.regs) >= self.options.max_registrations:
            reply(("OPSP0008", "MAX SUBSCRIBE OVER"), False)
            return
        if tr_id in (ep.WS_TRADES, ep.WS_ORDERBOOK):
            self.list_symbol(tr_key)
        session.regs.add(reg)
        if tr_id not in session.keys:
            session.keys[tr_id] = (_ascii(32), _ascii(16))
        reply(("OPSP0000", "SUBSCRIBE SUCCESS"), True, output=True)
        with self._sub_cond:
            self._sub_counts[reg] += 1
            self._sub_cond.notify_all()

    def _push_notices(self, notices: list[Notice]) -> None:
        if not notices:
            return
        tr = ep.notice_tr(self.options.paper)
        for s in self._sessions:
            for n in notices:
                if (tr, n.hts_id) not in s.regs or tr not in s.keys:
                    continue
                key, iv = s.keys[tr]
                s.out.put_nowait(f"1|{tr}|001|{crypto.encrypt(key, iv, n.payload)}")
                self.stats.notices_sent += 1

    def _push_market(self, symbols: list[str], when: datetime) -> None:
        if not symbols or not self._sessions:
            return
        for s in self._sessions:
            for symbol in symbols:
                if (ep.WS_TRADES, symbol) in s.regs:
                    s.out.put_nowait(
                        f"0|{ep.WS_TRADES}|001|{self.market.trade_payload(symbol, when)}"
                    )
                if (ep.WS_ORDERBOOK, symbol) in s.regs:
                    s.out.put_nowait(f"0|{ep.WS_ORDERBOOK}|001|{self.market.book_payload(symbol)}")


# ---------------------------------------------------------------------------- helpers


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError):
        raise FakeRefusal(INPUT_ERROR) from None
    if not isinstance(data, dict):
        raise FakeRefusal(INPUT_ERROR)
    return data


def _oauth_error(code: tuple[str, str], status: int) -> web.Response:
    return web.json_response(
        {"error_description": code[1], "error_code": code[0], "msg_cd": code[0], "msg1": code[1]},
        status=status,
        dumps=_dumps,
    )


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


_ALPHABET = string.ascii_lowercase


def _ascii(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))
