"""The Google Sheets client: gspread 6.2.1 with a service account, batching, retry and pacing.

- Every call is one request of gspread's lower-level API on its ``HTTPClient``: reads through
  ``values:batchGet`` (many ranges, one request), writes through ``values:batchUpdate`` (many
  ranges, one request, all or nothing), structure through ``spreadsheets:batchUpdate``.
  Google counts a batch as one request against the 60-per-minute-per-user quotas.
- Retries: 408, 429 and 5xx answers and connection failures are retried with exponential
  backoff and jitter (base × 2^n, capped, times a random factor in [0.5, 1]); a ``Retry-After``
  header is honoured as a minimum wait. Only idempotent calls are retried after an ambiguous
  failure (a 5xx or a lost connection may come after the write was applied): range writes,
  clears, reads and resizes are; ``append`` and ``add_sheets`` are retried on 429 only, which
  Google answers before doing anything.
- Pacing: a token bucket per kind (read, write) keeps the client under the per-minute quota
  instead of running into it; after a 429 the bucket is emptied so the next calls wait.
- Secrets: the service-account key and bearer tokens are never logged or put into messages;
  errors carry the HTTP status and Google's message only.

``api_base`` replaces ``https://sheets.googleapis.com`` (gspread's hard-coded host) through a
subclass of gspread's ``HTTPClient`` — the injection point gspread documents — so tests point
the unchanged gspread at a local fake; only loopback addresses are accepted as replacements.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from google.auth.credentials import Credentials
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import service_account
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient, ParamsType

from qts.core.errors import StorageError

T = TypeVar("T")
log = logging.getLogger("qts.data.sheets")

GOOGLE_SHEETS_BASE = "https://sheets.googleapis.com"
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
ENV_SHEET_KEY = "GOOGLE_SHEET_KEY"
ENV_CREDENTIALS_FILE = "GOOGLE_CREDENTIALS_FILE"
ENV_API_BASE = "QTS_SHEETS_API_BASE"  # loopback only: a local fake
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


class SheetsError(StorageError):
    """A Sheets call failed. ``status``: the HTTP status (None when no answer came)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SheetsAuthError(SheetsError):
    """The credentials were refused or could not be loaded (401, bad key file)."""


class SheetsPermissionError(SheetsError):
    """The service account may not use this spreadsheet (403): share it with the account."""


class SheetsNotFoundError(SheetsError):
    """No spreadsheet with that key (404)."""


