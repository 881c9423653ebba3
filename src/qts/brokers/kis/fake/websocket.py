"""The WebSocket listener: approval keys, (un)registration, PINGPONG, AES-encrypted fill notices
and the market pushes (H0STCNT0 trades, H0STASP0 order book)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from qts.brokers.kis import crypto
from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.fake.credentials import FakeApp
from qts.brokers.kis.fake.venue import Notice
from qts.core.time import KST

if TYPE_CHECKING:
    from qts.brokers.kis.fake.server import FakeKisServer


@dataclass(eq=False, slots=True)
class Session:
    ws: web.WebSocketResponse
    request: web.Request
    out: asyncio.Queue[str | None]
    app: FakeApp | None = None
    regs: set[tuple[str, str]] = field(default_factory=set)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # tr_id -> (key, iv)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def handle_ws(server: FakeKisServer, request: web.Request) -> web.StreamResponse:
    if not request.path.startswith(ep.WS_PATH):
        return web.Response(status=404, text="not found")
    if server._ws_refusing:
        return web.Response(status=503, text="service unavailable")
    ws = web.WebSocketResponse(autoping=False)
    await ws.prepare(request)
    session = Session(ws, request, asyncio.Queue())
    server._sessions.append(session)
    server.stats.ws_connections += 1
    loop = asyncio.get_running_loop()
    session.tasks.append(loop.create_task(_writer(server, session)))
    if server.options.ping_interval_s > 0:
        session.tasks.append(loop.create_task(_pinger(server, session)))
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                _on_ws_text(server, session, msg.data)
            elif msg.type is WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type is WSMsgType.PONG:
                server.stats.pongs += 1
            elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        await close_session(server, session, abrupt=False)
    return ws


async def _writer(server: FakeKisServer, session: Session) -> None:
    while True:
        text = await session.out.get()
        if text is None or session.ws.closed:
            return
        try:
            await session.ws.send_str(text)
        except (ConnectionResetError, RuntimeError):
            return


async def _pinger(server: FakeKisServer, session: Session) -> None:
    while not session.ws.closed:
        await asyncio.sleep(server.options.ping_interval_s)
        stamp = datetime.now(KST).strftime("%Y%m%d%H%M%S")
        session.out.put_nowait(json.dumps({"header": {"tr_id": "PINGPONG", "datetime": stamp}}))
        server.stats.pingpongs_sent += 1


async def close_session(server: FakeKisServer, session: Session, *, abrupt: bool) -> None:
    if session not in server._sessions:
        return
    server._sessions.remove(session)
    current = asyncio.current_task()
    for task in session.tasks:
        if task is not current:
            task.cancel()
    if abrupt and session.request.transport is not None:
        session.request.transport.abort()
    elif not session.ws.closed:
        with contextlib.suppress(TimeoutError, ConnectionResetError, RuntimeError):
            await asyncio.wait_for(session.ws.close(), 1.0)


def _on_ws_text(server: FakeKisServer, session: Session, text: str) -> None:
    try:
        msg = json.loads(text)
        header = msg.get("header") or {}
    except (ValueError, AttributeError):
        return
    tr_id = str(header.get("tr_id", ""))
    if tr_id == "PINGPONG":
        server.stats.pongs += 1  # python-kis and mojito echo the frame back
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

    app_key = server._approvals.get(str(header.get("approval_key", "")))
    if app_key is None:
        reply(("OPSP0011", "INVALID APPROVAL KEY"), False)
        return
    if session.app is None:
        if any(
            s.app is not None and s.app.app_key == app_key and not s.ws.closed
            for s in server._sessions
        ):
            reply(("OPSP8996", "ALREADY IN USE appkey"), False)
            return
        session.app = server.apps[app_key]
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
    if len(session.regs) >= server.options.max_registrations:
        reply(("OPSP0008", "MAX SUBSCRIBE OVER"), False)
        return
    if tr_id in (ep.WS_TRADES, ep.WS_ORDERBOOK):
        server.list_symbol(tr_key)
    session.regs.add(reg)
    if tr_id not in session.keys:
        session.keys[tr_id] = (_ascii(32), _ascii(16))
    reply(("OPSP0000", "SUBSCRIBE SUCCESS"), True, output=True)
    with server._sub_cond:
        server._sub_counts[reg] += 1
        server._sub_cond.notify_all()


def push_notices(server: FakeKisServer, notices: list[Notice]) -> None:
    if not notices:
        return
    tr = ep.notice_tr(server.options.paper)
    for s in server._sessions:
        for n in notices:
            if (tr, n.hts_id) not in s.regs or tr not in s.keys:
                continue
            key, iv = s.keys[tr]
            s.out.put_nowait(f"1|{tr}|001|{crypto.encrypt(key, iv, n.payload)}")
            server.stats.notices_sent += 1


def push_market(server: FakeKisServer, symbols: list[str], when: datetime) -> None:
    if not symbols or not server._sessions:
        return
    for s in server._sessions:
        for symbol in symbols:
            if (ep.WS_TRADES, symbol) in s.regs:
                s.out.put_nowait(
                    f"0|{ep.WS_TRADES}|001|{server.market.trade_payload(symbol, when)}"
                )
            if (ep.WS_ORDERBOOK, symbol) in s.regs:
                s.out.put_nowait(f"0|{ep.WS_ORDERBOOK}|001|{server.market.book_payload(symbol)}")


_ALPHABET = string.ascii_lowercase


def _ascii(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))
