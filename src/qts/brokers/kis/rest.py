"""The KIS REST client: headers, TR ids, pacing, retries, paging, typed errors.

Retry policy (the heart of "no order twice"):

* ``EGW00201`` (rate limit) and ``EGW00123``/``EGW00121`` (token) are refusals at the gateway —
  the request was not processed — so every call, orders included, is retried (after a backoff,
  or after a new token).
* A timeout, a dropped connection, a 5xx or a gateway fault leaves the outcome unknown. A GET
  (an inquiry) is retried with backoff. An order POST is **never** retried here: the caller gets
  :class:`AmbiguousOrder` and must look the order up by inquiry before deciding to resend.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from qts.brokers.kis.auth import TokenManager
from qts.brokers.kis.config import KisConfig
from qts.brokers.kis.endpoints import Api
from qts.brokers.kis.errors import (
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    KisError,
    ProtocolError,
    RateLimited,
    ReadInterrupted,
    ServerError,
    TokenExpired,
    TransportError,
    error_for,
)
from qts.brokers.kis.redact import logger, redact, register_secrets

log = logger("qts.brokers.kis.rest")

MORE_PAGES = frozenset({"M", "F"})
MAX_PAGES = 200


class RateLimiter:
    """At most ``rate`` calls in any window of ``1 s + margin``, measured when a call is sent.

    A token bucket of ``rate`` tokens where each token comes back exactly one window after it
    was spent — so unlike a refilling bucket it can never let ``rate + 1`` calls into one second
    at the server. ``acquire`` blocks the calling thread; threads are served in arrival order.
    """

    def __init__(
        self,
        rate: float,
        margin_s: float = 0.05,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.capacity = max(1, int(rate))
        self.window = self.capacity / rate + margin_s
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()  # a plain lock is FIFO enough for a handful of threads
        self.waited_s = 0.0

    def acquire(self, cancel: threading.Event | None = None) -> float:
        """Wait for a slot; returns the seconds waited. A wait that ``cancel`` ends raises
        :class:`ReadInterrupted` without taking the slot."""
        with self._lock:
            now = self._clock()
            waited = 0.0
            if len(self._sent) >= self.capacity:
                free_at = self._sent[0] + self.window
                if free_at > now:
                    waited = free_at - now
                    if cancel is None:
                        self._sleep(waited)
                    elif cancel.wait(waited):
                        raise ReadInterrupted("KIS: read not sent, the run is stopping")
                    now = self._clock()
                self._sent.popleft()
            self._sent.append(now)
            self.waited_s += waited
            return waited


@dataclass(slots=True)
class KisResponse:
    status: int
    tr_cont: str
    body: dict[str, Any] = field(repr=False)

    @property
    def rt_cd(self) -> str:
        return str(self.body.get("rt_cd", ""))

    @property
    def msg_cd(self) -> str:
        return str(self.body.get("msg_cd", ""))

    @property
    def msg1(self) -> str:
        return str(self.body.get("msg1", "")).strip()

    @property
    def ok(self) -> bool:
        return self.rt_cd == "0"

    def output(self, where: str) -> dict[str, Any]:
        """The answer's ``output`` object (an order's numbers); a protocol error without one."""
        out = self.body.get("output")
        if not isinstance(out, dict):
            raise ProtocolError(f"KIS {where}: no output object in the answer")
        return out


class AmbiguousOrder(KisError):
    """An order POST whose outcome is unknown (timeout, 5xx): look it up before resending."""


@dataclass(slots=True)
class RestStats:
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    token_refreshes: int = 0


class KisRestClient:
    """Thread-safe. One per app key: the limiter and the token are per app key at KIS."""

    def __init__(
        self,
        config: KisConfig,
        *,
        http: httpx.Client | None = None,
        auth: TokenManager | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=httpx.Timeout(config.timeout_s))
        self.auth = auth or TokenManager(config, self.http)
        self.limiter = limiter or RateLimiter(config.rate, config.rate_window_margin_s)
        self._sleep = sleep
        self.stats = RestStats()
        self._stats_lock = threading.Lock()
        # set when the run stops: reads are given up (ReadInterrupted), orders still go out
        self.interrupt: threading.Event | None = None
        register_secrets(*config.secrets())

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    # ------------------------------------------------------------------ public calls

    def get(self, api: Api, params: Mapping[str, str], *, tr_cont: str = "") -> KisResponse:
        """One GET, retried on rate limits, token refusals, 5xx and transport failures.

        Raises a typed :class:`KisError` when KIS answers ``rt_cd != "0"``.
        """
        res = self._call(api, params=params, tr_cont=tr_cont, idempotent=True)
        if not res.ok:
            raise error_for(api.name, res.msg_cd, redact(res.msg1), res.status)
        return res

    def get_pages(
        self, api: Api, params: Mapping[str, str], list_keys: tuple[str, ...] = ("output1",)
    ) -> tuple[list[dict[str, Any]], KisResponse]:
        """Every page of a paged inquiry: the rows of ``list_keys`` concatenated, and the last
        response (its single-object outputs, e.g. ``output2``, describe the whole query)."""
        query = dict(params)
        query.setdefault("CTX_AREA_FK100", "")
        query.setdefault("CTX_AREA_NK100", "")
        rows: list[dict[str, Any]] = []
        tr_cont = ""
        for _ in range(MAX_PAGES):
            res = self.get(api, query, tr_cont=tr_cont)
            for key in list_keys:
                part = res.body.get(key)
                if isinstance(part, list):
                    rows.extend(r for r in part if isinstance(r, dict))
            if res.tr_cont not in MORE_PAGES:
                return rows, res
            query["CTX_AREA_FK100"] = str(res.body.get("ctx_area_fk100", "")).strip()
            query["CTX_AREA_NK100"] = str(res.body.get("ctx_area_nk100", "")).strip()
            tr_cont = "N"
        raise ServerError(f"KIS {api.name}: more than {MAX_PAGES} pages")

    def post_order(self, api: Api, body: Mapping[str, str]) -> KisResponse:
        """An order POST. Gateway refusals are retried; an unknown outcome raises
        :class:`AmbiguousOrder`. A ``rt_cd != "0"`` answer is returned, not raised: it is a
        definite rejection the caller turns into an ``Ack``."""
        return self._call(api, body=body, idempotent=False)

    # ------------------------------------------------------------------ the loop

    def _call(
        self,
        api: Api,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, str] | None = None,
        tr_cont: str = "",
        idempotent: bool,
    ) -> KisResponse:
        cfg = self.config
        tr_id = api.tr_id(cfg.paper, cfg.legacy_tr_ids)
        content = json.dumps(dict(body), ensure_ascii=False).encode() if body is not None else None
        transient_left = cfg.max_retries
        rate_left = cfg.rate_limit_retries
        auth_left = 2
        backoff = cfg.backoff_s
        rate_backoff = cfg.backoff_s
        timeout = cfg.timeout_s if idempotent else (cfg.order_timeout_s or cfg.timeout_s)
        cancel = self.interrupt if idempotent else None
        while True:
            if cancel is not None and cancel.is_set():
                raise ReadInterrupted(f"KIS {api.name}: read not sent, the run is stopping")
            token = self.auth.token()
            headers = {
                "content-type": "application/json; charset=utf-8",
                "authorization": f"Bearer {token}",
                "appkey": cfg.app_key.get_secret_value(),
                "appsecret": cfg.app_secret.get_secret_value(),
                "tr_id": tr_id,
                "tr_cont": tr_cont,
                "custtype": cfg.custtype,
            }
            if content is not None and cfg.use_hashkey:
                headers["hashkey"] = self.auth.hashkey(content)
            self.limiter.acquire(cancel)
            self._count("requests")
            started = time.monotonic()
            try:
                res = self.http.request(
                    api.method,
                    cfg.rest_url + api.path,
                    headers=headers,
                    params=dict(params) if params is not None else None,
                    content=content,
                    timeout=timeout,
                )
            except httpx.HTTPError as exc:
                what = f"{type(exc).__name__}: {redact(str(exc))}"
                if not idempotent:
                    log.warning("%s %s: no answer (%s); outcome unknown", api.name, tr_id, what)
                    raise AmbiguousOrder(f"KIS {api.name}: no answer ({what})") from None
                if transient_left <= 0:
                    raise TransportError(f"KIS {api.name}: {what}") from None
                transient_left -= 1
                log.info("%s %s: %s; retrying in %.2f s", api.name, tr_id, what, backoff)
                self._retry_sleep(backoff)
                backoff = min(backoff * 2, cfg.backoff_max_s)
                continue
            elapsed_ms = (time.monotonic() - started) * 1000
            parsed = _parse(res)
            msg_cd = parsed.msg_cd if parsed is not None else ""
            log.debug(
                "%s %s -> HTTP %d %s (%.1f ms)",
                api.name,
                tr_id,
                res.status_code,
                msg_cd,
                elapsed_ms,
            )
            if msg_cd == "EGW00201":
                self._count("rate_limited")
                if rate_left <= 0:
                    raise error_for(
                        api.name, msg_cd, parsed.msg1 if parsed else "", res.status_code
                    )
                rate_left -= 1
                log.info("%s: rate limited (EGW00201); retrying in %.2f s", api.name, rate_backoff)
                self._retry_sleep(rate_backoff)
                rate_backoff = min(rate_backoff * 2, cfg.backoff_max_s)
                continue
            if msg_cd in (TOKEN_EXPIRED, TOKEN_INVALID):
                if auth_left <= 0:
                    raise error_for(
                        api.name, msg_cd, parsed.msg1 if parsed else "", res.status_code
                    )
                auth_left -= 1
                self._count("token_refreshes")
                self.auth.invalidate(token)
                continue
            if parsed is None and res.status_code < 500:
                raise ProtocolError(
                    f"KIS {api.name}: HTTP {res.status_code} without a JSON body",
                    http_status=res.status_code,
                )
            gateway_fault = msg_cd in ("EGW00001", "EGW00002", "EGW00203")
            if parsed is None or res.status_code >= 500 or gateway_fault:
                detail = f"HTTP {res.status_code} {msg_cd}".rstrip()
                if not idempotent:
                    log.warning("%s %s: %s; outcome unknown", api.name, tr_id, detail)
                    raise AmbiguousOrder(
                        f"KIS {api.name}: {detail}", msg_cd=msg_cd, http_status=res.status_code
                    )
                if transient_left <= 0:
                    raise ServerError(
                        f"KIS {api.name}: {detail}", msg_cd=msg_cd, http_status=res.status_code
                    )
                transient_left -= 1
                log.info("%s %s: %s; retrying in %.2f s", api.name, tr_id, detail, backoff)
                self._retry_sleep(backoff)
                backoff = min(backoff * 2, cfg.backoff_max_s)
                continue
            return parsed

    def _retry_sleep(self, seconds: float) -> None:
        self._count("retries")
        self._sleep(seconds)

    def _count(self, name: str) -> None:
        with self._stats_lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)


def _parse(res: httpx.Response) -> KisResponse | None:
    """The envelope of an answer, or None when the body is not a JSON object."""
    try:
        data = res.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return KisResponse(res.status_code, res.headers.get("tr_cont", ""), data)


__all__ = [
    "AmbiguousOrder",
    "KisResponse",
    "KisRestClient",
    "RateLimited",
    "RateLimiter",
    "TokenExpired",
]
