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
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from google.auth import jwt

from qts.data.sheets.fake.book import ApiError, Book, Bounds, bad_request

SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGES = {
    500: "Internal error encountered.",
    502: "Bad Gateway",
    503: "The service is currently unavailable.",
    504: "The service is currently unavailable.",
}
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


@dataclass
class FakeSheetsOptions:
    """Quota and auth switches. ``None`` quota: unlimited."""

    read_quota: int | None = 60
    write_quota: int | None = 60
    quota_window_s: float = 60.0
    retry_after_s: float | None = None  # Google's Sheets answers rarely carry one
    token_lifetime_s: int = 3600
    require_auth: bool = True


@dataclass
class Fault:
    """Answer the next ``times`` matching requests with ``status``.

    ``kind``: ``read``, ``write`` or ``any``. ``after_apply``: apply the request first, then
    answer the error (the write took place; a client that retries must not duplicate it).
    """

    status: int = 503
    times: int = 1
    kind: str = "any"
    after_apply: bool = False
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str  # decoded, without the query
    kind: str  # read, write, token
    status: int


@dataclass
class Stats:
    reads: int = 0  # read requests answered 200
    writes: int = 0  # write requests applied (including those answered with an after-apply fault)
    throttled: int = 0  # 429 answers for quota
    faults: int = 0  # answers from injected faults
    log: list[RequestRecord] = field(default_factory=list)


