"""OAuth and keys: the access token (tokenP, revokeP), the WebSocket approval key and hashkey."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from qts.brokers.kis.fake.credentials import FakeApp
from qts.brokers.kis.fake.wire import (
    BAD_APPKEY,
    BAD_APPSECRET,
    TOKEN_TOO_SOON,
    json_body,
)
from qts.core.time import KST

if TYPE_CHECKING:
    from qts.brokers.kis.fake.server import FakeKisServer


@dataclass(slots=True)
class Token:
    value: str
    app_key: str
    issued_at: float  # time.time()
    expires_at: float
    expired: bool = False


async def issue_token(server: FakeKisServer, request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    app = server.apps.get(str(body.get("appkey", "")))
    if app is None:
        return _oauth_error(BAD_APPKEY, 403)
    if str(body.get("appsecret", "")) != app.app_secret:
        return _oauth_error(BAD_APPSECRET, 403)
    if body.get("grant_type") != "client_credentials":
        return _oauth_error(("EGW00002", "grant_type 오류입니다."), 400)
    now = time.time()
    last = server._last_token_call.get(app.app_key)
    if last is not None and now - last < server.options.token_reissue_interval_s:
        server.stats.tokens_refused += 1
        return _oauth_error(TOKEN_TOO_SOON, 403)
    server._last_token_call[app.app_key] = now
    current = next(
        (
            t
            for t in server._tokens.values()
            if t.app_key == app.app_key
            and not t.expired
            and now < t.expires_at
            and now - t.issued_at < server.options.token_same_window_s
        ),
        None,
    )
    if current is None:
        current = _mint(server, app, now)
        server.stats.tokens_issued += 1
    expires = datetime.fromtimestamp(current.expires_at, KST).strftime("%Y-%m-%d %H:%M:%S")
    return web.json_response(
        {
            "access_token": current.value,
            "access_token_token_expired": expires,
            "token_type": "Bearer",
            "expires_in": round(current.expires_at - now),
        }
    )


def _mint(server: FakeKisServer, app: FakeApp, now: float) -> Token:
    exp = now + server.options.token_lifetime_s
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
    sig = hmac.new(server._jwt_secret, signing.encode(), hashlib.sha512).digest()
    value = f"{signing}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"
    tok = Token(value, app.app_key, now, exp)
    server._tokens[value] = tok
    return tok


async def revoke_token(server: FakeKisServer, request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    app = server.apps.get(str(body.get("appkey", "")))
    if app is None or str(body.get("appsecret", "")) != app.app_secret:
        return _oauth_error(BAD_APPKEY, 403)
    tok = server._tokens.get(str(body.get("token", "")))
    if tok is not None and tok.app_key == app.app_key:
        del server._tokens[tok.value]
    return web.json_response({"code": 200, "message": "접근토큰 폐기에 성공하였습니다"})


async def issue_approval_key(server: FakeKisServer, request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    app = server.apps.get(str(body.get("appkey", "")))
    if app is None:
        return _oauth_error(BAD_APPKEY, 403)
    if str(body.get("secretkey", "")) != app.app_secret:
        return _oauth_error(BAD_APPSECRET, 403)
    key = server._approval_of.get(app.app_key)
    if key is None:
        key = str(uuid.uuid4())
        server._approval_of[app.app_key] = key
        server._approvals[key] = app.app_key
    return web.json_response({"approval_key": key})


async def hashkey(server: FakeKisServer, request: web.Request) -> web.StreamResponse:
    app = server.apps.get(request.headers.get("appkey", ""))
    if app is None or request.headers.get("appsecret", "") != app.app_secret:
        return _oauth_error(BAD_APPKEY, 403)
    raw = await request.read()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = {}
    return web.json_response({"BODY": body, "HASH": hashlib.sha256(raw).hexdigest()}, dumps=_dumps)


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
