"""The access token: issued at ``/oauth2/token`` (au10001), cached until shortly before
``expires_dt``, re-issued when Kiwoom calls it invalid (detail 8005).

au10001 tokens live about a day and Kiwoom rate-limits their issuance, so with
``token_cache_path`` set the token is also kept in an owner-only file
(:mod:`qts.brokers.token_cache`, as the KIS adapter does) and a restarted process reuses it
until it is due for refresh. Every token is handed to the :class:`Redactor` the moment it is
received or read back, and nothing here formats it into a message.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

import httpx

from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.config import KiwoomConfig
from qts.brokers.kiwoom.errors import (
    Failure,
    KiwoomAuthError,
    KiwoomError,
    KiwoomProtocolError,
    KiwoomRateLimited,
    KiwoomTransportError,
    Redactor,
    classify,
    detail_code,
)
from qts.brokers.kiwoom.ratelimit import RateLimiter
from qts.brokers.token_cache import TokenCache
from qts.core.clock import Clock, WallClock
from qts.core.errors import InputError

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json;charset=UTF-8"


class TokenManager:
    """Thread-safe token cache for one app key.

    ``clock`` is the wall-clock seam (tokens expire in real time, whatever clock the trading
    side runs on). The token is refreshed ``min(token_refresh_margin_s, lifetime / 4)`` before
    its ``expires_dt``.
    """

    def __init__(
        self,
        config: KiwoomConfig,
        http: httpx.Client,
        limiter: RateLimiter,
        redact: Redactor,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._config = config
        self._http = http
        self._limiter = limiter
        self._redact = redact
        self._clock = clock or WallClock()
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_type = "Bearer"  # noqa: S105 - the scheme name
        self._expires_at: datetime | None = None
        self._refresh_at: datetime | None = None
        self.issued = 0  # tokens obtained from au10001 by this manager (a cached one is not)
        self._cache = TokenCache(
            config.token_cache_path, config.app_key.get_secret_value(), config.rest_url
        )
        self._load_cache()

    def __repr__(self) -> str:
        state = "no token" if self._token is None else f"token until {self._expires_at}"
        return f"TokenManager({self._config.mode.value}, {state}, issued={self.issued})"

    @property
    def expires_at(self) -> datetime | None:
        return self._expires_at

    def header(self) -> tuple[str, str]:
        """(the value of ``authorization``, the token it carries) — issuing one if needed."""
        with self._lock:
            token = self._token
            if token is None or self._refresh_at is None or self._clock.now() >= self._refresh_at:
                token = self._issue()
            return f"{self._token_type} {token}", token

    def invalidate(self, token: str) -> None:
        """Kiwoom refused ``token``: forget it (unless another thread already replaced it)."""
        with self._lock:
            if self._token == token:
                self._token = None
                self._refresh_at = None
                self._save_cache()

    def revoke(self) -> None:
        """Give the current token back (au10002). Failures are logged, not raised."""
        with self._lock:
            token, self._token, self._refresh_at = self._token, None, None
            if token is not None:
                self._save_cache()
        if token is None:
            return
        body = {
            "appkey": self._config.app_key.get_secret_value(),
            "secretkey": self._config.secret_key.get_secret_value(),
            "token": token,
        }
        try:
            self._post(m.REVOKE_PATH, m.REVOKE, body)
        except KiwoomError as exc:
            log.warning("kiwoom: revoking the token failed: %s", exc)

    # ------------------------------------------------------------------ internals

    def _issue(self) -> str:
        body = {
            "grant_type": "client_credentials",
            "appkey": self._config.app_key.get_secret_value(),
            "secretkey": self._config.secret_key.get_secret_value(),
        }
        reply = self._post(m.TOKEN_PATH, m.TOKEN, body)
        token = reply.get("token")
        if not isinstance(token, str) or not token:
            raise KiwoomProtocolError("kiwoom au10001: the reply has no token", api_id=m.TOKEN)
        self._redact.add_token(token)
        try:
            expires = m.parse_expires_dt(reply.get("expires_dt"))
        except InputError as exc:
            raise KiwoomProtocolError(f"kiwoom au10001: {exc}", api_id=m.TOKEN) from exc
        now = self._clock.now()
        lifetime = max(expires - now, timedelta(0))
        margin = min(timedelta(seconds=self._config.token_refresh_margin_s), lifetime / 4)
        self._token = token
        token_type = str(reply.get("token_type") or "bearer").strip()
        self._token_type = "Bearer" if token_type.lower() == "bearer" else token_type
        self._expires_at = expires
        self._refresh_at = expires - margin
        self.issued += 1
        self._save_cache()
        log.info("kiwoom: access token issued, valid until %s", expires.isoformat())
        return token

    # ------------------------------------------------------------------ cache file

    def _load_cache(self) -> None:
        """A token an earlier process saved, kept while it is not yet due for refresh."""
        data = self._cache.load()
        token, kind = data.get("token"), data.get("token_type")
        try:
            expires = datetime.fromisoformat(str(data.get("expires_at")))
            refresh = datetime.fromisoformat(str(data.get("refresh_at")))
        except ValueError:
            return
        if not isinstance(token, str) or not token or not isinstance(kind, str):
            return
        if expires.tzinfo is None or refresh.tzinfo is None or self._clock.now() >= refresh:
            return
        self._redact.add_token(token)
        self._token, self._token_type = token, kind
        self._expires_at, self._refresh_at = expires, refresh
        log.info("kiwoom: access token reused from the cache, valid until %s", expires.isoformat())

    def _save_cache(self) -> None:
        token, expires, refresh = self._token, self._expires_at, self._refresh_at
        kept = token is not None and expires is not None and refresh is not None
        self._cache.save(
            {
                "token": token if kept else None,
                "token_type": self._token_type,
                "expires_at": expires.isoformat() if kept and expires else None,
                "refresh_at": refresh.isoformat() if kept and refresh else None,
            }
        )

    def _post(self, path: str, api_id: str, body: dict[str, str]) -> dict[str, Any]:
        """A token call: not retried here (the caller's next request tries again)."""
        self._limiter.acquire(api_id)
        url = self._config.rest_url + path
        headers = {"Content-Type": CONTENT_TYPE, "api-id": api_id}
        try:
            resp = self._http.post(url, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise KiwoomTransportError(
                f"kiwoom {api_id}: timed out", sent=True, timeout=True, api_id=api_id
            ) from exc
        except httpx.TransportError as exc:
            raise KiwoomTransportError(
                f"kiwoom {api_id}: {type(exc).__name__}", sent=True, api_id=api_id
            ) from exc
        try:
            reply = resp.json()
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise KiwoomTransportError(
                f"kiwoom {api_id}: HTTP {resp.status_code} without a JSON body",
                sent=True,
                api_id=api_id,
                http_status=resp.status_code,
            )
        try:
            rc = m.parse_int(reply.get("return_code"), "return_code", blank=0)
        except InputError:
            rc = -1
        msg = self._redact(str(reply.get("return_msg", "")))
        failure = classify(resp.status_code, rc, msg)
        if failure is Failure.OK:
            return reply
        text = f"kiwoom {api_id}: return_code {rc}: {msg}"
        kw: dict[str, Any] = {
            "api_id": api_id,
            "return_code": rc,
            "detail_code": detail_code(msg),
            "return_msg": msg,
            "http_status": resp.status_code,
        }
        if failure is Failure.RATE_LIMIT:
            raise KiwoomRateLimited(text, **kw)
        if resp.status_code >= 500:
            raise KiwoomTransportError(
                f"kiwoom {api_id}: HTTP {resp.status_code}",
                sent=True,
                api_id=api_id,
                http_status=resp.status_code,
            )
        raise KiwoomAuthError(text, **kw)
