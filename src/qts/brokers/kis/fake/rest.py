"""The REST listener's gate: faults, routing by path, the app key, rate limit, token and TR id
checks every uapi call passes, then the API family that answers it."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections import deque
from typing import TYPE_CHECKING

from aiohttp import web

from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.fake.auth import hashkey, issue_approval_key, issue_token, revoke_token
from qts.brokers.kis.fake.faults import Fault
from qts.brokers.kis.fake.inquiries import inquire
from qts.brokers.kis.fake.options import STATS_KEEP
from qts.brokers.kis.fake.orders import order
from qts.brokers.kis.fake.quotations import QUOTE_APIS, quote
from qts.brokers.kis.fake.venue import FakeRefusal
from qts.brokers.kis.fake.wire import (
    BAD_APPKEY,
    BAD_APPSECRET,
    BAD_TR,
    NOT_IN_PAPER,
    RATE_LIMITED,
    SERVER_FAULT,
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    envelope,
    json_body,
    pad,
)

if TYPE_CHECKING:
    from qts.brokers.kis.fake.server import FakeKisServer


_APIS_BY_PATH: dict[str, list[ep.Api]] = {}
for _api in ep.ALL_APIS:
    _APIS_BY_PATH.setdefault(_api.path, []).append(_api)


async def handle_rest(server: FakeKisServer, request: web.Request) -> web.StreamResponse:
    path, method = request.path, request.method
    fault = server.faults.take(method, path, after=False)
    if fault is not None:
        early = await _apply_fault(server, fault, request)
        if early is not None:
            return early
    try:
        response = await _route(server, request)
    except FakeRefusal as refusal:
        response = envelope(server, {}, (refusal.msg_cd, refusal.msg1), ok=False)
    fault = server.faults.take(method, path, after=True)
    if fault is not None:
        late = await _apply_fault(server, fault, request)
        if late is not None:
            return late
    return response


async def _apply_fault(
    server: FakeKisServer, fault: Fault, request: web.Request
) -> web.StreamResponse | None:
    server.stats.faults_fired += 1
    if fault.delay_s:
        await asyncio.sleep(fault.delay_s)
    if fault.drop:
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)  # never reaches the client
    if fault.status:
        if fault.msg_cd:
            body = {"rt_cd": "1", "msg_cd": fault.msg_cd, "msg1": pad(server, SERVER_FAULT[1])}
            return web.json_response(body, status=fault.status)
        return web.Response(status=fault.status, text="Internal Server Error")
    return None


async def _route(server: FakeKisServer, request: web.Request) -> web.StreamResponse:
    path = request.path
    if request.method == "POST" and path == ep.TOKEN_PATH:
        return await issue_token(server, request)
    if request.method == "POST" and path == ep.REVOKE_PATH:
        return await revoke_token(server, request)
    if request.method == "POST" and path == ep.APPROVAL_PATH:
        return await issue_approval_key(server, request)
    if request.method == "POST" and path == ep.HASHKEY_PATH:
        return await hashkey(server, request)
    apis = _APIS_BY_PATH.get(path)
    if apis is None or request.method != apis[0].method:
        return web.json_response(
            {"rt_cd": "1", "msg_cd": "OPSQ0001", "msg1": pad(server, "없는 서비스 코드 입니다")},
            status=404,
        )
    return await _uapi(server, request, apis)


async def _uapi(
    server: FakeKisServer, request: web.Request, apis: list[ep.Api]
) -> web.StreamResponse:
    h = request.headers
    app = server.apps.get(h.get("appkey", ""))
    if app is None:
        return envelope(server, {}, BAD_APPKEY, ok=False, status=403)
    if not hmac.compare_digest(h.get("appsecret", ""), app.app_secret):
        return envelope(server, {}, BAD_APPSECRET, ok=False, status=403)
    # custtype (P individual / B corporate) is optional: KIS assumes P without it
    if not _admit(server, app.app_key):
        server.stats.rate_limited += 1
        return envelope(server, {}, RATE_LIMITED, ok=False, status=server.options.rate_limit_status)
    auth = h.get("authorization", "")
    token = server._tokens.get(auth.removeprefix("Bearer ").strip())
    if token is None or token.app_key != app.app_key:
        return envelope(
            server, {}, TOKEN_INVALID, ok=False, status=server.options.token_error_status
        )
    if token.expired or time.time() >= token.expires_at:
        server.stats.token_expired_hits += 1
        return envelope(
            server, {}, TOKEN_EXPIRED, ok=False, status=server.options.token_error_status
        )
    tr_id = h.get("tr_id", "")
    api = _api_for(server, apis, tr_id)
    if api is None:
        other = any(tr_id in a.accepted_tr_ids(not server.options.paper) for a in apis)
        refusal = NOT_IN_PAPER if other and server.options.paper else BAD_TR
        return envelope(server, {}, refusal, ok=False, tr_id=tr_id)
    if server.options.paper and not api.paper_supported:
        return envelope(server, {}, NOT_IN_PAPER, ok=False, tr_id=tr_id)
    server.stats.paths[api.name] += 1
    account = server.accounts[app.app_key]
    if api.method == "POST":
        body = await json_body(request)
        return order(server, api, account, body, tr_id)
    params = {k.upper(): v for k, v in request.query.items()}
    if api in QUOTE_APIS:
        return quote(server, api, params, tr_id)
    return inquire(server, api, account, params, tr_id, h.get("tr_cont", ""))


def _api_for(server: FakeKisServer, apis: list[ep.Api], tr_id: str) -> ep.Api | None:
    for api in apis:
        ids = api.accepted_tr_ids(server.options.paper)
        if not server.options.accept_legacy_tr and api.legacy:
            ids = frozenset({api.tr_id(server.options.paper)})
        if tr_id in ids:
            return api
    return None


def _admit(server: FakeKisServer, app_key: str) -> bool:
    now = time.monotonic()
    window = server._window.setdefault(app_key, deque())
    while window and now - window[0] >= server.options.rate_window_s:
        window.popleft()
    if len(window) >= server.options.limit:
        return False
    window.append(now)
    server.stats.accepted.setdefault(app_key, deque(maxlen=STATS_KEEP)).append(now)
    return True
