"""How the fake answers over REST: Kiwoom's JSON envelope (``return_code``, ``return_msg``,
the ``api-id`` / ``cont-yn`` / ``next-key`` headers), its error replies, the required-field
checks every endpoint shares and numbers written the several ways Kiwoom writes them.

Kept apart from the endpoints so the token, order, account and quotation modules all answer
(and fail) in exactly one way.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.fake.config import CodeStyle, NumberStyle
from qts.core.errors import InputError
from qts.core.time import KST

if TYPE_CHECKING:
    from qts.brokers.kiwoom.fake.server import FakeKiwoom

OK_MSG = "정상적으로 처리되었습니다"


class Numbers:
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


class Reply(Exception):
    """An error answer, raised from a handler."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("return_msg", ""))
        self.status = status
        self.body = body


def json_reply(
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


def message(kiwoom: FakeKiwoom, text: str) -> str:
    return f"모의투자 {text}" if kiwoom.config.mock else text


def error(kiwoom: FakeKiwoom, api_id: str, detail: int, text: str, *, envelope: int = 2) -> Reply:
    if kiwoom.config.code_style is CodeStyle.DETAIL:
        code = detail
        msg = f"{text}[{detail}:{text}]"
    else:
        code = envelope
        msg = f"{text}[{detail}:{text}]"
    return Reply(200, {"return_code": code, "return_msg": msg})


def need(kiwoom: FakeKiwoom, api_id: str, body: Mapping[str, Any], *names: str) -> list[str]:
    out = []
    for name in names:
        value = body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise error(kiwoom, api_id, 1511, f"필수입력 파라미터({name})가 누락되었습니다")
        out.append(str(value).strip())
    return out


def as_int(kiwoom: FakeKiwoom, api_id: str, value: object, name: str) -> int:
    try:
        return m.parse_int(value, name)
    except InputError:
        raise error(kiwoom, api_id, 1517, f"{name} 입력 형식이 올바르지 않습니다") from None


def direction(price: int, ref: int) -> int:
    if not price or not ref:
        return 0
    return 1 if price > ref else (-1 if price < ref else 0)
