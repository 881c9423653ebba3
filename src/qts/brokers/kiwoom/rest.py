"""The Kiwoom REST client: one ``POST`` per call, the operation named by the ``api-id`` header.

Per call it paces (:mod:`ratelimit`), attaches the token (:mod:`auth`), and reads the answer:

* ``return_code`` 0 → the body; paging keys come from the *response headers* ``cont-yn`` /
  ``next-key`` and go back as request headers (:meth:`KiwoomRestClient.call_all`).
* token invalid (detail 8005 and friends, HTTP 401) → the token is re-issued **once** and the
  request resent — safe even for orders, since Kiwoom refused it before acting.
* rate limit (HTTP 429, return code 5 / detail 1700) → retried with exponential backoff, orders
  too (``order_rate_retries``, fewer): Kiwoom refused the request before acting, as with a token.
* 5xx, timeouts, dropped connections → retried **only when the call is idempotent** (queries).
  An order call raises instead; the broker then looks the order up, it never resends it blindly.
* any other ``return_code`` → :class:`KiwoomApiError` (not retried).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.auth import CONTENT_TYPE, TokenManager
from qts.brokers.kiwoom.config import KiwoomConfig
from qts.brokers.kiwoom.errors import (
    Failure,
    KiwoomApiError,
    KiwoomAuthError,
    KiwoomError,
    KiwoomRateLimited,
    KiwoomReadInterrupted,
    KiwoomTransportError,
    Redactor,
    classify,
    detail_code,
)
from qts.brokers.kiwoom.ratelimit import RateLimiter
from qts.core.clock import Clock
from qts.core.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reply:
    api_id: str
    body: dict[str, Any]
    cont_yn: bool
    next_key: str


class KiwoomRestClient:
    """Thread-safe: the HTTP pool, the limiter and the token cache are all shared safely."""

    def __init__(
        self,
        config: KiwoomConfig,
        *,
        http: httpx.Client | None = None,
        token_clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.redact = Redactor(config.secrets())
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=httpx.Timeout(config.timeout_s))
        self.limiter = RateLimiter(config.rate_limits, sleep=sleep)
        self.auth = TokenManager(config, self.http, self.limiter, self.redact, clock=token_clock)
        self._sleep = sleep
        self.retried = 0
        # set when the run stops: reads are given up (KiwoomReadInterrupted), orders still go out
        self.interrupt: threading.Event | None = None

    def __repr__(self) -> str:
        return f"KiwoomRestClient({self.config.mode.value}, {self.config.rest_url})"

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    # ------------------------------------------------------------------ calls

    def call(
        self,
        path: str,
        api_id: str,
        body: Mapping[str, str],
        *,
        idempotent: bool,
        cont_key: str | None = None,
    ) -> Reply:
        """One request (one page). Raises a :class:`KiwoomError` subclass on failure."""
        attempt = 0
        token_retried = False
        cancel = self.interrupt if idempotent else None
        while True:
            if cancel is not None and cancel.is_set():
                raise KiwoomReadInterrupted(
                    f"kiwoom {api_id}: read not sent, the run is stopping", api_id=api_id
                )
            try:
                return self._once(path, api_id, body, cont_key, cancel)
            except KiwoomAuthError as exc:
                if exc.detail_code is not None and exc.detail_code not in _TOKEN_RETRY:
                    raise
                if token_retried:
                    raise
                token_retried = True
                log.warning("kiwoom %s: token refused; issuing a new one", api_id)
                continue
            except (KiwoomRateLimited, KiwoomTransportError) as exc:
                if idempotent:
                    limit = self.config.retries
                elif isinstance(exc, KiwoomRateLimited):
                    limit = self.config.order_rate_retries
                else:
                    raise
                if attempt >= limit:
                    raise
                attempt += 1
                self.retried += 1
                delay = min(self.config.backoff_max_s, self.config.backoff_s * 2 ** (attempt - 1))
                log.info("kiwoom %s: %s; retry %d in %.2fs", api_id, exc, attempt, delay)
                self._sleep(delay)

    def call_all(
        self, path: str, api_id: str, body: Mapping[str, str], list_key: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Every page of a list query: (the first page's body, all rows of ``list_key``)."""
        first: dict[str, Any] | None = None
        rows: list[dict[str, Any]] = []
        cont: str | None = None
        for _ in range(self.config.max_pages):
            reply = self.call(path, api_id, body, idempotent=True, cont_key=cont)
            if first is None:
                first = reply.body
            page = reply.body.get(list_key) or []
            if not isinstance(page, list):
                raise KiwoomError(f"kiwoom {api_id}: {list_key} is not a list", api_id=api_id)
            rows.extend(r for r in page if isinstance(r, dict))
            if not reply.cont_yn or not reply.next_key:
                return first, rows
            cont = reply.next_key
        raise KiwoomError(
            f"kiwoom {api_id}: more than {self.config.max_pages} pages", api_id=api_id
        )

    # ------------------------------------------------------------------ internals

    def _once(
        self,
        path: str,
        api_id: str,
        body: Mapping[str, str],
        cont_key: str | None,
        cancel: threading.Event | None = None,
    ) -> Reply:
        self.limiter.acquire(api_id, cancel)
        try:
            authorization, token = self.auth.header()
        except KiwoomTransportError as exc:  # no token, so the request itself never left
            raise KiwoomTransportError(
                f"kiwoom {api_id}: no token ({exc})",
                sent=False,
                timeout=exc.timeout,
                api_id=api_id,
                http_status=exc.http_status,
            ) from None
        headers = {
            "Content-Type": CONTENT_TYPE,
            "api-id": api_id,
            "authorization": authorization,
            "cont-yn": "Y" if cont_key else "N",
            "next-key": cont_key or "",
        }
        url = self.config.rest_url + path
        try:
            resp = self.http.post(url, json=dict(body), headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise KiwoomTransportError(
                f"kiwoom {api_id}: cannot connect ({type(exc).__name__})",
                sent=False,
                timeout=isinstance(exc, httpx.TimeoutException),
                api_id=api_id,
            ) from None
        except httpx.TimeoutException as exc:
            raise KiwoomTransportError(
                f"kiwoom {api_id}: no answer within {self.config.timeout_s}s "
                f"({type(exc).__name__})",
                sent=True,
                timeout=True,
                api_id=api_id,
            ) from None
        except httpx.TransportError as exc:
            raise KiwoomTransportError(
                f"kiwoom {api_id}: connection failed ({type(exc).__name__})",
                sent=True,
                api_id=api_id,
            ) from None
        return self._read(resp, api_id, token)

    def _read(self, resp: httpx.Response, api_id: str, token: str) -> Reply:
        status = resp.status_code
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if status == 429:
                raise KiwoomRateLimited(
                    f"kiwoom {api_id}: HTTP 429", api_id=api_id, http_status=status
                )
            if status == 401:
                self.auth.invalidate(token)
                raise KiwoomAuthError(
                    f"kiwoom {api_id}: HTTP 401", api_id=api_id, http_status=status
                )
            raise KiwoomTransportError(
                f"kiwoom {api_id}: HTTP {status} without a JSON body",
                sent=True,
                api_id=api_id,
                http_status=status,
            )
        try:
            rc = m.parse_int(data.get("return_code"), "return_code", blank=0)
        except InputError:
            rc = -1
        msg = self.redact(str(data.get("return_msg", "")))
        failure = classify(status, rc, msg)
        if failure is Failure.OK:
            cont = resp.headers.get("cont-yn", "N").strip().upper() == "Y"
            return Reply(api_id, data, cont, resp.headers.get("next-key", "").strip())
        text = f"kiwoom {api_id}: return_code {rc}: {msg}" if msg else f"kiwoom {api_id}: {rc}"
        kw: dict[str, Any] = {
            "api_id": api_id,
            "return_code": rc,
            "detail_code": detail_code(msg),
            "return_msg": msg,
            "http_status": status,
        }
        if failure is Failure.AUTH_TOKEN:
            self.auth.invalidate(token)
            raise KiwoomAuthError(text, **kw)
        if failure is Failure.AUTH:
            raise KiwoomAuthError(text, **{**kw, "detail_code": kw["detail_code"] or rc})
        if failure is Failure.RATE_LIMIT:
            raise KiwoomRateLimited(text, **kw)
        if status >= 500:
            raise KiwoomTransportError(
                f"kiwoom {api_id}: HTTP {status}", sent=True, api_id=api_id, http_status=status
            )
        raise KiwoomApiError(text, **kw)


# detail codes after which a fresh token may help (None: HTTP 401 or bare return code 3)
_TOKEN_RETRY = frozenset({8003, 8005, 8006, 8009})
