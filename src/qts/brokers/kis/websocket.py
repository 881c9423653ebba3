"""The KIS real-time WebSocket, owned by one background thread.

One session per app key carries every registration (trades, order book, fill notices). The
thread connects to ``<ws_url>/tryitout``, registers everything wanted, answers ``PINGPONG`` by
echoing the frame (as python-kis does; KIS also accepts a pong), decrypts fill notices with the
AES key/iv of their subscribe reply, and hands parsed records to callbacks. When the connection
drops or goes silent it reconnects with exponential backoff and registers everything again;
``on_ready`` then tells the owner, so it can look up by inquiry what happened in the gap.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from qts.brokers.kis import crypto
from qts.brokers.kis.endpoints import (
    CLIENT_MAX_REGISTRATIONS,
    WS_NOTICE_PAPER,
    WS_NOTICE_REAL,
    WS_ORDERBOOK,
    WS_PATH,
    WS_TRADES,
)
from qts.brokers.kis.errors import KisError, WebSocketError
from qts.brokers.kis.mapping import BOOK_FIELDS, NOTICE_FIELDS, TRADE_FIELDS, split_records
from qts.brokers.kis.redact import logger, register_secrets

log = logger("qts.brokers.kis.ws")
frame_log = logger("qts.brokers.kis.ws.frames")  # handed to websockets for its debug lines

WIDTHS = {
    WS_TRADES: len(TRADE_FIELDS),
    WS_ORDERBOOK: len(BOOK_FIELDS),
    WS_NOTICE_REAL: len(NOTICE_FIELDS),
    WS_NOTICE_PAPER: len(NOTICE_FIELDS),
}
_RECV_SLICE_S = 0.25  # how often the thread looks at its stop flag while idle

DataCallback = Callable[[str, list[list[str]]], None]


@dataclass(frozen=True, slots=True)
class Registration:
    tr_id: str
    tr_key: str


@dataclass(slots=True)
class WsStats:
    connects: int = 0
    disconnects: int = 0
    frames: int = 0
    pingpongs: int = 0
    undecryptable: int = 0
    errors: int = 0


class KisWebSocket:
    """Thread-owned KIS WebSocket session with automatic re-registration."""

    def __init__(
        self,
        url: str,
        approval_key: Callable[[], str],
        on_data: DataCallback,
        *,
        invalidate_approval: Callable[[], None] | None = None,
        on_ready: Callable[[int], None] | None = None,
        custtype: str = "P",
        reconnect_min_s: float = 0.1,
        reconnect_max_s: float = 10.0,
        idle_timeout_s: float = 120.0,
        open_timeout_s: float = 5.0,
    ) -> None:
        self._url = url.rstrip("/") + WS_PATH
        self._approval_key = approval_key
        self._invalidate_approval = invalidate_approval
        self._on_data = on_data
        self._on_ready = on_ready
        self._custtype = custtype
        self._min = reconnect_min_s
        self._max = reconnect_max_s
        self._idle = idle_timeout_s
        self._open_timeout = open_timeout_s
        self._wanted: dict[Registration, None] = {}  # insertion-ordered set
        self._acked: set[Registration] = set()
        self._keys: dict[str, tuple[str, str]] = {}  # tr_id -> (key, iv)
        self._encrypted: set[str] = set()
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._conn: ClientConnection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.generation = 0  # connections made so far
        self._ready_generation = 0
        self.stats = WsStats()
        self.last_error: WebSocketError | None = None

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="kis-websocket", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a broken socket may fail; we are leaving anyway
                log.debug("websocket close raised", exc_info=True)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def subscribe(self, tr_id: str, tr_key: str) -> None:
        """Register (now if connected, and again after every reconnect). At most 40."""
        reg = Registration(tr_id, tr_key)
        with self._cond:
            if reg in self._wanted:
                return
            if len(self._wanted) >= CLIENT_MAX_REGISTRATIONS:
                raise WebSocketError(
                    f"KIS websocket: at most {CLIENT_MAX_REGISTRATIONS} registrations per session"
                )
            self._wanted[reg] = None
        self._send_registration(reg, "1")

    def unsubscribe(self, tr_id: str, tr_key: str) -> None:
        reg = Registration(tr_id, tr_key)
        with self._cond:
            if reg not in self._wanted:
                return
            del self._wanted[reg]
            self._acked.discard(reg)
        self._send_registration(reg, "2")

    def registrations(self) -> list[Registration]:
        with self._cond:
            return list(self._wanted)

    def wait_ready(self, timeout: float) -> bool:
        """Block until connected and every wanted registration is acknowledged."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (self._conn is not None and set(self._wanted) <= self._acked):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def wait_generation(self, generation: int, timeout: float) -> bool:
        """Block until connection number ``generation`` (or a later one) is ready."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._ready_generation < generation:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        delay = self._min
        while not self._stop.is_set():
            try:
                key = self._approval_key()
                conn = connect(
                    self._url,
                    open_timeout=self._open_timeout,
                    ping_interval=None,  # KIS keeps the session alive with PINGPONG frames
                    close_timeout=1.0,
                    logger=frame_log,
                    legacy=True,  # we own the connection's life (reconnects) ourselves
                )
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, KisError) as exc:
                self.stats.errors += 1
                log.warning(
                    "websocket connect failed (%s); retrying in %.2f s", type(exc).__name__, delay
                )
                self._stop.wait(delay)
                delay = min(delay * 2, self._max)
                continue
            register_secrets(key)
            with self._cond:
                self._conn = conn
                self._acked.clear()
                self.generation += 1
                self.stats.connects += 1
                wanted = list(self._wanted)
            log.info("websocket connected (session %d)", self.generation)
            try:
                for reg in wanted:
                    self._send_registration(reg, "1", key)
                self._receive(conn)
                delay = self._min  # a session that worked resets the backoff
            except ConnectionClosed:
                if not self._stop.is_set():
                    log.warning("websocket closed by the server")
            except (OSError, TimeoutError) as exc:
                if not self._stop.is_set():
                    log.warning("websocket failed (%s)", type(exc).__name__)
            finally:
                with self._cond:
                    self._conn = None
                    self._acked.clear()
                    self._cond.notify_all()
                try:
                    conn.close()
                except Exception:
                    log.debug("websocket close raised", exc_info=True)
            if not self._stop.is_set():
                self.stats.disconnects += 1
                log.info("websocket reconnecting in %.2f s", delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self._max)

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
            if not text:
                continue
            try:
                if text[0] in "01":
                    self._data_frame(text)
                else:
                    self._control_frame(conn, text)
            except KisError as exc:
                self.stats.errors += 1
                log.warning("websocket frame not understood: %s", exc)
            except Exception:
                self.stats.errors += 1
                log.exception("websocket frame handler failed")

    def _data_frame(self, text: str) -> None:
        parts = text.split("|", 3)
        if len(parts) < 4:
            raise WebSocketError("KIS websocket: data frame with fewer than 4 parts")
        enc, tr_id, count_text, payload = parts
        width = WIDTHS.get(tr_id)
        if width is None:
            return
        if enc == "1" or tr_id in self._encrypted:
            keys = self._keys.get(tr_id)
            if keys is None:
                self.stats.undecryptable += 1
                log.warning("encrypted %s frame before its key arrived; dropped", tr_id)
                return
            payload = crypto.decrypt(keys[0], keys[1], payload)
        try:
            count = int(count_text)
        except ValueError:
            raise WebSocketError(f"KIS websocket: bad record count in a {tr_id} frame") from None
        records = split_records(payload, width, count)
        self.stats.frames += 1
        self._on_data(tr_id, records)

    def _control_frame(self, conn: ClientConnection, text: str) -> None:
        try:
            msg: dict[str, Any] = json.loads(text)
        except ValueError:
            raise WebSocketError("KIS websocket: control frame is not JSON") from None
        header = msg.get("header") or {}
        tr_id = str(header.get("tr_id", ""))
        if tr_id == "PINGPONG":
            self.stats.pingpongs += 1
            with self._send_lock:
                conn.send(text)
            return
        body = msg.get("body") or {}
        reg = Registration(tr_id, str(header.get("tr_key", "")))
        rt_cd, msg_cd = str(body.get("rt_cd", "")), str(body.get("msg_cd", ""))
        msg1 = str(body.get("msg1", "")).strip()
        output = body.get("output")
        if isinstance(output, dict) and output.get("key") and output.get("iv"):
            self._keys[tr_id] = (str(output["key"]), str(output["iv"]))
        if str(header.get("encrypt", "")).upper() == "Y":
            self._encrypted.add(tr_id)
        ok = rt_cd == "0" or msg_cd == "OPSP0002"  # "already subscribed" is as good
        if ok and not msg1.upper().startswith("UNSUB"):
            with self._cond:
                if reg in self._wanted:
                    self._acked.add(reg)
                ready = set(self._wanted) <= self._acked
                fire = ready and self._ready_generation < self.generation
                if fire:
                    self._ready_generation = self.generation
                self._cond.notify_all()
            if fire and self._on_ready is not None:
                self._on_ready(self.generation)
            return
        if ok:
            return
        self.last_error = WebSocketError(
            f"KIS websocket {tr_id}: {msg_cd} {msg1}", msg_cd=msg_cd, msg1=msg1
        )
        log.error("websocket %s refused: %s %s", tr_id, msg_cd, msg1)
        if "APPROVAL" in msg1.upper() and self._invalidate_approval is not None:
            self._invalidate_approval()
            conn.close()
        elif msg_cd == "OPSP8996":
            conn.close()  # our previous session may still linger at KIS: reconnect later

    def _send_registration(self, reg: Registration, tr_type: str, key: str | None = None) -> None:
        conn = self._conn
        if conn is None:
            return  # registered on the next connect
        approval = key if key is not None else self._approval_key()
        frame = {
            "header": {
                "approval_key": approval,
                "custtype": self._custtype,
                "tr_type": tr_type,
                "content-type": "utf-8",
            },
            "body": {"input": {"tr_id": reg.tr_id, "tr_key": reg.tr_key}},
        }
        try:
            with self._send_lock:
                conn.send(json.dumps(frame))
        except (ConnectionClosed, OSError):
            log.info("registration of %s not sent: connection closing", reg.tr_id)
