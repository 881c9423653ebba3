"""A Kiwoom-compatible REST server on 127.0.0.1, backed by the simulated KRX exchange.

Wire behaviour (brokers-and-sheets-wire §2): every call is ``POST`` with a JSON body; the
operation is the ``api-id`` header and must belong to the URL's category; ``authorization:
Bearer <token>`` on everything but ``/oauth2/*``; the envelope carries ``return_code`` (0 = OK)
and ``return_msg``; errors come as HTTP 200 with a non-zero code; paging keys travel as the
``cont-yn`` / ``next-key`` headers; numbers are strings in several formats.

The spec's open questions are switches (:class:`FakeConfig`): whether error codes are the
envelope kind (``return_code`` 3 / 5 with ``[8005:...]`` / ``[1700:...]`` in the message) or the
detail code itself; whether rate limits answer HTTP 429, ``return_code`` 5, or alternate; the
per-api-id and overall limits; the token lifetime; the number formats.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from aiohttp import web

from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.fake.faults import Fault, FaultKind, FaultPlan, When
from qts.brokers.kiwoom.fake.realtime import WS_PATH, RealtimeHub
from qts.brokers.kiwoom.fake.venue import FakeVenue, Kind, KwFill, KwOrder, Refusal
from qts.core.clock import Clock, WallClock
from qts.core.errors import InputError
from qts.core.time import KST
from qts.model.enums import OrderSide, OrderType
from qts.model.frame import BarFrame
from qts.model.instrument import Market

log = logging.getLogger(__name__)

# Documented test credentials of the fake (not secrets: they open nothing but the fake).
TEST_APP_KEY = "QTSFAKEKIWOOMAPPKEY000000000000000000"
TEST_SECRET_KEY = "QTSFAKEKIWOOMSECRETKEY00000000000000000000000"  # noqa: S105
TEST_ACCOUNT_NO = "5012345678"

OK_MSG = "정상적으로 처리되었습니다"

CATEGORIES: dict[str, str] = {
    m.BUY: m.ORDER_PATH,
    m.SELL: m.ORDER_PATH,
    m.MODIFY: m.ORDER_PATH,
    m.CANCEL: m.ORDER_PATH,
    m.DEPOSIT: m.ACCOUNT_PATH,
    m.BALANCE: m.ACCOUNT_PATH,
    m.ORDERS_FILLS: m.ACCOUNT_PATH,
    m.OPEN_ORDERS: m.ACCOUNT_PATH,
    m.EXECUTIONS: m.ACCOUNT_PATH,
    m.ACCOUNTS: m.ACCOUNT_PATH,
    m.STOCK_INFO: m.STOCK_INFO_PATH,
    m.STOCK_LISTING: m.STOCK_INFO_PATH,
    m.MINUTE_CHART: m.CHART_PATH,
}


class CodeStyle(StrEnum):
    ENVELOPE = "envelope"  # return_code 3 (auth) / 5 (limit) / 2 (other), detail in brackets
    DETAIL = "detail"  # return_code = the detail code (8005, 1700, 1511, ...)


class LimitReply(StrEnum):
    HTTP_429 = "429"
    RETURN_CODE = "rc"
    ALTERNATE = "alternate"


class NumberStyle(StrEnum):
    PLAIN = "plain"  # "71000"
    PADDED = "padded"  # "0000071000"
    SIGNED = "signed"  # "+71000"
    COMMA = "comma"  # "+071,000.00"
    MIXED = "mixed"  # all of the above, in turn


@dataclass(frozen=True, slots=True)
class Limit:
    rate: float
    burst: int


@dataclass
class FakeConfig:
    """Behaviour switches of the fake. The defaults follow the spec's observations."""

    app_key: str = TEST_APP_KEY
    secret_key: str = TEST_SECRET_KEY
    account_no: str = TEST_ACCOUNT_NO
    mock: bool = True  # 모의투자: KRX only, "모의투자 ..." messages
    token_lifetime: timedelta = timedelta(hours=24)
    code_style: CodeStyle = CodeStyle.ENVELOPE
    limit_reply: LimitReply = LimitReply.ALTERNATE
    per_api: Limit | None = Limit(1.0, 2)
    overall: Limit | None = Limit(5.0, 5)
    limits: dict[str, Limit] = field(default_factory=dict)  # per api-id overrides
    page_size: int = 50
    numbers: NumberStyle = NumberStyle.MIXED
    ping_interval_s: float = 10.0  # WebSocket PING period


class _Bucket:
    def __init__(self, limit: Limit, now: float) -> None:
        self.interval = 1.0 / limit.rate
        self.tolerance = (limit.burst - 1) * self.interval
        self.tat = now

    def fits(self, now: float) -> bool:
        return now >= self.tat - self.tolerance

    def take(self, now: float) -> None:
        self.tat = max(self.tat, now) + self.interval


