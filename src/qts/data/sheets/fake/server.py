"""A Google Sheets API v4 fake on 127.0.0.1 that gspread 6.2.1 talks to unchanged.

Serves the calls gspread makes (``brokers-and-sheets-wire.md`` §3.1) with Google's response
shapes and error JSON (§3.2, §3.3), plus an OAuth token endpoint for the service-account flow:

- ``POST /token`` takes the JWT-bearer grant google-auth sends, verifies its RS256 signature
  against the public key registered for the service account, and issues a bearer token.
  A key file whose ``token_uri`` points here therefore goes through google-auth's real flow.
  Tests that want no key can take a ready token from :meth:`FakeSheetsServer.issue_token`.
- Every ``/v4`` call needs ``Authorization: Bearer <token>`` (401 otherwise) and, when a
  spreadsheet lists editors, a token of one of them (403 otherwise).
- Quotas: reads (spreadsheets.get, values.get, values.batchGet) and writes (everything else)
  are counted per caller in fixed windows (Google: 60 per minute per user); past the limit the
  answer is 429 RESOURCE_EXHAUSTED with Google's body, optionally with ``Retry-After``.
  The window length is configurable so tests need not wait a minute.
- Fault switches (:class:`Fault`): answer the next N reads/writes with 429 or a 5xx, before the
  request is applied or after it (an "ambiguous" failure: the write happened, the caller is told
  it did not).

The event loop runs in a daemon thread; all state sits behind one lock, so tests can arrange
and inspect it directly (:meth:`set_values`, :meth:`get_values`) without going through HTTP
and without being counted.

This module is the listener and its gate (token, auth, quota, faults). The API methods behind
the gate are in :mod:`qts.data.sheets.fake.routes` (with :mod:`~qts.data.sheets.fake.values`,
:mod:`~qts.data.sheets.fake.batch_update` and :mod:`~qts.data.sheets.fake.field_mask`), Google's
error JSON in :mod:`~qts.data.sheets.fake.errors`, the knobs, fault switches and counters in
:mod:`~qts.data.sheets.fake.options`; their public names are importable from here as before.
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from google.auth import jwt

from qts.data.sheets.fake.book import ApiError, Book
from qts.data.sheets.fake.errors import MESSAGES, UNAUTHENTICATED, error_body
from qts.data.sheets.fake.options import (
    FakeSheetsOptions,
    Fault,
    RequestRecord,
    Stats,
    request_counts,
)
from qts.data.sheets.fake.routes import route

__all__ = [
    "GOOGLE_TOKEN_AUDIENCE",
    "SHEETS_SCOPE",
    "FakeSheetsOptions",
    "FakeSheetsServer",
    "Fault",
    "RequestRecord",
    "Stats",
    "request_counts",
]

SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)


class FakeSheetsServer:
    """Start with :meth:`start` (ephemeral port), stop with :meth:`stop`."""

    def __init__(self, options: FakeSheetsOptions | None = None) -> None:
        self.options = options or FakeSheetsOptions()
        self.stats = Stats()
        self._books: dict[str, Book] = {}
        self._keys: dict[str, str] = {}  # service account email -> public key PEM
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (email, expiry)
        self._faults: list[Fault] = []
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.host = "127.0.0.1"
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeSheetsServer:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the Sheets fake listens on loopback only")
        self.host = host
        self._thread = threading.Thread(
            target=self._serve, args=(host, port), name="sheets-fake", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("Sheets fake did not start within 10 s")
        if self._startup_error is not None:
            raise RuntimeError(f"Sheets fake failed to start: {self._startup_error}")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        runner = self._runner
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeSheetsServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Stands in for ``https://sheets.googleapis.com``."""
        return f"http://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    def _serve(self, host: str, port: int) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start_site(host, port))
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _start_site(self, host: str, port: int) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # no access log: its lines would carry the ranges and nothing useful
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        await web.SockSite(runner, sock).start()
        self._runner = runner
        self.port = sock.getsockname()[1]

    # ------------------------------------------------------------------ test controls

    def create_spreadsheet(
        self,
        spreadsheet_id: str | None = None,
        *,
        title: str = "QTS",
        sheets: tuple[str, ...] = ("Sheet1",),
        rows: int = 1000,
        cols: int = 26,
        editors: set[str] | None = None,
    ) -> str:
        key = spreadsheet_id or secrets.token_urlsafe(30)
        with self._lock:
            if key in self._books:
                raise ValueError(f"spreadsheet {key} exists")
            book = Book(key, title, editors=editors)
            for name in sheets:
                book.add_grid(name, rows, cols)
            self._books[key] = book
        return key

    def has_spreadsheet(self, key: str) -> bool:
        with self._lock:
            return key in self._books

    @contextmanager
    def book(self, key: str) -> Iterator[Book]:
        """Direct access to a spreadsheet's model under the server's lock (not counted)."""
        with self._lock:
            yield self._books[key]

    def set_values(
        self, key: str, range_: str, values: list[list[Any]], *, user_entered: bool = False
    ) -> None:
        """Write as an operator would in the UI (not counted as an API request)."""
        with self._lock:
            book = self._books[key]
            bounds, changes = book.plan_write(range_, values, "ROWS", user_entered)
            book.apply(changes, bounds.grid)

    def get_values(self, key: str, range_: str, option: str = "FORMATTED_VALUE") -> list[list[Any]]:
        with self._lock:
            values: list[list[Any]] = (
                self._books[key].read(range_, option, "ROWS").get("values", [])
            )
            return copy.deepcopy(values)

    def add_sheet(self, key: str, title: str, rows: int = 1000, cols: int = 26) -> None:
        with self._lock:
            self._books[key].add_grid(title, rows, cols)

    def sheet_titles(self, key: str) -> list[str]:
        with self._lock:
            return [g.title for g in self._books[key].grids]

    def register_service_account(self, email: str, public_key_pem: str) -> None:
        with self._lock:
            self._keys[email] = public_key_pem

    def issue_token(self, email: str = "tester@qts.local") -> str:
        """A bearer token without the JWT flow (for credentials made in advance)."""
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (email, time.monotonic() + self.options.token_lifetime_s)
        return token

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset_quota(self) -> None:
        with self._lock:
            self._windows.clear()

    def call(self, fn: Callable[[], Any]) -> Any:
        with self._lock:
            return fn()

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        if raw_path == "/token" and request.method == "POST":
            form = await request.post()
            return self._token({k: str(v) for k, v in form.items()})
        body: Any = None
        if request.can_read_body:
            text = await request.text()
            if text:
                try:
                    body = json.loads(text)
                except ValueError:
                    return self._json(400, error_body(400, "Invalid JSON payload received."))
        query = [(k, v) for k, v in request.rel_url.query.items()]
        auth = request.headers.get("Authorization", "")
        with self._lock:
            status, payload, headers = self._dispatch(request.method, raw_path, query, body, auth)
        return self._json(status, payload, headers)

    @staticmethod
    def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(
            status=status,
            text=json.dumps(payload, ensure_ascii=False),
            content_type="application/json",
            charset="utf-8",
            headers=headers,
        )

    def _token(self, form: dict[str, str]) -> web.Response:
        grant = form.get("grant_type", "")
        assertion = form.get("assertion", "")
        if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" or not assertion:
            return self._json(400, {"error": "unsupported_grant_type"})
        with self._lock:
            try:
                claims = jwt.decode(assertion, verify=False)  # type: ignore[no-untyped-call]
                email = str(claims.get("iss", ""))
                key = self._keys.get(email)
                if key is None:
                    return self._json(
                        400, {"error": "invalid_grant", "error_description": "Invalid grant"}
                    )
                # google-auth addresses the grant to Google's endpoint whatever token_uri says
                claims = jwt.decode(  # type: ignore[no-untyped-call]
                    assertion, certs=key, audience=[GOOGLE_TOKEN_AUDIENCE, self.token_url]
                )
            except ValueError:
                self.stats.log.append(RequestRecord("POST", "/token", "token", 400))
                return self._json(
                    400,
                    {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
                )
            if SHEETS_SCOPE not in str(claims.get("scope", "")).split():
                return self._json(400, {"error": "invalid_scope"})
            self.stats.log.append(RequestRecord("POST", "/token", "token", 200))
        token = self.issue_token(email)
        return self._json(
            200,
            {
                "access_token": token,
                "expires_in": self.options.token_lifetime_s,
                "token_type": "Bearer",
            },
        )

    def _dispatch(
        self,
        method: str,
        raw_path: str,
        query: list[tuple[str, str]],
        body: Any,
        auth: str,
    ) -> tuple[int, Any, dict[str, str] | None]:
        prefix = "/v4/spreadsheets/"
        kind = "read" if method == "GET" else "write"
        path = unquote(raw_path)
        if not raw_path.startswith(prefix):
            return self._fail(method, path, kind, 404, "Requested entity was not found.")
        # who is calling
        caller = "anonymous"
        if self.options.require_auth:
            token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
            entry = self._tokens.get(token)
            if entry is None or entry[1] < time.monotonic():
                return self._fail(method, path, kind, 401, UNAUTHENTICATED)
            caller = entry[0]
        # which spreadsheet
        rest = raw_path[len(prefix) :]
        key = rest.split("/", 1)[0].split(":", 1)[0]
        book = self._books.get(key)
        if book is None:
            return self._fail(method, path, kind, 404, "Requested entity was not found.")
        if book.editors is not None and caller not in book.editors:
            return self._fail(method, path, kind, 403, "The caller does not have permission")
        # quota
        limited = self._over_quota(caller, kind)
        if limited:
            self.stats.throttled += 1
            return self._throttled(method, path, kind, self.options.retry_after_s)
        fault = self._take_fault(kind)
        if fault is not None and not fault.after_apply:
            return self._fault(method, path, kind, fault)
        try:
            payload = route(book, method, rest[len(key) :], query, body)
        except ApiError as exc:
            return self._fail(method, path, kind, exc.code, exc.message, exc.status)
        if kind == "write":
            self.stats.writes += 1
        if fault is not None:
            return self._fault(method, path, kind, fault)
        if kind == "read":
            self.stats.reads += 1
        self.stats.log.append(RequestRecord(method, path, kind, 200))
        return 200, payload, None

    def _fail(
        self, method: str, path: str, kind: str, code: int, message: str, status: str | None = None
    ) -> tuple[int, Any, dict[str, str] | None]:
        self.stats.log.append(RequestRecord(method, path, kind, code))
        return code, error_body(code, message, status), None

    def _throttled(
        self, method: str, path: str, kind: str, retry_after: float | None
    ) -> tuple[int, Any, dict[str, str] | None]:
        metric = "Read requests" if kind == "read" else "Write requests"
        message = (
            f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per "
            "user' of service 'sheets.googleapis.com' for consumer 'project_number:123456789'."
        )
        self.stats.log.append(RequestRecord(method, path, kind, 429))
        headers = None if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return 429, error_body(429, message), headers

    def _fault(
        self, method: str, path: str, kind: str, fault: Fault
    ) -> tuple[int, Any, dict[str, str] | None]:
        self.stats.faults += 1
        if fault.status == 429:
            return self._throttled(method, path, kind, fault.retry_after_s)
        status, payload, _ = self._fail(
            method, path, kind, fault.status, MESSAGES.get(fault.status, "Fault")
        )
        headers = None
        if fault.retry_after_s is not None:
            headers = {"Retry-After": f"{fault.retry_after_s:g}"}
        return status, payload, headers

    def _over_quota(self, caller: str, kind: str) -> bool:
        limit = self.options.read_quota if kind == "read" else self.options.write_quota
        if limit is None:
            return False
        now = time.monotonic()
        start, count = self._windows.get((caller, kind), (now, 0))
        if now - start >= self.options.quota_window_s:
            start, count = now, 0
        if count >= limit:
            self._windows[(caller, kind)] = (start, count)
            return True
        self._windows[(caller, kind)] = (start, count + 1)
        return False

    def _take_fault(self, kind: str) -> Fault | None:
        for fault in self._faults:
            if fault.kind in ("any", kind):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None
