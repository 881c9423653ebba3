"""How the fake answers over REST: KIS's message codes, the response envelope (``rt_cd``,
``msg_cd``, a space-padded ``msg1``), paging by ``tr_cont`` and reading a JSON body."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from qts.brokers.kis.fake.venue import INPUT_ERROR, FakeRefusal

if TYPE_CHECKING:
    from qts.brokers.kis.fake.server import FakeKisServer


MSG1_WIDTH = 40  # KIS right-pads msg1 with spaces; clients must strip()
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


def envelope(
    server: FakeKisServer,
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
    data = {"rt_cd": code, "msg_cd": msg[0], "msg1": pad(server, msg[1]), **body}
    headers = {"tr_id": tr_id, "tr_cont": tr_cont}
    text = json.dumps(data, ensure_ascii=False)
    return web.Response(
        text=text,
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def pad(server: FakeKisServer, text: str) -> str:
    return text.ljust(MSG1_WIDTH) if server.options.pad_msg1 else text


def paged(
    server: FakeKisServer,
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
    return envelope(server, body, msg, tr_id=tr_id, tr_cont="M" if more else "D")


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError):
        raise FakeRefusal(INPUT_ERROR) from None
    if not isinstance(data, dict):
        raise FakeRefusal(INPUT_ERROR)
    return data