class _Numbers:
    """Formats numbers the ways Kiwoom does, per the configured style."""

    _CYCLE = (NumberStyle.PADDED, NumberStyle.PLAIN, NumberStyle.SIGNED, NumberStyle.COMMA)

    def __init__(self, style: NumberStyle) -> None:
        self.style = style
        self._turn = itertools.count()

    def _pick(self) -> NumberStyle:
        if self.style is NumberStyle.MIXED:
            return self._CYCLE[next(self._turn) % len(self._CYCLE)]
        return self.style

    def num(self, value: int, width: int = 10, sign: int = 0) -> str:
        """A quantity, amount or price. ``sign`` (+1/-1/0) is the direction marker Kiwoom
        puts on prices; amounts that can be negative carry their own sign."""
        style = self._pick()
        neg = value < 0
        mag = -value if neg else value
        mark = "-" if neg or sign < 0 else ("+" if sign > 0 else "")
        if style is NumberStyle.PADDED:
            return f"{mark}{mag:0{width}d}"
        if style is NumberStyle.SIGNED:
            return f"{mark or '+'}{mag}"
        if style is NumberStyle.COMMA:
            return f"{mark or '+'}{mag:07,d}.00"
        return f"{mark}{mag}"

    def hms(self, ts: datetime | None) -> str:
        if ts is None:
            return ""
        local = ts.astimezone(KST)
        if self._pick() is NumberStyle.COMMA:
            return local.strftime("%H:%M:%S")
        return local.strftime("%H%M%S")


