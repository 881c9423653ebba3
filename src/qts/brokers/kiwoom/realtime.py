"""Kiwoom's real-time WebSocket (brokers-and-sheets-wire §2.6), owned by one background thread.

The thread connects to ``config.ws_url``, sends ``LOGIN`` with the REST access token, registers
every wanted (type, item) pair with ``REG`` (``refresh: "1"``), echoes each ``PING`` verbatim
(Kiwoom disconnects a client that does not), and turns ``REAL`` pushes into :class:`RealTrade`
(type ``0B``) and :class:`RealIndex` (type ``0J``) records in a bounded queue. Registrations do
not survive a reconnect, so after every (re)connect it logs in and registers everything again,
with exponential backoff between attempts. Fills are not taken from here: the adapter polls
for them (:mod:`qts.brokers.kiwoom.broker`).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.errors import KiwoomError
from qts.brokers.redact import logger, register_secrets
from qts.core.errors import InputError

log = logger("qts.brokers.kiwoom.ws")
frame_log = logger("qts.brokers.kiwoom.ws.frames")  # handed to websockets for its debug lines

TRADE, INDEX = "0B", "0J"
_RECV_SLICE_S = 0.25
MAX_QUEUED = 100_000


@dataclass(frozen=True, slots=True)
class RealTrade:
    """One 0B print: the time has no date (``hhmmss``), the price no sign."""

    symbol: str
    hhmmss: str
    price: int
    volume: int


@dataclass(frozen=True, slots=True)
class RealIndex:
    """One 0J index print (value in index points)."""

    code: str
    hhmmss: str
    value: float


RealRecord = RealTrade | RealIndex


def parse_real(entry: dict[str, Any]) -> RealRecord | None:
    """A ``REAL`` data entry as a record; ``None`` for types QTS does not use."""
    kind = str(entry.get("type", ""))
    values = entry.get("values")
    if not isinstance(values, dict):
        raise InputError("kiwoom websocket", "values", "is not an object")
    item = str(entry.get("item", ""))
    hhmmss = str(values.get("20", "")).strip().replace(":", "")
    if len(hhmmss) != 6 or not hhmmss.isdigit():
        raise InputError("kiwoom websocket", "20", f"expected HHMMSS, got {hhmmss!r}")
    if kind == TRADE:
        price = abs(m.parse_int(values.get("10"), "10", blank=None))
        volume = abs(m.parse_int(values.get("15"), "15"))
        return RealTrade(m.parse_symbol(item, "item"), hhmmss, price, volume)
    if kind == INDEX:
        raw = str(values.get("10", "")).strip().lstrip("+")
        try:
            value = abs(float(raw.replace(",", "")))
        except ValueError:
            raise InputError("kiwoom websocket", "10", f"not an index value: {raw!r}") from None
        return RealIndex(item, hhmmss, value)
    return None


class KiwoomRealtime:
    """Thread-owned Kiwoom WebSocket session with re-login and re-registration."""

    def __init__(
        self,
        url: str,
        token: Callable[[], str],
        *,
        invalidate_token: Callable[[str], None] | None = None,
        reconnect_min_s: float = 0.1,
        reconnect_max_s: float = 10.0,
        idle_timeout_s: float = 120.0,
        open_timeout_s: float = 5.0,
    ) -> None:
        self._url = url
        self._token = token
        self._invalidate = invalidate_token
        self._min, self._max = reconnect_min_s, reconnect_max_s
        self._idle = idle_timeout_s
        self._open_timeout = open_timeout_s
        self._wanted: dict[tuple[str, str], None] = {}
        self._cond = threading.Condition()
        self._queue: deque[RealRecord] = deque(maxlen=MAX_QUEUED)
        self._conn: ClientConnection | None = None
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.logged_in = 0  # successful logins so far
        self.pings = 0
        self.records = 0
        self.errors = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kiwoom-ws", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("websocket close raised", exc_info=True)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def register(self, type_: str, item: str) -> None:
        """Want (type, item) from now on (sent now if connected, and after every reconnect)."""
        with self._cond:
            if (type_, item) in self._wanted:
                return
            self._wanted[(type_, item)] = None
            conn = self._conn if self.logged_in else None
        if conn is not None:
            self._send(conn, _reg([(type_, item)]))

    def drain(self) -> list[RealRecord]:
        with self._cond:
            out = list(self._queue)
            self._queue.clear()
        return out

    def wait_logged_in(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.logged_in > 0, timeout)

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        delay = self._min
        while not self._stop.is_set():
            try:
                token = self._token()
                register_secrets(token)
                conn = connect(
                    self._url,
                    open_timeout=self._open_timeout,
                    ping_interval=None,  # Kiwoom keeps the session alive with PING frames
                    close_timeout=1.0,
                    logger=frame_log,
                    legacy=True,  # we own the connection's life (reconnects) ourselves
                )
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, KiwoomError) as exc:
                self.errors += 1
                log.warning("websocket connect failed (%s); retrying in %.2f s",
                            type(exc).__name__, delay)  # fmt: skip
                self._stop.wait(delay)
                delay = min(delay * 2, self._max)
                continue
            try:
                if self._login(conn, token):
                    delay = self._min
                    self._receive(conn)
            except ConnectionClosed:
                if not self._stop.is_set():
                    log.warning("websocket closed by the server")
            except (OSError, TimeoutError) as exc:
                if not self._stop.is_set():
                    log.warning("websocket failed (%s)", type(exc).__name__)
            finally:
                with self._cond:
                    self._conn = None
                    self._cond.notify_all()
                try:
                    conn.close()
                except Exception:
                    log.debug("websocket close raised", exc_info=True)
            if not self._stop.is_set():
                log.info("websocket reconnecting in %.2f s", delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self._max)

    def _login(self, conn: ClientConnection, token: str) -> bool:
        conn.send(json.dumps({"trnm": "LOGIN", "token": token}))
        deadline = time.monotonic() + self._open_timeout
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                raw = conn.recv(timeout=_RECV_SLICE_S)
            except TimeoutError:
                continue
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(msg, dict) or msg.get("trnm") != "LOGIN":
                continue
            if int(msg.get("return_code", 1)) != 0:
                log.warning("websocket login refused (return_code %s)", msg.get("return_code"))
                if self._invalidate is not None:
                    self._invalidate(token)
                return False
            with self._cond:
                self._conn = conn
                self.logged_in += 1
                wanted = list(self._wanted)
                self._cond.notify_all()
            if wanted:
                self._send(conn, _reg(wanted))
            log.info("websocket logged in (session %d, %d registrations)",
                     self.logged_in, len(wanted))  # fmt: skip
            return True
        return False

    def _receive(self, conn: ClientConnection) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                raw = conn.recv(timeout=_RECV_SLICE_S)
            except TimeoutError:
                if time.monotonic() - last > self._idle:
                    log.warning("websocket silent for %.0f s; reconnecting", self._idle)
                    return
                continue
            last = time.monotonic()
            text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
            try:
                self._frame(conn, text)
            except (InputError, ValueError, KeyError, TypeError) as exc:
                self.errors += 1
                log.warning("websocket frame not understood: %s", exc)

    def _frame(self, conn: ClientConnection, text: str) -> None:
        msg = json.loads(text)
        trnm = msg.get("trnm")
        if trnm == "PING":
            self.pings += 1
            self._send(conn, text)  # the same JSON back
            return
        if trnm == "REAL":
            records = [r for e in msg.get("data") or [] if (r := parse_real(e)) is not None]
            with self._cond:
                self._queue.extend(records)
                self.records += len(records)
                self._cond.notify_all()
            return
        if trnm in ("REG", "REMOVE") and int(msg.get("return_code", 0)) != 0:
            log.error("websocket %s refused: %s", trnm, msg.get("return_msg", ""))

    def _send(self, conn: ClientConnection, text: str) -> None:
        with self._send_lock:
            try:
                conn.send(text)
            except ConnectionClosed:
                log.info("websocket send dropped: connection closing")


def _reg(pairs: list[tuple[str, str]]) -> str:
    by_type: dict[str, list[str]] = {}
    for type_, item in pairs:
        by_type.setdefault(type_, []).append(item)
    data = [{"item": items, "type": [t]} for t, items in by_type.items()]
    return json.dumps({"trnm": "REG", "grp_no": "1", "refresh": "1", "data": data})


__all__ = ["INDEX", "TRADE", "KiwoomRealtime", "RealIndex", "RealRecord", "RealTrade", "parse_real"]
