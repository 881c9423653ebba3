"""The fake's real-time WebSocket and minute chart (brokers-and-sheets-wire §2.6, §2.4).

**WebSocket** (``/api/dostk/websocket`` on the REST port; Kiwoom itself uses port 10000 of the
same host): JSON text frames only. ``{"trnm":"LOGIN","token":…}`` must come first and carry a
token the fake issued (else ``return_code`` 1 and the socket closes); ``REG`` / ``REMOVE`` (or
``UNREG``) with ``data: [{"item": [...], "type": [...]}]`` change the registrations
(``refresh: "0"`` replaces them); the fake sends ``{"trnm":"PING"}`` every ``ping_interval_s``
and expects the same JSON back. Pushes are ``{"trnm":"REAL","data":[{"type","name","item",
"values"}]}`` with the OpenAPI+ FIDs: type ``0B`` (주식체결) — one print per bar at the bar's
close: ``20`` time HHMMSS, ``10`` price signed by direction against the base price, ``11``
change, ``12`` change %, ``13`` cumulative volume, ``15`` trade volume (``+`` buy-initiated),
``16``/``17``/``18`` open/high/low, ``27``/``28`` best ask/bid; and type ``0J`` (업종지수) for
the index series the fake serves (:meth:`RealtimeHub.push_index`). Fills are not pushed (type
``00`` is accepted and acknowledged, nothing is sent on it): the adapter polls for them.

**ka10080** (분봉, ``/api/dostk/chart``): today's one-minute bars of a symbol, newest first,
``cntr_tm`` ``YYYYMMDDHHMMSS`` — the live path asks it for the venue's trading date, which the
real-time prints do not carry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from qts.core.time import KST
from qts.market.krx.tick_size import tick_size
from qts.model.frame import BarFrame

if TYPE_CHECKING:
    from qts.brokers.kiwoom.fake.server import FakeKiwoom

log = logging.getLogger(__name__)

WS_PATH = "/api/dostk/websocket"
TRADE = "0B"
INDEX = "0J"
ORDER_EVENTS = "00"
KNOWN_TYPES = frozenset({"00", "04", "0A", TRADE, "0C", "0D", INDEX, "0U", "1h"})


@dataclass(slots=True)
class _Session:
    ws: web.WebSocketResponse
    logged_in: bool = False
    regs: set[tuple[str, str]] = field(default_factory=set)  # (type, item)
    pings_answered: int = 0


@dataclass(slots=True)
class _Day:
    day: date | None = None
    base: int = 0
    open: int = 0
    high: int = 0
    low: int = 0
    volume: int = 0
    bars: list[tuple[datetime, int, int, int, int, int]] = field(default_factory=list)


LOGIN_REFUSED = "인증에 실패했습니다[8005:Token이 유효하지 않습니다]"


def _refusal(trnm: str, text: str) -> dict[str, Any]:
    return {"trnm": trnm, "return_code": 1, "return_msg": text}


def _signed(value: int, direction: int) -> str:
    return f"{'+' if direction > 0 else '-' if direction < 0 else ''}{abs(value)}"


class RealtimeHub:
    """Sessions of the WebSocket, the day's minute bars, and the pushes made from frames."""

    def __init__(self, kiwoom: FakeKiwoom, *, ping_interval_s: float = 10.0) -> None:
        self.kiwoom = kiwoom
        self.ping_interval_s = ping_interval_s
        self._lock = threading.Lock()
        self._sessions: list[_Session] = []
        self._days: dict[str, _Day] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.logins = 0
        self.pushed = 0
        self.index_pushed = 0
        self.pings_echoed = 0

    # ------------------------------------------------------------------ test controls

    def registered(self, type_: str, item: str) -> int:
        """How many sessions hold the registration (``type_``, ``item``)."""
        with self._lock:
            return sum((type_, item) in s.regs for s in self._sessions)

    def drop_sessions(self) -> int:
        """Close every session from the server side (as a network cut would)."""
        loop = self._loop
        with self._lock:
            sessions = list(self._sessions)
        if loop is None:
            return 0
        for s in sessions:
            asyncio.run_coroutine_threadsafe(s.ws.close(), loop)
        return len(sessions)

    # ------------------------------------------------------------------ feeding

    def on_frame(self, frame: BarFrame) -> None:
        """A frame reached the venue: record the bars and push a 0B print per traded symbol."""
        pushes: list[dict[str, Any]] = []
        ts = frame.end.astimezone(KST)
        for i, symbol in enumerate(frame.universe.symbols):
            if not frame.active[i]:
                continue
            o, h, lo, c = (int(frame.open[i]), int(frame.high[i]), int(frame.low[i]),
                           int(frame.close[i]))  # fmt: skip
            v = int(frame.volume[i])
            with self._lock:
                d = self._days.setdefault(symbol, _Day())
                if d.day != ts.date():
                    d.day, d.base = ts.date(), self.kiwoom.venue.reference(symbol) or o
                    d.open, d.high, d.low, d.volume, d.bars = o, h, lo, 0, []
                d.high, d.low, d.volume = max(d.high, h), min(d.low, lo), d.volume + v
                d.bars.append((frame.start.astimezone(KST), o, h, lo, c, v))
                base, day_open, day_high, day_low, cum = d.base, d.open, d.high, d.low, d.volume
            direction = (c > base) - (c < base)
            tick = tick_size(c)
            values = {
                "20": ts.strftime("%H%M%S"),
                "10": _signed(c, direction),
                "11": _signed(c - base, direction),
                "12": f"{(c - base) * 100 / base:+.2f}" if base else "0.00",
                "13": str(cum),
                "15": f"+{v}",
                "16": _signed(day_open, (day_open > base) - (day_open < base)),
                "17": _signed(day_high, (day_high > base) - (day_high < base)),
                "18": _signed(day_low, (day_low > base) - (day_low < base)),
                "27": _signed(c + tick, direction),
                "28": _signed(c, direction),
            }
            pushes.append({"type": TRADE, "name": "주식체결", "item": symbol, "values": values})
        self._push(pushes)
        for code in self._index_items():
            self.push_index(code, self.kiwoom.venue.index_level(code), ts)

    def set_index(self, code: str, value: float) -> None:
        """Index ``code`` stands at ``value`` from now on (a test's spike); pushed at once."""
        with self.kiwoom.venue.lock:
            self.kiwoom.venue.indices[code] = value
        self.push_index(code, value, self.kiwoom.venue.now())

    def _index_items(self) -> set[str]:
        with self._lock:
            return {item for s in self._sessions for (t, item) in s.regs if t == INDEX}

    def push_index(self, code: str, value: float, when: datetime) -> None:
        """One 0J (업종지수) print of index ``code`` (``10`` value, ``20`` time)."""
        values = {"20": when.astimezone(KST).strftime("%H%M%S"), "10": f"{value:.2f}"}
        self._push([{"type": INDEX, "name": "업종지수", "item": code, "values": values}])

    def _push(self, pushes: list[dict[str, Any]]) -> None:
        loop = self._loop
        if loop is None or not pushes:
            return
        with self._lock:
            targets = [(s, [p for p in pushes if (p["type"], p["item"]) in s.regs])
                       for s in self._sessions if s.logged_in]  # fmt: skip
        for session, data in targets:
            if data:
                text = json.dumps({"trnm": "REAL", "data": data}, ensure_ascii=False)
                asyncio.run_coroutine_threadsafe(self._send(session, text), loop)
                with self._lock:
                    self.pushed += sum(p["type"] == TRADE for p in data)
                    self.index_pushed += sum(p["type"] == INDEX for p in data)

    async def _send(self, session: _Session, text: str) -> None:
        if not session.ws.closed:
            try:
                await session.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                log.debug("fake kiwoom ws: push to a closing session dropped")

    # ------------------------------------------------------------------ ka10080

    def minute_bars(self, symbol: str) -> list[dict[str, str]]:
        """Today's one-minute bars of ``symbol``, newest first, as ka10080 rows."""
        with self._lock:
            d = self._days.get(symbol)
            bars = list(d.bars) if d is not None else []
            base = d.base if d is not None else 0
        rows = []
        for start, o, h, lo, c, v in reversed(bars):
            direction = (c > base) - (c < base)
            rows.append(
                {
                    "cntr_tm": start.strftime("%Y%m%d%H%M%S"),
                    "cur_prc": _signed(c, direction),
                    "open_pric": _signed(o, direction),
                    "high_pric": _signed(h, direction),
                    "low_pric": _signed(lo, direction),
                    "trde_qty": str(v),
                }
            )
        return rows

    # ------------------------------------------------------------------ the socket

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self._loop = asyncio.get_running_loop()
        session = _Session(ws)
        with self._lock:
            self._sessions.append(session)
        pinger = asyncio.get_running_loop().create_task(self._ping(session))
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                if not await self._on_text(session, msg.data):
                    break
        finally:
            pinger.cancel()
            with self._lock:
                if session in self._sessions:
                    self._sessions.remove(session)
        return ws

    async def _ping(self, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while not session.ws.closed:
            await asyncio.sleep(0.05)  # the interval may change while the session runs
            if loop.time() - last < self.ping_interval_s:
                continue
            last = loop.time()
            if session.logged_in and not session.ws.closed:
                await self._send(session, json.dumps({"trnm": "PING"}))

    async def _on_text(self, session: _Session, text: str) -> bool:
        try:
            msg = json.loads(text)
        except json.JSONDecodeError:
            await self._reply(session, _refusal("SYSTEM", "잘못된 요청입니다"))
            return True
        trnm = str(msg.get("trnm", "")).upper() if isinstance(msg, dict) else ""
        if trnm == "LOGIN":
            token = str(msg.get("token", ""))
            if not self.kiwoom.token_valid(token):
                await self._reply(session, _refusal("LOGIN", LOGIN_REFUSED))
                await session.ws.close()
                return False
            session.logged_in = True
            with self._lock:
                self.logins += 1
            await self._reply(session, {"trnm": "LOGIN", "return_code": 0, "return_msg": ""})
            return True
        if trnm == "PING":
            session.pings_answered += 1
            with self._lock:
                self.pings_echoed += 1
            return True
        if not session.logged_in:
            await self._reply(session, _refusal(trnm or "SYSTEM", "로그인이 필요합니다"))
            await session.ws.close()
            return False
        if trnm in ("REG", "REMOVE", "UNREG"):
            return await self._registration(session, trnm, msg)
        await self._reply(session, _refusal(trnm, f"지원하지 않는 trnm입니다({trnm})"))
        return True

    async def _registration(self, session: _Session, trnm: str, msg: dict[str, Any]) -> bool:
        data = msg.get("data")
        pairs: set[tuple[str, str]] = set()
        ok = isinstance(data, list) and bool(data)
        for entry in data if isinstance(data, list) else []:
            items = entry.get("item") if isinstance(entry, dict) else None
            types = entry.get("type") if isinstance(entry, dict) else None
            if not isinstance(items, list) or not isinstance(types, list) or not types:
                ok = False
                break
            for t in types:
                if str(t) not in KNOWN_TYPES:
                    ok = False
                for item in items:
                    pairs.add((str(t), str(item)))
        if not ok:
            await self._reply(session, _refusal(trnm, "등록 요청 형식이 올바르지 않습니다"))
            return True
        if trnm == "REG":
            for t, item in pairs:
                if t in (TRADE, "0D", "0C"):
                    self.kiwoom.venue.list_symbol(item)
        with self._lock:
            if trnm == "REG":
                if str(msg.get("refresh", "1")) == "0":
                    session.regs = set()
                session.regs |= pairs
            else:
                session.regs -= pairs
        await self._reply(session, {"trnm": trnm, "return_code": 0, "return_msg": ""})
        return True

    async def _reply(self, session: _Session, body: dict[str, Any]) -> None:
        await self._send(session, json.dumps(body, ensure_ascii=False))


__all__ = ["INDEX", "TRADE", "WS_PATH", "RealtimeHub"]
