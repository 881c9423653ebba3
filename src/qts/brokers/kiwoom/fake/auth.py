"""OAuth: issuing (au10001) and revoking (au10002) access tokens, and the bearer-token check
every ``/api/dostk`` call passes before its handler runs.

The tokens themselves live on :class:`~qts.brokers.kiwoom.fake.server.FakeKiwoom` (its test
controls revoke them and the WebSocket LOGIN checks them); this module holds the wire rules.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web

from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.fake.config import CodeStyle
from qts.brokers.kiwoom.fake.limits import check_rate
from qts.brokers.kiwoom.fake.wire import OK_MSG, Reply, error, json_reply

if TYPE_CHECKING:
    from qts.brokers.kiwoom.fake.server import FakeKiwoom


def token_error(kiwoom: FakeKiwoom, api_id: str) -> Reply:
    with kiwoom._lock:
        kiwoom.token_refusals += 1
    text = "Token이 유효하지 않습니다"
    if kiwoom.config.code_style is CodeStyle.DETAIL:
        body = {"return_code": 8005, "return_msg": f"인증에 실패했습니다[8005:{text}]"}
    else:
        body = {"return_code": 3, "return_msg": f"인증에 실패했습니다[8005:{text}]"}
    return Reply(200, body)


def check_token(kiwoom: FakeKiwoom, request: web.Request, api_id: str) -> None:
    auth = request.headers.get("authorization", "")
    if not auth.strip():
        raise error(kiwoom, api_id, 1514, "authorization 헤더가 없습니다", envelope=3)
    scheme, _, token = auth.strip().partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise error(kiwoom, api_id, 1515, "authorization 헤더 형식이 올바르지 않습니다", envelope=3)
    with kiwoom._lock:
        expires = kiwoom._tokens.get(token.strip())
    if expires is None or kiwoom._token_clock.now() >= expires:
        raise token_error(kiwoom, api_id)


async def issue_token(
    kiwoom: FakeKiwoom, request: web.Request, api_id: str, body: dict[str, Any]
) -> web.Response:
    if api_id != m.TOKEN:
        raise error(kiwoom, api_id, 1504, "해당 URI에서 지원하지 않는 API ID입니다")
    check_rate(kiwoom, api_id)
    grant = body.get("grant_type")
    if not grant:
        raise error(kiwoom, api_id, 8011, "grant_type이 없습니다", envelope=3)
    if grant != "client_credentials":
        raise error(kiwoom, api_id, 8012, "grant_type이 올바르지 않습니다", envelope=3)
    appkey, secretkey = body.get("appkey"), body.get("secretkey")
    if not appkey or not secretkey:
        raise error(kiwoom, api_id, 8020, "appkey 또는 secretkey가 없습니다", envelope=3)
    if not secrets.compare_digest(str(appkey), kiwoom.config.app_key):
        raise error(kiwoom, api_id, 8001, "App Key 검증에 실패했습니다", envelope=3)
    if not secrets.compare_digest(str(secretkey), kiwoom.config.secret_key):
        raise error(kiwoom, api_id, 8002, "Secret Key 검증에 실패했습니다", envelope=3)
    token = secrets.token_urlsafe(48)
    expires = kiwoom._token_clock.now() + kiwoom.config.token_lifetime
    with kiwoom._lock:
        kiwoom._tokens[token] = expires
        kiwoom._issued.append(token)
        kiwoom.tokens_issued += 1
    reply = {
        "expires_dt": m.format_expires_dt(expires),
        "token_type": "bearer",
        "token": token,
        "return_code": 0,
        "return_msg": OK_MSG,
    }
    return json_reply(api_id, reply)


async def revoke_token(
    kiwoom: FakeKiwoom, request: web.Request, api_id: str, body: dict[str, Any]
) -> web.Response:
    if api_id != m.REVOKE:
        raise error(kiwoom, api_id, 1504, "해당 URI에서 지원하지 않는 API ID입니다")
    if (
        body.get("appkey") != kiwoom.config.app_key
        or body.get("secretkey") != kiwoom.config.secret_key
    ):
        raise error(kiwoom, api_id, 8015, "토큰 폐기에 실패했습니다", envelope=3)
    with kiwoom._lock:
        kiwoom._tokens.pop(str(body.get("token", "")), None)
    return json_reply(api_id, {"return_code": 0, "return_msg": OK_MSG})
