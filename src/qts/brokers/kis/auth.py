"""Access token, WebSocket approval key and hashkey, issued sparingly and shared by threads.

KIS allows one token issue per minute per app key (EGW00133 otherwise), sends a KakaoTalk notice
for every issue on a real account, and returns the same token when asked again within ~6 hours.
So the manager issues a token only when it has none, when the token expired or was refused
(EGW00123), or when it is close to expiry — and never twice within ``token_min_interval_s``,
which it remembers across processes when ``token_cache_path`` is set.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from qts.brokers.kis.config import KisConfig
from qts.brokers.kis.endpoints import APPROVAL_PATH, HASHKEY_PATH, REVOKE_PATH, TOKEN_PATH
from qts.brokers.kis.errors import (
    AuthError,
    KisError,
    ProtocolError,
    ServerError,
    TokenIssueLimited,
    TransportError,
    error_for,
)
from qts.brokers.kis.redact import logger, redact, register_secrets
from qts.brokers.token_cache import TokenCache

log = logger("qts.brokers.kis.auth")

APPROVAL_LIFETIME_S = 23 * 3600.0  # KIS keeps an approval key for 24 h
_ISSUE_ATTEMPTS = 3


@dataclass(slots=True)
class Token:
    value: str = field(repr=False)
    expires_at: float  # epoch seconds
    issued_at: float

    def margin(self, configured: float) -> float:
        """Refresh this long before expiry: the configured margin, at most a tenth of the life."""
        return min(configured, 0.1 * max(0.0, self.expires_at - self.issued_at))


class TokenManager:
    """Thread-safe holder of the access token and the WebSocket approval key."""

    def __init__(
        self,
        config: KisConfig,
        http: httpx.Client,
        *,
        time_fn: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._http = http
        self._time = time_fn
        self._sleep = sleep
        self._lock = threading.RLock()
        self._token: Token | None = None
        self._last_issue: float | None = None
        self._approval: tuple[str, float] | None = None
        self._cache = TokenCache(
            config.token_cache_path, config.app_key.get_secret_value(), config.rest_url
        )
        self.issued = 0  # tokens obtained from tokenP by this manager (for tests and metrics)
        register_secrets(*config.secrets())
        self._load_cache()

    # ------------------------------------------------------------------ access token

    def token(self) -> str:
        """A token that was valid a moment ago (issuing or refreshing one if needed)."""
        with self._lock:
            now = self._time()
            tok = self._token
            if tok is not None and now < tok.expires_at:
                due = now >= tok.expires_at - tok.margin(self._config.token_refresh_margin_s)
                if not due or not self._may_issue(now):
                    return tok.value
            return self._issue().value

    def invalidate(self, value: str) -> None:
        """Forget ``value`` (KIS said EGW00123/EGW00121); the next ``token()`` issues anew."""
        with self._lock:
            if self._token is not None and self._token.value == value:
                log.info("access token refused by KIS; a new one will be issued")
                self._token = None
                self._save_cache()

    def revoke(self) -> None:
        """Revoke the current token at KIS (``/oauth2/revokeP``) and forget it."""
        with self._lock:
            tok = self._token
            if tok is None:
                return
            body = {
                "appkey": self._config.app_key.get_secret_value(),
                "appsecret": self._config.app_secret.get_secret_value(),
                "token": tok.value,
            }
            self._post(REVOKE_PATH, body)
            self._token = None
            self._save_cache()
            log.info("access token revoked")

    def _may_issue(self, now: float) -> bool:
        last = self._last_issue
        return last is None or now - last >= self._config.token_min_interval_s

    def _issue(self) -> Token:
        cfg = self._config
        body = {
            "grant_type": "client_credentials",
            "appkey": cfg.app_key.get_secret_value(),
            "appsecret": cfg.app_secret.get_secret_value(),
        }
        for attempt in range(_ISSUE_ATTEMPTS):
            self._wait_issue_slot()
            self._last_issue = self._time()
            try:
                data = self._post(TOKEN_PATH, body)
            except TokenIssueLimited:
                # another process (or a clock skew) issued one: wait a whole interval
                log.warning("token issue limited by KIS (EGW00133); waiting before retrying")
                if attempt == _ISSUE_ATTEMPTS - 1:
                    raise
                continue
            value = data.get("access_token")
            if not isinstance(value, str) or not value:
                raise ProtocolError("KIS tokenP: no access_token in the answer")
            register_secrets(value)
            try:
                lifetime = float(data.get("expires_in", 86400))
            except (TypeError, ValueError):
                raise ProtocolError("KIS tokenP: expires_in is not a number") from None
            now = self._time()
            self._token = Token(value, now + lifetime, now)
            self.issued += 1
            self._save_cache()
            log.info("access token issued (valid %.0f s)", lifetime)
            return self._token
        raise AuthError("KIS tokenP: no token after retries")  # pragma: no cover - loop returns

    def _wait_issue_slot(self) -> None:
        last = self._last_issue
        if last is None:
            return
        wait = last + self._config.token_min_interval_s - self._time()
        if wait > 0:
            log.info("waiting %.2f s: KIS allows one token issue per interval", wait)
            self._sleep(wait)

    # ------------------------------------------------------------------ approval key, hashkey

    def approval_key(self) -> str:
        """The WebSocket approval key (``/oauth2/Approval``), reused for a day."""
        with self._lock:
            now = self._time()
            if self._approval is not None and now < self._approval[1]:
                return self._approval[0]
            cfg = self._config
            data = self._post(
                APPROVAL_PATH,
                {
                    "grant_type": "client_credentials",
                    "appkey": cfg.app_key.get_secret_value(),
                    "secretkey": cfg.app_secret.get_secret_value(),
                },
            )
            key = data.get("approval_key")
            if not isinstance(key, str) or not key:
                raise ProtocolError("KIS Approval: no approval_key in the answer")
            register_secrets(key)
            self._approval = (key, now + APPROVAL_LIFETIME_S)
            log.info("websocket approval key issued")
            return key

    def invalidate_approval_key(self) -> None:
        with self._lock:
            self._approval = None

    def hashkey(self, body: bytes) -> str:
        """``HASH`` of the exact order body bytes (optional at KIS; see ``use_hashkey``)."""
        cfg = self._config
        headers = {
            "content-type": "application/json; charset=utf-8",
            "appkey": cfg.app_key.get_secret_value(),
            "appsecret": cfg.app_secret.get_secret_value(),
        }
        data = self._send(HASHKEY_PATH, headers, body)
        value = data.get("HASH")
        if not isinstance(value, str) or not value:
            raise ProtocolError("KIS hashkey: no HASH in the answer")
        return value

    # ------------------------------------------------------------------ HTTP

    def _post(self, path: str, body: dict[str, str]) -> dict[str, Any]:
        headers = {"content-type": "application/json; charset=utf-8", "accept": "text/plain"}
        return self._send(path, headers, json.dumps(body).encode("utf-8"))

    def _send(self, path: str, headers: dict[str, str], content: bytes) -> dict[str, Any]:
        url = self._config.rest_url + path
        try:
            res = self._http.post(url, headers=headers, content=content)
        except httpx.HTTPError as exc:
            raise TransportError(f"KIS {path}: {type(exc).__name__}: {redact(str(exc))}") from None
        try:
            data = res.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ServerError(
                f"KIS {path}: HTTP {res.status_code} without a JSON body",
                http_status=res.status_code,
            )
        msg_cd = str(data.get("msg_cd", data.get("error_code", "")) or "")
        failed = res.status_code != 200 or str(data.get("rt_cd", "0")) not in ("0", "")
        if failed:
            msg1 = str(data.get("msg1", data.get("error_description", "")) or "")
            err: KisError = error_for(path, msg_cd, redact(msg1), res.status_code)
            if not msg_cd and res.status_code < 500:
                err = AuthError(f"KIS {path}: HTTP {res.status_code}", http_status=res.status_code)
            raise err
        return data

    # ------------------------------------------------------------------ cache file

    def _load_cache(self) -> None:
        data = self._cache.load()
        last = data.get("last_issue")
        if isinstance(last, int | float):
            self._last_issue = float(last)
        value, expires, issued = data.get("token"), data.get("expires_at"), data.get("issued_at")
        if (
            isinstance(value, str)
            and value
            and isinstance(expires, int | float)
            and isinstance(issued, int | float)
        ):
            register_secrets(value)
            self._token = Token(value, float(expires), float(issued))

    def _save_cache(self) -> None:
        tok = self._token
        self._cache.save(
            {
                "last_issue": self._last_issue,
                "token": tok.value if tok else None,
                "expires_at": tok.expires_at if tok else None,
                "issued_at": tok.issued_at if tok else None,
            }
        )
