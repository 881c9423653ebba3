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

This module routes a request and pages its answer; the rest lives beside it, one idea a module:
``config`` (the switches), ``wire`` (the envelope, error replies, number formats), ``limits``
(rate limits), ``auth`` (tokens), ``orders``, ``accounts`` and ``quotations`` (the endpoints).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.fake import accounts, orders, quotations
from qts.brokers.kiwoom.fake.auth import check_token, issue_token, revoke_token, token_error
from qts.brokers.kiwoom.fake.config import (
    TEST_ACCOUNT_NO,
    TEST_APP_KEY,
    TEST_SECRET_KEY,
    CodeStyle,
    FakeConfig,
    Limit,
    LimitReply,
    NumberStyle,
)
from qts.brokers.kiwoom.fake.faults import Fault, FaultKind, FaultPlan, When
from qts.brokers.kiwoom.fake.limits import Bucket, check_rate, limit_reply
from qts.brokers.kiwoom.fake.realtime import WS_PATH, RealtimeHub
from qts.brokers.kiwoom.fake.venue import FakeVenue
from qts.brokers.kiwoom.fake.wire import OK_MSG, Numbers, Reply, error, json_reply, message
from qts.core.clock import Clock, WallClock
from qts.model.frame import BarFrame

__all__ = [
    "CATEGORIES",
    "OK_MSG",
    "TEST_ACCOUNT_NO",
    "TEST_APP_KEY",
    "TEST_SECRET_KEY",
    "CodeStyle",
    "FakeConfig",
    "FakeKiwoom",
    "Limit",
    "LimitReply",
    "NumberStyle",
]

log = logging.getLogger(__name__)

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
        self._buckets: dict[str, Bucket] = {}
        self._overall: Bucket | None = None
        self._limit_turn = itertools.count()
        self._fmt = Numbers(self.config.numbers)
        self.requests: dict[str, int] = {}
        self.limited: dict[str, int] = {}
        self.tokens_issued = 0
        self.continued = 0  # pages served after the first (cont-yn: Y)
        self.token_refusals = 0
        self._handlers: dict[str, Handler] = {
            m.BUY: functools.partial(orders.buy_sell, self),
            m.SELL: functools.partial(orders.buy_sell, self),
            m.MODIFY: functools.partial(orders.modify, self),
            m.CANCEL: functools.partial(orders.cancel, self),
            m.DEPOSIT: functools.partial(accounts.deposit, self),
            m.BALANCE: functools.partial(accounts.balance, self),
            m.ORDERS_FILLS: functools.partial(accounts.orders_fills, self),
            m.OPEN_ORDERS: functools.partial(accounts.open_orders, self),
            m.EXECUTIONS: functools.partial(accounts.executions, self),
            m.ACCOUNTS: functools.partial(accounts.accounts, self),
            m.STOCK_INFO: functools.partial(quotations.stock_info, self),
            m.STOCK_LISTING: functools.partial(quotations.listing, self),
            m.MINUTE_CHART: functools.partial(quotations.minute_chart, self),
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
        app.router.add_post(
            m.TOKEN_PATH, self._wrap(functools.partial(issue_token, self), token_path=True)
        )
        app.router.add_post(
            m.REVOKE_PATH, self._wrap(functools.partial(revoke_token, self), token_path=True)
        )
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
                    raise error(self, api_id, 1517, "입력 값 형식이 올바르지 않습니다") from None
                if not isinstance(body, dict):
                    raise error(self, api_id, 1517, "입력 값 형식이 올바르지 않습니다")
                if fault is not None and fault.when is When.BEFORE:
                    early = await self._fault(request, fault, api_id)
                    if early is not None:
                        return early
                response = await handler(request, api_id, body)
            except Reply as reply:
                response = json_reply(api_id, reply.body, status=reply.status)
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
            reply = limit_reply(self, api_id)
            return json_reply(api_id, reply.body, status=reply.status)
        if kind is FaultKind.TOKEN_INVALID:
            reply = token_error(self, api_id)
            return json_reply(api_id, reply.body, status=reply.status)
        return None

    # ------------------------------------------------------------------ /api/dostk

    async def _dispatch(
        self, request: web.Request, api_id: str, body: dict[str, Any]
    ) -> web.Response:
        if not api_id:
            raise error(self, api_id, 1501, "API ID가 없습니다")
        path = CATEGORIES.get(api_id)
        if path is None:
            raise error(self, api_id, 1505, "존재하지 않는 API ID입니다")
        if path != request.path:
            raise error(self, api_id, 1504, "해당 URI에서 지원하지 않는 API ID입니다")
        check_rate(self, api_id)
        check_token(self, request, api_id)
        reply = self._handlers[api_id](api_id, body)
        list_key = self._lists.get(api_id)
        if list_key is None or not isinstance(reply.get(list_key), list):
            msg = reply.pop("_msg", None) or message(self, OK_MSG)
            return json_reply(api_id, {**reply, "return_code": 0, "return_msg": msg})
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
                raise error(self, api_id, 1517, "연속조회키가 올바르지 않습니다")
            start = int(offset)
            with self._lock:
                self.continued += 1
        size = max(1, self.config.page_size)
        page = rows[start : start + size]
        more = start + size < len(rows)
        msg = reply.pop("_msg", None) or (
            message(self, OK_MSG) if rows else message(self, "해당조회내역이 없습니다.")
        )
        body = {**reply, list_key: page, "return_code": 0, "return_msg": msg}
        return json_reply(api_id, body, cont=f"{api_id}:{start + size}" if more else "")