class _Reply(Exception):
    """An error answer, raised from a handler."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("return_msg", ""))
        self.status = status
        self.body = body


Handler = Callable[[str, dict[str, Any]], dict[str, Any]]
Route = Callable[[web.Request, str, dict[str, Any]], Awaitable[web.Response]]


class FakeKiwoom:
    """The fake's request handling (an aiohttp application) over a :class:`FakeVenue`."""

    def __init__(
        self,
        venue: FakeVenue,
        config: FakeConfig | None = None,
        *,
        token_clock: Clock | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.venue = venue
        self.config = config or FakeConfig()
        self.faults = FaultPlan()
        self._token_clock = token_clock or WallClock()
        self._monotonic = monotonic or time.monotonic
        self._lock = threading.Lock()
        self._tokens: dict[str, datetime] = {}
        self._issued: list[str] = []
        self._buckets: dict[str, _Bucket] = {}
        self._overall: _Bucket | None = None
        self._limit_turn = itertools.count()
        self._fmt = _Numbers(self.config.numbers)
        self.requests: dict[str, int] = {}
        self.limited: dict[str, int] = {}
        self.tokens_issued = 0
        self.continued = 0  # pages served after the first (cont-yn: Y)
        self.token_refusals = 0
        self._handlers: dict[str, Handler] = {
            m.BUY: self._buy_sell,
            m.SELL: self._buy_sell,
            m.MODIFY: self._modify,
            m.CANCEL: self._cancel,
            m.DEPOSIT: self._deposit,
            m.BALANCE: self._balance,
            m.ORDERS_FILLS: self._orders_fills,
            m.OPEN_ORDERS: self._open_orders,
            m.EXECUTIONS: self._executions,
            m.ACCOUNTS: self._accounts,
            m.STOCK_INFO: self._stock_info,
            m.STOCK_LISTING: self._listing,
            m.MINUTE_CHART: self._minute_chart,
        }
        self.realtime = RealtimeHub(self, ping_interval_s=self.config.ping_interval_s)
        venue.frame_listeners.append(self.realtime.on_frame)
        self._lists = {
            m.BALANCE: "acnt_evlt_remn_indv_tot",
            m.ORDERS_FILLS: "acnt_ord_cntr_prst_array",
            m.OPEN_ORDERS: "oso",
            m.EXECUTIONS: "cntr",
            m.DEPOSIT: "stk_entr_prst",
            m.MINUTE_CHART: "stk_min_pole_chart_qry",
        }

    # ------------------------------------------------------------------ test controls

    def advance(self, frame: BarFrame) -> None:
        self.venue.advance(frame)

    def invalidate_tokens(self) -> None:
        """Every token issued so far stops working (as after a server-side revoke)."""
        with self._lock:
            self._tokens.clear()

    def token_valid(self, token: str) -> bool:
        """``token`` was issued here and has not expired (the WebSocket LOGIN check)."""
        with self._lock:
            expires = self._tokens.get(token.strip())
        return expires is not None and self._token_clock.now() < expires

    def issued_tokens(self) -> list[str]:
        with self._lock:
            return list(self._issued)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post(m.TOKEN_PATH, self._wrap(self._token, token_path=True))
        app.router.add_post(m.REVOKE_PATH, self._wrap(self._revoke, token_path=True))
        app.router.add_get(WS_PATH, self.realtime.handle)
        app.router.add_post("/api/dostk/{category}", self._wrap(self._dispatch))
        return app

    # ------------------------------------------------------------------ plumbing

    def _wrap(
        self, handler: Route, *, token_path: bool = False
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            default = m.TOKEN if request.path == m.TOKEN_PATH else m.REVOKE
            api_id = request.headers.get("api-id", "").strip()
            if token_path and not api_id:
                api_id = default
            with self._lock:
                self.requests[api_id] = self.requests.get(api_id, 0) + 1
            fault = self.faults.take(api_id) if api_id else None
            try:
                try:
                    body = await request.json()
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise self._error(api_id, 1517, "입력 값 형식이 올바르지 않습니다") from None
                if not isinstance(body, dict):
                    raise self._error(api_id, 1517, "입력 값 형식이 올바르지 않습니다")
                if fault is not None and fault.when is When.BEFORE:
                    early = await self._fault(request, fault, api_id)
                    if early is not None:
                        return early
                response = await handler(request, api_id, body)
            except _Reply as reply:
                response = self._json(api_id, reply.body, status=reply.status)
            if fault is not None and fault.when is When.AFTER:
                late = await self._fault(request, fault, api_id)
                if late is not None:
                    return late
            return response

        return handle

    async def _fault(
        self, request: web.Request, fault: Fault, api_id: str
    ) -> web.StreamResponse | None:
        kind = fault.kind
        if kind is FaultKind.DELAY:
            await asyncio.sleep(fault.seconds)
            return None
        if kind is FaultKind.HOLD:
            fault.reached.set()
            wait = fault.seconds or None
            await asyncio.to_thread(fault.released.wait, wait)
            return None
        if kind is FaultKind.DROP:
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError
        if kind is FaultKind.HTTP_ERROR:
            return web.Response(status=fault.status, text="Internal Server Error")
        if kind is FaultKind.RATE_LIMIT:
            reply = self._limit_reply(api_id)
            return self._json(api_id, reply.body, status=reply.status)
        if kind is FaultKind.TOKEN_INVALID:
            reply = self._token_error(api_id)
            return self._json(api_id, reply.body, status=reply.status)
        return None

    def _json(
        self,
        api_id: str,
        body: Mapping[str, Any],
        *,
        status: int = 200,
        cont: str = "",
    ) -> web.Response:
        headers = {"api-id": api_id, "cont-yn": "Y" if cont else "N", "next-key": cont}
        text = json.dumps(body, ensure_ascii=False)
        return web.Response(
            status=status,
            text=text,
            content_type="application/json",
            charset="utf-8",
            headers=headers,
        )

    def _msg(self, text: str) -> str:
        return f"모의투자 {text}" if self.config.mock else text

    def _error(self, api_id: str, detail: int, text: str, *, envelope: int = 2) -> _Reply:
        if self.config.code_style is CodeStyle.DETAIL:
            code = detail
            msg = f"{text}[{detail}:{text}]"
        else:
            code = envelope
            msg = f"{text}[{detail}:{text}]"
        return _Reply(200, {"return_code": code, "return_msg": msg})

    def _token_error(self, api_id: str) -> _Reply:
        with self._lock:
            self.token_refusals += 1
        text = "Token이 유효하지 않습니다"
        if self.config.code_style is CodeStyle.DETAIL:
            body = {"return_code": 8005, "return_msg": f"인증에 실패했습니다[8005:{text}]"}
        else:
            body = {"return_code": 3, "return_msg": f"인증에 실패했습니다[8005:{text}]"}
        return _Reply(200, body)

    def _limit_reply(self, api_id: str) -> _Reply:
        with self._lock:
            self.limited[api_id] = self.limited.get(api_id, 0) + 1
        text = "허용된 요청 개수를 초과하였습니다"
        msg = f"{text}[1700:{text}. API ID={api_id}]"
        code = 1700 if self.config.code_style is CodeStyle.DETAIL else 5
        style = self.config.limit_reply
        if style is LimitReply.ALTERNATE:
            turn = next(self._limit_turn)
            style = LimitReply.HTTP_429 if turn % 2 == 0 else LimitReply.RETURN_CODE
        status = 429 if style is LimitReply.HTTP_429 else 200
        return _Reply(status, {"return_code": code, "return_msg": msg})

    def _check_rate(self, api_id: str) -> None:
        now = self._monotonic()
        with self._lock:
            limit = self.config.limits.get(api_id, self.config.per_api)
            buckets: list[_Bucket] = []
            if limit is not None:
                bucket = self._buckets.get(api_id)
                if bucket is None:
                    bucket = self._buckets[api_id] = _Bucket(limit, now)
                buckets.append(bucket)
            if self.config.overall is not None and api_id not in (m.TOKEN, m.REVOKE):
                if self._overall is None:
                    self._overall = _Bucket(self.config.overall, now)
                buckets.append(self._overall)
            ok = all(b.fits(now) for b in buckets)
            if ok:
                for b in buckets:
                    b.take(now)
        if not ok:
            raise self._limit_reply(api_id)

    def _check_token(self, request: web.Request, api_id: str) -> None:
        auth = request.headers.get("authorization", "")
        if not auth.strip():
            raise self._error(api_id, 1514, "authorization 헤더가 없습니다", envelope=3)
        scheme, _, token = auth.strip().partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise self._error(
                api_id, 1515, "authorization 헤더 형식이 올바르지 않습니다", envelope=3
            )
        with self._lock:
            expires = self._tokens.get(token.strip())
        if expires is None or self._token_clock.now() >= expires:
            raise self._token_error(api_id)

    # ------------------------------------------------------------------ /oauth2

    async def _token(self, request: web.Request, api_id: str, body: dict[str, Any]) -> web.Response:
        if api_id != m.TOKEN:
            raise self._error(api_id, 1504, "해당 URI에서 지원하지 않는 API ID입니다")
        self._check_rate(api_id)
        grant = body.get("grant_type")
        if not grant:
            raise self._error(api_id, 8011, "grant_type이 없습니다", envelope=3)
        if grant != "client_credentials":
            raise self._error(api_id, 8012, "grant_type이 올바르지 않습니다", envelope=3)
        appkey, secretkey = body.get("appkey"), body.get("secretkey")
        if not appkey or not secretkey:
            raise self._error(api_id, 8020, "appkey 또는 secretkey가 없습니다", envelope=3)
        if not secrets.compare_digest(str(appkey), self.config.app_key):
            raise self._error(api_id, 8001, "App Key 검증에 실패했습니다", envelope=3)
        if not secrets.compare_digest(str(secretkey), self.config.secret_key):
            raise self._error(api_id, 8002, "Secret Key 검증에 실패했습니다", envelope=3)
        token = secrets.token_urlsafe(48)
        expires = self._token_clock.now() + self.config.token_lifetime
        with self._lock:
            self._tokens[token] = expires
            self._issued.append(token)
            self.tokens_issued += 1
        reply = {
            "expires_dt": m.format_expires_dt(expires),
            "token_type": "bearer",
            "token": token,
            "return_code": 0,
            "return_msg": OK_MSG,
        }
        return self._json(api_id, reply)

    async def _revoke(
        self, request: web.Request, api_id: str, body: dict[str, Any]
    ) -> web.Response:
        if api_id != m.REVOKE:
            raise self._error(api_id, 1504, "해당 URI에서 지원하지 않는 API ID입니다")
        if (
            body.get("appkey") != self.config.app_key
            or body.get("secretkey") != self.config.secret_key
        ):
            raise self._error(api_id, 8015, "토큰 폐기에 실패했습니다", envelope=3)
        with self._lock:
            self._tokens.pop(str(body.get("token", "")), None)
        return self._json(api_id, {"return_code": 0, "return_msg": OK_MSG})

    # ------------------------------------------------------------------ /api/dostk

    async def _dispatch(
        self, request: web.Request, api_id: str, body: dict[str, Any]
    ) -> web.Response:
        if not api_id:
            raise self._error(api_id, 1501, "API ID가 없습니다")
        path = CATEGORIES.get(api_id)
        if path is None:
            raise self._error(api_id, 1505, "존재하지 않는 API ID입니다")
        if path != request.path:
            raise self._error(api_id, 1504, "해당 URI에서 지원하지 않는 API ID입니다")
        self._check_rate(api_id)
        self._check_token(request, api_id)
        reply = self._handlers[api_id](api_id, body)
        list_key = self._lists.get(api_id)
        if list_key is None or not isinstance(reply.get(list_key), list):
            msg = reply.pop("_msg", None) or self._msg(OK_MSG)
            return self._json(api_id, {**reply, "return_code": 0, "return_msg": msg})
        return self._page(request, api_id, reply, list_key)

    def _page(
        self, request: web.Request, api_id: str, reply: dict[str, Any], list_key: str
    ) -> web.Response:
        rows: list[Any] = reply[list_key]
        start = 0
        if request.headers.get("cont-yn", "N").strip().upper() == "Y":
            key = request.headers.get("next-key", "")
            prefix, _, offset = key.partition(":")
            if prefix != api_id or not offset.isdigit():
                raise self._error(api_id, 1517, "연속조회키가 올바르지 않습니다")
            start = int(offset)
            with self._lock:
                self.continued += 1
        size = max(1, self.config.page_size)
        page = rows[start : start + size]
        more = start + size < len(rows)
        msg = reply.pop("_msg", None) or (
            self._msg(OK_MSG) if rows else self._msg("해당조회내역이 없습니다.")
        )
        body = {**reply, list_key: page, "return_code": 0, "return_msg": msg}
        return self._json(api_id, body, cont=f"{api_id}:{start + size}" if more else "")

    # ------------------------------------------------------------------ orders

    def _need(self, api_id: str, body: Mapping[str, Any], *names: str) -> list[str]:
        out = []
        for name in names:
            value = body.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise self._error(api_id, 1511, f"필수입력 파라미터({name})가 누락되었습니다")
            out.append(str(value).strip())
        return out

    def _int(self, api_id: str, value: object, name: str) -> int:
        try:
            return m.parse_int(value, name)
        except InputError:
            raise self._error(api_id, 1517, f"{name} 입력 형식이 올바르지 않습니다") from None

    def _market(self, api_id: str, body: Mapping[str, Any]) -> None:
        (market,) = self._need(api_id, body, "dmst_stex_tp")
        if market not in ("KRX", "NXT", "SOR"):
            raise self._error(api_id, 1901, "시장 코드값이 존재하지 않습니다")
        if market != "KRX" and self.config.mock:
            raise self._error(api_id, 1901, "모의투자는 KRX만 지원합니다")

    def _refused(self, api_id: str, refusal: Refusal) -> _Reply:
        if refusal.detail is not None:
            return self._error(api_id, refusal.detail, self._msg(refusal.text))
        text = self._msg(refusal.text)
        return _Reply(200, {"return_code": 2, "return_msg": text})

    def _buy_sell(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._market(api_id, body)
        symbol, qty_text, trde_tp = self._need(api_id, body, "stk_cd", "ord_qty", "trde_tp")
        qty = self._int(api_id, qty_text, "ord_qty")
        price_text = str(body.get("ord_uv", "") or "").strip()
        if trde_tp == m.TRDE_MARKET:
            if price_text and self._int(api_id, price_text, "ord_uv") != 0:
                raise self._refused(
                    api_id, Refusal("INVALID_PRICE", "시장가 주문은 단가를 입력하지 않습니다")
                )
            kind, price = OrderType.MARKET, None
        elif trde_tp == m.TRDE_LIMIT:
            if not price_text:
                raise self._error(api_id, 1511, "필수입력 파라미터(ord_uv)가 누락되었습니다")
            kind, price = OrderType.LIMIT, self._int(api_id, price_text, "ord_uv")
        else:
            raise self._refused(api_id, Refusal("INVALID_REQUEST", "지원하지 않는 매매구분입니다"))
        side = OrderSide.BUY if api_id == m.BUY else OrderSide.SELL
        self.venue.list_symbol(symbol)
        result = self.venue.place(side, symbol, qty, kind, price)
        if isinstance(result, Refusal):
            raise self._refused(api_id, result)
        done = (
            "매수주문이 완료되었습니다." if side is OrderSide.BUY else "매도주문이 완료되었습니다."
        )
        return {"ord_no": result.ord_no, "dmst_stex_tp": "KRX", "_msg": self._msg(done)}

    def _modify(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._market(api_id, body)
        orig, symbol, qty_text, price_text = self._need(
            api_id, body, "orig_ord_no", "stk_cd", "mdfy_qty", "mdfy_uv"
        )
        qty = self._int(api_id, qty_text, "mdfy_qty")
        price = self._int(api_id, price_text, "mdfy_uv")
        result = self.venue.modify(orig, symbol, qty, price)
        if isinstance(result, Refusal):
            raise self._refused(api_id, result)
        return {
            "ord_no": result.ord_no,
            "base_orig_ord_no": result.orig_ord_no,
            "mdfy_qty": self._fmt.num(result.qty),
            "dmst_stex_tp": "KRX",
            "_msg": self._msg("정정주문이 완료되었습니다."),
        }

    def _cancel(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._market(api_id, body)
        orig, symbol, qty_text = self._need(api_id, body, "orig_ord_no", "stk_cd", "cncl_qty")
        qty = self._int(api_id, qty_text, "cncl_qty")
        result = self.venue.cancel(orig, symbol, qty)
        if isinstance(result, Refusal):
            raise self._refused(api_id, result)
        return {
            "ord_no": result.ord_no,
            "base_orig_ord_no": result.orig_ord_no,
            "cncl_qty": self._fmt.num(result.qty),
            "dmst_stex_tp": "KRX",
            "_msg": self._msg("취소주문이 완료되었습니다."),
        }

    # ------------------------------------------------------------------ account

    def _deposit(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._need(api_id, body, "qry_tp")
        cash, free = self.venue.cash()
        n = self._fmt.num
        return {
            "entr": n(cash, 15),
            "profa_ch": n(0, 15),
            "ord_alow_amt": n(free, 15),
            "pymn_alow_amt": n(free, 15),
            "100stk_ord_alow_amt": n(free, 15),
            "d1_entra": n(cash, 15),
            "d2_entra": n(cash, 15),
            "stk_entr_prst": [],
        }

    def _balance(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._need(api_id, body, "qry_tp", "dmst_stex_tp")
        n = self._fmt.num
        rows = []
        tot_pur = tot_evlt = 0
        holdings = self.venue.holdings()
        for symbol, pos, sellable in holdings:
            price = self.venue.price(symbol) or (pos.cost // pos.qty if pos.qty else 0)
            ref = self.venue.reference(symbol)
            evlt = price * pos.qty
            tot_pur += pos.cost
            tot_evlt += evlt
            rows.append(
                {
                    "stk_cd": f"A{symbol}",
                    "stk_nm": self.venue.names.get(symbol, symbol),
                    "evltv_prft": n(evlt - pos.cost, 15),
                    "prft_rt": f"{(evlt - pos.cost) * 100 / pos.cost:.2f}" if pos.cost else "0.00",
                    "pur_pric": n(pos.cost // pos.qty if pos.qty else 0),
                    "pred_close_pric": n(ref),
                    "rmnd_qty": n(pos.qty),
                    "trde_able_qty": n(sellable),
                    "cur_prc": n(price, sign=_direction(price, ref)),
                    "pred_buyq": n(0),
                    "pred_sellq": n(0),
                    "tdy_buyq": n(pos.bought_today),
                    "tdy_sellq": n(pos.sold_today),
                    "pur_amt": n(pos.cost, 15),
                    "pur_cmsn": n(0, 15),
                    "evlt_amt": n(evlt, 15),
                    "sell_cmsn": n(0, 15),
                    "tax": n(0, 15),
                    "sum_cmsn": n(0, 15),
                    "poss_rt": "0.00",
                    "crd_tp": "00",
                    "crd_tp_nm": "",
                    "crd_loan_dt": "",
                }
            )
        cash, _ = self.venue.cash()
        return {
            "tot_pur_amt": n(tot_pur, 15),
            "tot_evlt_amt": n(tot_evlt, 15),
            "tot_evlt_pl": n(tot_evlt - tot_pur, 15),
            "tot_prft_rt": f"{(tot_evlt - tot_pur) * 100 / tot_pur:.2f}" if tot_pur else "0.00",
            "prsm_dpst_aset_amt": n(cash + tot_evlt, 15),
            "tot_loan_amt": n(0, 15),
            "tot_crd_loan_amt": n(0, 15),
            "tot_crd_ls_amt": n(0, 15),
            "acnt_evlt_remn_indv_tot": rows,
        }

    def _today(self, api_id: str, body: Mapping[str, Any]) -> bool:
        day = str(body.get("ord_dt", "") or "").strip()
        return not day or day == m.ymd(self.venue.now().astimezone(KST).date())

    def _orders_fills(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        _, _, _, qry_tp, _ = self._need(
            api_id, body, "stk_bond_tp", "mrkt_tp", "sell_tp", "qry_tp", "dmst_stex_tp"
        )
        sell_tp = str(body.get("sell_tp", "0"))
        symbol = str(body.get("stk_cd", "") or "").strip()
        from_no = str(body.get("fr_ord_no", "") or "").strip()
        orders = self.venue.all_orders() if self._today(api_id, body) else []
        by_no = {o.ord_no: o for o in orders}

        def keep(o: KwOrder) -> bool:
            if symbol and o.symbol != symbol:
                return False
            if sell_tp == "1" and o.side is not OrderSide.SELL:
                return False
            if sell_tp == "2" and o.side is not OrderSide.BUY:
                return False
            return not (from_no and o.ord_no < from_no.zfill(7))

        rows: list[dict[str, Any]] = []
        buy = sell = 0
        if qry_tp == "1":
            for fill in self.venue.executions():
                o = by_no.get(fill.ord_no)
                if o is not None and keep(o):
                    rows.append(self._order_row(o, fill))
        else:
            rows = [
                self._order_row(o, None) for o in sorted(orders, key=lambda o: o.ord_no) if keep(o)
            ]
        for o in orders:
            if o.side is OrderSide.BUY:
                buy += o.amount
            else:
                sell += o.amount
        n = self._fmt.num
        return {
            "sell_grntl_engg_amt": n(sell, 15),
            "buy_engg_amt": n(buy, 15),
            "engg_amt": n(buy + sell, 15),
            "acnt_ord_cntr_prst_array": rows,
        }

    def _order_row(self, o: KwOrder, fill: KwFill | None) -> dict[str, Any]:
        n = self._fmt.num
        side = "매수" if o.side is OrderSide.BUY else "매도"
        suffix = {Kind.NEW: "", Kind.MODIFY: "정정", Kind.CANCEL: "취소"}[o.kind]
        io = f"{side}{suffix}" if o.kind is Kind.CANCEL else f"현금{side}{suffix}"
        return {
            "stk_bond_tp": "1",
            "ord_no": o.ord_no,
            "stk_cd": f"A{o.symbol}",
            "trde_tp": "시장가" if o.order_type is OrderType.MARKET else "보통",
            "io_tp_nm": io,
            "ord_qty": n(o.qty),
            "ord_uv": n(o.price),
            "cnfm_qty": n(o.confirmed),
            "rsrv_oppo": "",
            "cntr_no": fill.cntr_no if fill else o.last_cntr,
            "acpt_tp": o.state,
            "orig_ord_no": o.orig_ord_no or "0000000",
            "stk_nm": self.venue.names.get(o.symbol, o.symbol),
            "setl_tp": "보통",
            "crd_deal_tp": "보통매매",
            "cntr_qty": n(fill.qty if fill else o.filled),
            "cntr_uv": n(fill.price if fill else o.avg_price),
            "comm_ord_tp": "REST",
            "mdfy_cncl_tp": {Kind.NEW: "", Kind.MODIFY: "정정", Kind.CANCEL: "취소"}[o.kind],
            "cntr_tm": self._fmt.hms(fill.at if fill else o.last_fill_at),
            "dmst_stex_tp": "KRX",
            "cond_uv": n(0),
        }

    def _open_orders(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._need(api_id, body, "all_stk_tp", "trde_tp", "stex_tp")
        symbol = str(body.get("stk_cd", "") or "").strip()
        only = str(body.get("all_stk_tp", "0")) == "1"
        side = str(body.get("trde_tp", "0"))
        n = self._fmt.num
        rows = []
        for o in sorted(self.venue.open_orders(), key=lambda o: o.ord_no):
            if only and o.symbol != symbol:
                continue
            if (side == "1" and o.side is not OrderSide.SELL) or (
                side == "2" and o.side is not OrderSide.BUY
            ):
                continue
            price = self.venue.price(o.symbol)
            ref = self.venue.reference(o.symbol)
            sign = "+" if o.side is OrderSide.BUY else "-"
            word = "매수" if o.side is OrderSide.BUY else "매도"
            rows.append(
                {
                    "acnt_no": self.config.account_no,
                    "ord_no": o.ord_no,
                    "mang_empno": "",
                    "stk_cd": o.symbol,
                    "tsk_tp": "",
                    "ord_stt": "체결" if o.filled else "접수",
                    "stk_nm": self.venue.names.get(o.symbol, o.symbol),
                    "ord_qty": n(o.qty),
                    "ord_pric": n(o.price),
                    "oso_qty": n(o.open_qty),
                    "cntr_tot_amt": n(o.amount, 15),
                    "orig_ord_no": o.orig_ord_no or "0000000",
                    "io_tp_nm": f"{sign}{word}{'정정' if o.kind is Kind.MODIFY else ''}",
                    "trde_tp": "시장가" if o.order_type is OrderType.MARKET else "보통",
                    "tm": self._fmt.hms(o.at),
                    "cntr_no": o.last_cntr,
                    "cntr_pric": n(o.avg_price),
                    "cntr_qty": n(o.filled),
                    "cur_prc": n(price, sign=_direction(price, ref)),
                    "sel_bid": n(0),
                    "buy_bid": n(0),
                    "unit_cntr_pric": n(0),
                    "unit_cntr_qty": n(0),
                    "tdy_trde_cmsn": n(o.commission),
                    "tdy_trde_tax": n(o.tax),
                    "ind_invsr": "",
                    "stex_tp": "1",
                    "stex_tp_txt": "KRX",
                    "sor_yn": "N",
                    "stop_pric": "",
                }
            )
        return {"oso": rows}

    def _executions(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._need(api_id, body, "qry_tp", "sell_tp", "stex_tp")
        symbol = str(body.get("stk_cd", "") or "").strip()
        only = str(body.get("qry_tp", "0")) == "1"
        n = self._fmt.num
        rows = []
        for o in sorted(self.venue.all_orders(), key=lambda o: o.ord_no):
            if not o.filled or (only and o.symbol != symbol):
                continue
            word = "매수" if o.side is OrderSide.BUY else "매도"
            rows.append(
                {
                    "ord_no": o.ord_no,
                    "stk_nm": self.venue.names.get(o.symbol, o.symbol),
                    "io_tp_nm": f"{'+' if o.side is OrderSide.BUY else '-'}{word}",
                    "ord_pric": n(o.price),
                    "ord_qty": n(o.qty),
                    "cntr_pric": n(o.avg_price),
                    "cntr_qty": n(o.filled),
                    "oso_qty": n(o.open_qty),
                    "tdy_trde_cmsn": n(o.commission),
                    "tdy_trde_tax": n(o.tax),
                    "ord_stt": "체결",
                    "trde_tp": "시장가" if o.order_type is OrderType.MARKET else "보통",
                    "orig_ord_no": o.orig_ord_no or "0000000",
                    "ord_tm": self._fmt.hms(o.at),
                    "stk_cd": o.symbol,
                    "stex_tp": "0",
                    "stex_tp_txt": "통합",
                    "sor_yn": "N",
                    "stop_pric": "",
                }
            )
        return {"cntr": rows}

    def _accounts(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"acctNo": self.config.account_no}

    def _stock_info(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        (symbol,) = self._need(api_id, body, "stk_cd")
        symbol = m.parse_symbol(symbol)
        if not self.venue.list_symbol(symbol):
            raise self._error(api_id, 1902, "종목정보가 존재하지 않습니다")
        n = self._fmt.num
        price = self.venue.price(symbol)
        ref = self.venue.reference(symbol)
        o, h, lo, _, v = self.venue.last_bar.get(symbol, (price, price, price, price, 0))
        upper = lower = 0
        if ref:
            from qts.market.krx.price_limit import daily_limits

            limits = daily_limits(ref, self.venue.instruments[symbol].is_etf)
            upper, lower = limits.upper, limits.lower
        change = price - ref if ref and price else 0
        return {
            "stk_cd": symbol,
            "stk_nm": self.venue.names.get(symbol, symbol),
            "cur_prc": n(price, sign=_direction(price, ref)),
            "pred_pre": n(change, sign=_direction(price, ref)),
            "flu_rt": f"{change * 100 / ref:+.2f}" if ref else "0.00",
            "trde_qty": n(v),
            "open_pric": n(o, sign=_direction(o, ref)),
            "high_pric": n(h, sign=_direction(h, ref)),
            "low_pric": n(lo, sign=_direction(lo, ref)),
            "upl_pric": n(upper, sign=1 if upper else 0),
            "lst_pric": n(lower, sign=-1 if lower else 0),
            "base_pric": n(ref),
        }

    def _listing(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """ka10100 (종목정보 조회): the flat camelCase record of a ka10099 master row; the
        mock server lists the KRX market only (``nxtEnable`` N)."""
        (symbol,) = self._need(api_id, body, "stk_cd")
        symbol = m.parse_symbol(symbol)
        if not self.venue.list_symbol(symbol):
            raise self._error(api_id, 1902, "종목정보가 존재하지 않습니다")
        inst = self.venue.instruments[symbol]
        code, name = _LISTINGS[(inst.market, inst.is_etf)]
        price = self.venue.price(symbol) or self.venue.reference(symbol)
        return {
            "code": symbol,
            "name": self.venue.names.get(symbol, symbol),
            "listCount": f"{10_000_000:016d}",
            "auditInfo": "정상",
            "regDay": "20000104",
            "lastPrice": f"{price:08d}",
            "state": "증거금40%|담보대출|신용가능",
            "marketCode": code,
            "marketName": name,
            "upName": "",
            "upSizeName": "",
            "companyClassName": "",
            "orderWarning": "0",
            "nxtEnable": "N",
        }

    def _minute_chart(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        (symbol, _scope) = self._need(api_id, body, "stk_cd", "tic_scope")
        symbol = m.parse_symbol(symbol)
        if not self.venue.list_symbol(symbol):
            raise self._error(api_id, 1902, "종목정보가 존재하지 않습니다")
        return {"stk_cd": symbol, "stk_min_pole_chart_qry": self.realtime.minute_bars(symbol)}


# ka10100 (marketCode, marketName) by (market, ETF): what Kiwoom lists its kinds as
_LISTINGS: dict[tuple[Market, bool], tuple[str, str]] = {
    (Market.KOSPI, False): ("0", "거래소"),
    (Market.KOSDAQ, False): ("10", "코스닥"),
    (Market.KONEX, False): ("50", "코넥스"),
    (Market.KOSPI, True): ("8", "ETF"),
    (Market.KOSDAQ, True): ("8", "ETF"),
    (Market.KONEX, True): ("8", "ETF"),
}


def _direction(price: int, ref: int) -> int:
    if not price or not ref:
        return 0
    return 1 if price > ref else (-1 if price < ref else 0)