class SheetsRateLimitError(SheetsError):
    """Still throttled (429) after every retry."""


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` includes the first try. Delays in seconds."""

    attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 64.0
    max_retry_after_s: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: Callable[[], float]) -> float:
        """Wait before try ``attempt + 1``: exponential with jitter, at least Retry-After."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        wait = ceiling * (0.5 + rng() / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after_s))
        return wait


class Pacer:
    """A token bucket: ``per_minute`` requests a minute, bursts of up to ``burst``.

    ``acquire`` waits (with the injected ``sleep``) until a token is free; ``drain`` empties
    the bucket after the server said 429, so the following calls slow down instead of failing.
    """

    def __init__(
        self,
        per_minute: float | None,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = None if per_minute is None else per_minute / 60.0
        self.capacity = float(burst if burst is not None else (per_minute or 0))
        self.tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self.waited_s = 0.0

    def _refill(self) -> None:
        now = self._clock()
        if self.rate is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def acquire(self) -> None:
        if self.rate is None:
            return
        self._refill()
        if self.tokens < 1:
            wait = (1 - self.tokens) / self.rate
            self.waited_s += wait
            self._sleep(wait)
            self._refill()
        self.tokens = max(self.tokens - 1, 0.0) if self.tokens >= 1 else 0.0

    def drain(self) -> None:
        if self.rate is not None:
            self._refill()
            self.tokens = 0.0


@dataclass(frozen=True, slots=True)
class SheetInfo:
    sheet_id: int
    title: str
    index: int
    rows: int
    cols: int


@dataclass(frozen=True, slots=True)
class SpreadsheetMeta:
    title: str
    sheets: tuple[SheetInfo, ...]

    def by_title(self) -> dict[str, SheetInfo]:
        return {s.title: s for s in self.sheets}


@dataclass
class ClientStats:
    reads: int = 0
    writes: int = 0
    retries: int = 0
    throttled: int = 0  # 429 answers seen
    slept_s: float = 0.0
    statuses: list[int] = field(default_factory=list)  # every non-2xx status seen, in order


class _RoutedHTTPClient(HTTPClient):
    """gspread's HTTP client with Google's host replaced by ``api_base`` (a local fake)."""

    api_base = GOOGLE_SHEETS_BASE

    def request(
        self,
        method: str,
        endpoint: str,
        params: MutableMapping[str, Any] | None = None,
        data: bytes | None = None,
        json: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: MutableMapping[str, str] | None = None,
    ) -> Any:
        if self.api_base != GOOGLE_SHEETS_BASE and endpoint.startswith(GOOGLE_SHEETS_BASE):
            endpoint = self.api_base + endpoint[len(GOOGLE_SHEETS_BASE) :]
        return super().request(method, endpoint, params, data, json, files, headers)


def routed_http_client(api_base: str) -> type[HTTPClient]:
    """gspread's ``HTTPClient`` class bound to ``api_base``, for ``gspread.Client(creds,
    http_client=...)``: the rest of gspread runs unchanged against a local fake."""
    base = _check_base(api_base)
    return type("RoutedHTTPClient", (_RoutedHTTPClient,), {"api_base": base})


def _check_base(api_base: str) -> str:
    base = api_base.rstrip("/")
    if base == GOOGLE_SHEETS_BASE:
        return base
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or parts.hostname not in _LOOPBACK:
        raise ValueError(
            f"api_base {api_base!r}: only {GOOGLE_SHEETS_BASE} or a loopback address (a local "
            "fake) may receive the credentials"
        )
    return base


class SheetsClient:
    """One spreadsheet, one authorised session. Use from one thread at a time."""

    def __init__(
        self,
        spreadsheet_key: str,
        credentials: Credentials,
        *,
        api_base: str = GOOGLE_SHEETS_BASE,
        retry: RetryPolicy | None = None,
        reads_per_minute: float | None = 60,
        writes_per_minute: float | None = 60,
        timeout: float | tuple[float, float] = (10.0, 60.0),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not spreadsheet_key:
            raise ValueError(f"no spreadsheet key (set {ENV_SHEET_KEY})")
        self.key = spreadsheet_key
        self.retry = retry or RetryPolicy()
        self.stats = ClientStats()
        self._sleep = sleep
        self._rng = rng
        self._session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
        self._http = _RoutedHTTPClient(credentials, self._session)
        self._http.api_base = _check_base(api_base)
        self._http.set_timeout(timeout)
        self._pacers = {
            "read": Pacer(reads_per_minute, clock=clock, sleep=sleep),
            "write": Pacer(writes_per_minute, clock=clock, sleep=sleep),
        }
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_service_account_file(
        cls, path: str | Path, spreadsheet_key: str, **kwargs: Any
    ) -> SheetsClient:
        """A client authenticated as the service account in the key file at ``path``."""
        try:
            creds = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                str(path), scopes=list(SCOPES)
            )
        except (OSError, ValueError, KeyError, GoogleAuthError) as exc:
            # The message names the file and the kind of failure, never its content.
            reason = exc.strerror if isinstance(exc, OSError) else type(exc).__name__
            raise SheetsAuthError(
                f"cannot load the service-account key file {path}: {reason}"
            ) from None
        return cls(spreadsheet_key, creds, **kwargs)

    @classmethod
    def from_token(cls, token: str, spreadsheet_key: str, **kwargs: Any) -> SheetsClient:
        """A client with a ready OAuth access token (no refresh), e.g. from a fake."""
        creds = oauth2_credentials.Credentials(token)  # type: ignore[no-untyped-call]
        return cls(spreadsheet_key, creds, **kwargs)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> SheetsClient:
        """``GOOGLE_SHEET_KEY`` and ``GOOGLE_CREDENTIALS_FILE`` (a service-account key file)."""
        env = os.environ if env is None else env
        key = env.get(ENV_SHEET_KEY, "").strip()
        path = env.get(ENV_CREDENTIALS_FILE, "").strip()
        missing = [n for n, v in ((ENV_SHEET_KEY, key), (ENV_CREDENTIALS_FILE, path)) if not v]
        if missing:
            raise SheetsAuthError(f"Google Sheets is not configured: set {', '.join(missing)}")
        if env.get(ENV_API_BASE):
            kwargs.setdefault("api_base", env[ENV_API_BASE])
        return cls.from_service_account_file(path, key, **kwargs)

    def close(self) -> None:
        self._session.close()  # type: ignore[no-untyped-call]

    def __enter__(self) -> SheetsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the calls

    def metadata(self) -> SpreadsheetMeta:
        """Title and sheets (``spreadsheets.get`` with a field mask; one read)."""
        params: ParamsType = {
            "fields": "properties.title,sheets.properties",
            "includeGridData": "false",
        }
        data = self._call(
            "read", "metadata", lambda: self._http.fetch_sheet_metadata(self.key, params), True
        )
        sheets = []
        for s in data.get("sheets", []):
            p = s.get("properties", {})
            g = p.get("gridProperties", {})
            sheets.append(
                SheetInfo(
                    int(p.get("sheetId", 0)),
                    str(p.get("title", "")),
                    int(p.get("index", 0)),
                    int(g.get("rowCount", 0)),
                    int(g.get("columnCount", 0)),
                )
            )
        title = str(data.get("properties", {}).get("title", ""))
        return SpreadsheetMeta(title, tuple(sorted(sheets, key=lambda s: s.index)))

    def batch_get(
        self, ranges: Sequence[str], render: str = "FORMATTED_VALUE"
    ) -> list[list[list[Any]]]:
        """The values of every range, in one read. Rows come trimmed as Google sends them."""
        if not ranges:
            return []
        params: dict[str, Any] = {"valueRenderOption": render, "majorDimension": "ROWS"}

        def call() -> Any:
            return self._http.values_batch_get(self.key, list(ranges), dict(params))

        data = self._call("read", f"batch_get ({len(ranges)} ranges)", call, True)
        return [list(vr.get("values", [])) for vr in data.get("valueRanges", [])]

    def batch_update(
        self, data: Sequence[tuple[str, Sequence[Sequence[Any]]]], *, user_entered: bool = False
    ) -> dict[str, Any]:
        """Write every (range, rows) pair in one request; Google applies all or none.
        Idempotent (each range gets fixed values), so it is retried after ambiguous failures."""
        if not data:
            return {}
        body = {
            "valueInputOption": "USER_ENTERED" if user_entered else "RAW",
            "data": [{"range": r, "values": [list(row) for row in rows]} for r, rows in data],
        }
        result: dict[str, Any] = self._call(
            "write",
            f"batch_update ({len(data)} ranges)",
            lambda: self._http.values_batch_update(self.key, body),
            True,
        )
        return result

    def append(
        self, range_: str, rows: Sequence[Sequence[Any]], *, user_entered: bool = False
    ) -> dict[str, Any]:
        """Append rows after the table in ``range_``. Not idempotent: retried on 429 only."""
        params: dict[str, Any] = {
            "valueInputOption": "USER_ENTERED" if user_entered else "RAW",
            "insertDataOption": "INSERT_ROWS",
        }
        body = {"values": [list(r) for r in rows]}
        result: dict[str, Any] = self._call(
            "write",
            f"append {range_}",
            lambda: self._http.values_append(self.key, range_, dict(params), body),
            False,
        )
        return result

    def clear(self, ranges: Sequence[str]) -> None:
        if ranges:
            body = {"ranges": list(ranges)}
            self._call(
                "write", "clear", lambda: self._http.values_batch_clear(self.key, body=body), True
            )

    def update_structure(
        self, requests_: Sequence[Mapping[str, Any]], *, idempotent: bool
    ) -> dict[str, Any]:
        """``spreadsheets:batchUpdate`` (add sheets, resize, ...); all or nothing."""
        body = {"requests": list(requests_)}
        result: dict[str, Any] = self._call(
            "write",
            f"update_structure ({len(requests_)} requests)",
            lambda: self._http.batch_update(self.key, body),
            idempotent,
        )
        return result

    def add_sheets(self, specs: Sequence[tuple[str, int, int]]) -> list[SheetInfo]:
        """Add sheets (title, rows, cols) in one request."""
        reqs = [
            {
                "addSheet": {
                    "properties": {
                        "title": title,
                        "sheetType": "GRID",
                        "gridProperties": {"rowCount": rows, "columnCount": cols},
                    }
                }
            }
            for title, rows, cols in specs
        ]
        data = self.update_structure(reqs, idempotent=False)
        out = []
        for reply in data.get("replies", []):
            p = reply["addSheet"]["properties"]
            g = p["gridProperties"]
            out.append(
                SheetInfo(p["sheetId"], p["title"], p["index"], g["rowCount"], g["columnCount"])
            )
        return out

    def resize(self, sizes: Sequence[tuple[int, int, int]]) -> None:
        """Set (sheet_id, rows, cols) grid sizes in one request (idempotent)."""
        reqs = [
            {
                "updateSheetProperties": {
                    "properties": {
                        "sheetId": sheet_id,
                        "gridProperties": {"rowCount": rows, "columnCount": cols},
                    },
                    "fields": "gridProperties.rowCount,gridProperties.columnCount",
                }
            }
            for sheet_id, rows, cols in sizes
        ]
        if reqs:
            self.update_structure(reqs, idempotent=True)

    # ------------------------------------------------------------------ retry and pacing

    @contextmanager
    def _serial(self) -> Iterator[None]:
        with self._lock:
            yield

    def _call(self, kind: str, what: str, fn: Callable[[], T], idempotent: bool) -> T:
        attempts = max(self.retry.attempts, 1)
        with self._serial():
            for attempt in range(1, attempts + 1):
                self._pacers[kind].acquire()
                status: int | None = None
                retry_after: float | None = None
                try:
                    result = fn()
                except APIError as exc:
                    status = int(exc.code)
                    self.stats.statuses.append(status)
                    retryable = status in _RETRYABLE and (idempotent or status == 429)
                    if status == 429:
                        self.stats.throttled += 1
                        self._pacers[kind].drain()
                    if not retryable or attempt == attempts:
                        raise self._error(what, exc, attempt) from None
                    retry_after = _retry_after(exc.response)
                except (requests.ConnectionError, requests.Timeout) as exc:
                    if not idempotent or attempt == attempts:
                        raise SheetsError(
                            f"sheets {what}: no answer after {attempt} tries ({type(exc).__name__})"
                        ) from None
                except GoogleAuthError as exc:
                    raise SheetsAuthError(
                        f"sheets {what}: the service-account token was refused "
                        f"({_auth_reason(exc)})"
                    ) from None
                else:
                    self.stats.reads += kind == "read"
                    self.stats.writes += kind == "write"
                    return result
                delay = self.retry.delay(attempt, retry_after, self._rng)
                self.stats.retries += 1
                self.stats.slept_s += delay
                log.warning(
                    "sheets %s: %s, retry %d/%d in %.2f s",
                    what,
                    f"HTTP {status}" if status else "no answer",
                    attempt,
                    attempts - 1,
                    delay,
                )
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _error(what: str, exc: APIError, attempts: int) -> SheetsError:
        status = int(exc.code)
        message = str(exc.error.get("message", "")) if isinstance(exc.error, dict) else ""
        text = f"sheets {what}: HTTP {status}: {message}"
        if attempts > 1:
            text += f" (after {attempts} tries)"
        if status == 401:
            return SheetsAuthError(text, status)
        if status == 403:
            return SheetsPermissionError(
                text + " — share the spreadsheet with the service account's e-mail", status
            )
        if status == 404:
            return SheetsNotFoundError(text + f" — check {ENV_SHEET_KEY}", status)
        if status == 429:
            return SheetsRateLimitError(text, status)
        return SheetsError(text, status)


def _retry_after(response: Any) -> float | None:
    value = getattr(response, "headers", {}).get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def _auth_reason(exc: GoogleAuthError) -> str:
    """The short reason google-auth gives ("invalid_grant: Invalid JWT Signature."), without
    the response payload it may carry alongside."""
    first = exc.args[0] if exc.args else type(exc).__name__
    return str(first)[:200]