def _error_body(code: int, message: str, status: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error": {"code": code, "message": message, "status": status or _STATUS.get(code, "")}
    }
    if code == 429:
        body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com",
                "metadata": {
                    "service": "sheets.googleapis.com",
                    "consumer": "projects/123456789",
                    "quota_limit": "WriteRequestsPerMinutePerUser",
                    "quota_metric": "sheets.googleapis.com/write_requests",
                },
            }
        ]
    return body


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
                    return self._json(400, _error_body(400, "Invalid JSON payload received."))
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
                return self._fail(method, path, kind, 401, _UNAUTHENTICATED)
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
            payload = self._route(book, method, rest[len(key) :], query, body)
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
        return code, _error_body(code, message, status), None

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
        return 429, _error_body(429, message), headers

    def _fault(
        self, method: str, path: str, kind: str, fault: Fault
    ) -> tuple[int, Any, dict[str, str] | None]:
        self.stats.faults += 1
        if fault.status == 429:
            return self._throttled(method, path, kind, fault.retry_after_s)
        status, payload, _ = self._fail(
            method, path, kind, fault.status, _MESSAGES.get(fault.status, "Fault")
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

    # ------------------------------------------------------------------ the API

    def _route(
        self, book: Book, method: str, tail: str, query: list[tuple[str, str]], body: Any
    ) -> Any:
        params: dict[str, list[str]] = {}
        for k, v in query:
            params.setdefault(k, []).append(v)

        def one(name: str, default: str) -> str:
            return params.get(name, [default])[-1]

        if tail == "" and method == "GET":
            meta = book.metadata()
            fields = one("fields", "")
            return _mask(meta, fields) if fields else meta
        if tail == ":batchUpdate" and method == "POST":
            return self._spreadsheet_batch_update(book, body)
        if not tail.startswith("/values"):
            raise ApiError(404, "NOT_FOUND", "Requested entity was not found.")
        tail = tail[len("/values") :]
        option = one("valueRenderOption", "FORMATTED_VALUE")
        major = one("majorDimension", "ROWS")
        if option not in ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"):
            raise bad_request(f"Invalid valueRenderOption: {option}")
        if tail == ":batchGet" and method == "GET":
            ranges = params.get("ranges", [])
            return {
                "spreadsheetId": book.spreadsheet_id,
                "valueRanges": [book.read(r, option, major) for r in ranges],
            }
        if tail == ":batchUpdate" and method == "POST":
            return self._values_batch_update(book, body)
        if tail == ":batchClear" and method == "POST":
            ranges = list((body or {}).get("ranges") or [])
            for r in ranges:
                book.resolve(r)  # all or nothing
            return {
                "spreadsheetId": book.spreadsheet_id,
                "clearedRanges": [book.clear(r) for r in ranges],
            }
        if not tail.startswith("/"):
            raise ApiError(404, "NOT_FOUND", "Requested entity was not found.")
        encoded, _, action = tail[1:].partition(":")
        range_ = unquote(encoded)
        if action == "" and method == "GET":
            return book.read(range_, option, major)
        if action == "" and method == "PUT":
            user = self._input_option(one("valueInputOption", ""))
            data = body or {}
            bounds, changes = book.plan_write(
                range_, list(data.get("values") or []), data.get("majorDimension") or "ROWS", user
            )
            book.apply(changes, bounds.grid)
            return {"spreadsheetId": book.spreadsheet_id, **_updated(bounds, changes)}
        if action == "append" and method == "POST":
            user = self._input_option(one("valueInputOption", ""))
            return self._append(
                book,
                range_,
                list((body or {}).get("values") or []),
                user,
                one("insertDataOption", "OVERWRITE"),
            )
        if action == "clear" and method == "POST":
            return {"spreadsheetId": book.spreadsheet_id, "clearedRange": book.clear(range_)}
        raise ApiError(404, "NOT_FOUND", "Requested entity was not found.")

    @staticmethod
    def _input_option(value: str) -> bool:
        if value not in ("RAW", "USER_ENTERED"):
            raise bad_request("'valueInputOption' is required but not specified")
        return value == "USER_ENTERED"

    def _values_batch_update(self, book: Book, body: Any) -> Any:
        body = body or {}
        user = self._input_option(str(body.get("valueInputOption") or ""))
        plans = []
        for item in body.get("data") or []:
            plans.append(
                book.plan_write(
                    str(item.get("range", "")),
                    list(item.get("values") or []),
                    item.get("majorDimension") or "ROWS",
                    user,
                )
            )
        # every range checked first: one bad range applies nothing
        for bounds, changes in plans:
            book.apply(changes, bounds.grid)
        responses = [{"spreadsheetId": book.spreadsheet_id, **_updated(b, c)} for b, c in plans]
        return {
            "spreadsheetId": book.spreadsheet_id,
            "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
            "totalUpdatedColumns": sum(r["updatedColumns"] for r in responses),
            "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
            "totalUpdatedSheets": len({b.grid.sheet_id for b, _ in plans}),
            "responses": responses,
        }

    def _append(
        self, book: Book, range_: str, values: list[list[Any]], user: bool, insert: str
    ) -> Any:
        if insert not in ("OVERWRITE", "INSERT_ROWS"):
            raise bad_request(f"Invalid insertDataOption: {insert}")
        table = book.resolve(range_)
        end = book.table_end(table)
        start = end + 1
        grid = table.grid
        height = len(values)
        if insert == "INSERT_ROWS":
            moved = {(r + height if r >= start else r, c): v for (r, c), v in grid.cells.items()}
            grid.cells = moved
            grid.rows += height
        elif start + height - 1 > grid.rows:
            grid.rows = start + height - 1  # append grows the sheet
        width = max((len(r) for r in values), default=1)
        grid.cols = max(grid.cols, table.c0 + width - 1)
        target = Bounds(grid, start, table.c0, start + max(height, 1) - 1, table.c0 + width - 1)
        bounds, changes = book.plan_write(target.a1(), values, "ROWS", user)
        book.apply(changes, grid)
        first = table.r0 if end >= table.r0 else start
        table_range = Bounds(grid, first, table.c0, max(end, first), table.c1).a1()
        return {
            "spreadsheetId": book.spreadsheet_id,
            "tableRange": table_range,
            "updates": {"spreadsheetId": book.spreadsheet_id, **_updated(bounds, changes)},
        }

    def _spreadsheet_batch_update(self, book: Book, body: Any) -> Any:
        requests = list((body or {}).get("requests") or [])
        # Validate on a copy, then swap it in: one bad request applies nothing.
        trial = copy.deepcopy(book)
        replies: list[dict[str, Any]] = []
        for i, req in enumerate(requests):
            if not isinstance(req, dict) or len(req) != 1:
                raise bad_request(f"Invalid requests[{i}]: exactly one kind of request expected")
            ((name, spec),) = req.items()
            spec = spec or {}
            if name == "addSheet":
                props = spec.get("properties") or {}
                grid_props = props.get("gridProperties") or {}
                g = trial.add_grid(
                    str(props.get("title") or f"Sheet{len(trial.grids) + 1}"),
                    int(grid_props.get("rowCount", 1000)),
                    int(grid_props.get("columnCount", 26)),
                    props.get("index"),
                )
                replies.append({"addSheet": {"properties": g.properties()}})
            elif name == "deleteSheet":
                trial.delete_grid(int(spec.get("sheetId", -1)))
                replies.append({})
            elif name == "updateSheetProperties":
                props = spec.get("properties") or {}
                g = trial.grid_by_id(int(props.get("sheetId", 0)))
                fields = str(spec.get("fields") or "")
                if not fields:
                    raise bad_request(f"Invalid requests[{i}].updateSheetProperties: No 'fields'")
                grid_props = props.get("gridProperties") or {}
                if "title" in props and ("title" in fields or fields == "*"):
                    g.title = str(props["title"])
                if "rowCount" in grid_props:
                    g.rows = int(grid_props["rowCount"])
                if "columnCount" in grid_props:
                    g.cols = int(grid_props["columnCount"])
                if g.rows < 1 or g.cols < 1:
                    raise bad_request(f"Invalid requests[{i}]: grid size must be positive")
                for r, c in list(g.cells):
                    if r > g.rows or c > g.cols:
                        del g.cells[(r, c)]
                replies.append({})
            elif name == "appendDimension":
                g = trial.grid_by_id(int(spec.get("sheetId", 0)))
                length = int(spec.get("length", 0))
                if length < 1:
                    raise bad_request(f"Invalid requests[{i}].appendDimension: length must be > 0")
                if spec.get("dimension") == "COLUMNS":
                    g.cols += length
                else:
                    g.rows += length
                replies.append({})
            else:
                raise bad_request(f"Invalid requests[{i}]: the fake does not serve '{name}'")
        book.grids = trial.grids
        book._next_id = trial._next_id
        return {"spreadsheetId": book.spreadsheet_id, "replies": replies}


def _updated(bounds: Bounds, changes: list[Any]) -> dict[str, Any]:
    rows = bounds.r1 - bounds.r0 + 1
    cols = bounds.c1 - bounds.c0 + 1
    return {
        "updatedRange": bounds.a1(),
        "updatedRows": rows if changes else 0,
        "updatedColumns": cols if changes else 0,
        "updatedCells": len(changes),
    }


def _mask(value: Any, fields: str) -> Any:
    """Apply a Google field mask such as ``sheets.properties,properties.title`` or
    ``sheets(properties(sheetId,title))`` to a response."""
    return _apply_mask(value, _parse_mask(fields))


def _parse_mask(text: str) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    i = 0

    def parse(level: dict[str, Any]) -> None:
        nonlocal i
        name = ""
        path: list[str] = []
        while i < len(text):
            ch = text[i]
            i += 1
            if ch in ",)":
                if name or path:
                    _put(level, [*path, name] if name else path)
                name, path = "", []
                if ch == ")":
                    return
            elif ch == ".":
                path.append(name)
                name = ""
            elif ch == "(":
                node = level
                for part in [*path, name]:
                    node = node.setdefault(part, {})
                parse(node)
                name, path = "", []
            elif not ch.isspace():
                name += ch
        if name or path:
            _put(level, [*path, name] if name else path)

    parse(tree)
    return tree


def _put(level: dict[str, Any], path: list[str]) -> None:
    node = level
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node.setdefault(path[-1], {})


def _apply_mask(value: Any, tree: dict[str, Any]) -> Any:
    if not tree or "*" in tree:
        return value
    if isinstance(value, list):
        return [_apply_mask(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    return {k: _apply_mask(v, tree[k]) for k, v in value.items() if k in tree}


def request_counts(stats: Stats) -> Counter[tuple[str, int]]:
    """How many requests of each kind got each status (for assertions)."""
    return Counter((r.kind, r.status) for r in stats.log)
