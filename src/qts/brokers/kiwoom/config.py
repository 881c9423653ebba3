"""Kiwoom REST connection settings: credentials, account, hosts, pacing, recovery.

The app key, secret key and account number are ``SecretStr``: neither ``repr`` nor a pydantic
validation error prints them. ``from_env`` reads the legacy variables (legacy-core §4.8).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from qts.core.errors import ConfigError


class KiwoomMode(StrEnum):
    """Which Kiwoom server: real (실전) or mock trading (모의투자, KRX only)."""

    REAL = "real"
    MOCK = "mock"


REST_URLS = {
    KiwoomMode.REAL: "https://api.kiwoom.com",
    KiwoomMode.MOCK: "https://mockapi.kiwoom.com",
}
WS_URLS = {
    KiwoomMode.REAL: "wss://api.kiwoom.com:10000/api/dostk/websocket",
    KiwoomMode.MOCK: "wss://mockapi.kiwoom.com:10000/api/dostk/websocket",
}


class RateLimit(BaseModel):
    """A token bucket: ``rate`` requests per second on average, at most ``burst`` at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: float = Field(gt=0)
    burst: int = Field(ge=1)


class RateLimits(BaseModel):
    """Client-side pacing. Kiwoom publishes no numbers; ``kiwoom-client`` measured about one
    request per second per api-id with a burst of two, other clients pace ~5/s overall
    (brokers-and-sheets-wire §2.5). Both buckets apply to every request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_api: RateLimit = RateLimit(rate=1.0, burst=2)
    overall: RateLimit | None = RateLimit(rate=5.0, burst=5)
    overrides: dict[str, RateLimit] = Field(default_factory=dict)

    def for_api(self, api_id: str) -> RateLimit:
        return self.overrides.get(api_id, self.per_api)


class KiwoomConfig(BaseModel):
    """Everything the adapter needs to reach one Kiwoom account.

    ``base_url`` defaults to Kiwoom's host for the mode; tests point it at the local fake.
    ``state_path`` is the SQLite file that maps client order ids to Kiwoom order numbers
    (write-ahead, see the package README); without it the map lives in memory and a restart
    can only name orders after their Kiwoom numbers. ``token_cache_path`` is the owner-only
    file that keeps the access token for a restart (qts.brokers.token_cache); without it every
    process issues its own.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    mode: KiwoomMode = KiwoomMode.MOCK
    app_key: SecretStr
    secret_key: SecretStr
    account_no: SecretStr | None = Field(
        default=None, description="checked against ka00001 on start when given"
    )
    base_url: str | None = None
    websocket_url: str | None = None
    exchange: str = Field("KRX", pattern="^(KRX|NXT|SOR)$")

    timeout_s: float = Field(5.0, gt=0)
    retries: int = Field(4, ge=0, description="extra attempts of an idempotent query")
    order_rate_retries: int = Field(
        3,
        ge=0,
        description="extra attempts of an order Kiwoom refused for its rate limit (it did "
        "nothing): a restarted process's pacer does not know the requests of the one before",
    )
    backoff_s: float = Field(0.2, ge=0)
    backoff_max_s: float = Field(3.0, ge=0)
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    max_pages: int = Field(100, ge=1)

    token_refresh_margin_s: float = Field(600.0, ge=0)
    token_cache_path: Path | None = None

    poll_interval_s: float | None = Field(
        1.0, gt=0, description="background fill polling; None: only on sync()/poll_once()"
    )
    lookup_attempts: int = Field(3, ge=1)
    lookup_delay_s: float = Field(0.3, ge=0)
    unconfirmed_grace_s: float = Field(60.0, ge=0)
    fee_settle_polls: int = Field(3, ge=0)
    state_path: Path | None = None

    @field_validator("app_key", "secret_key")
    @classmethod
    def _not_blank(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().strip():
            raise ValueError("must not be blank")
        return v

    @property
    def rest_url(self) -> str:
        return (self.base_url or REST_URLS[self.mode]).rstrip("/")

    @property
    def ws_url(self) -> str:
        return (self.websocket_url or WS_URLS[self.mode]).rstrip("/")

    @property
    def mock(self) -> bool:
        return self.mode is KiwoomMode.MOCK

    def secrets(self) -> list[str]:
        """Values that must never reach a log line or an exception message."""
        out = [self.app_key.get_secret_value(), self.secret_key.get_secret_value()]
        if self.account_no is not None:
            acct = self.account_no.get_secret_value()
            out += [acct, acct.replace("-", "")]
        return [s for s in out if s]

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> KiwoomConfig:
        """Read ``KIWOOM_MODE`` (KIWOOM_VTS | KIWOOM_REAL, or mock | real) and the mode's
        variables ``KIWOOM_{VTS|REAL}_APP_KEY``, ``_APP_SECRET`` (or ``_SECRET_KEY``),
        ``_ACCOUNT_NO`` (optional), ``_BASE_URL``, ``_WEBSOCKET_URL``.

        Errors name the variable, never its value.
        """
        env = os.environ if environ is None else environ
        raw_mode = env.get("KIWOOM_MODE", "KIWOOM_VTS").strip().upper()
        modes = {
            "KIWOOM_VTS": KiwoomMode.MOCK,
            "VTS": KiwoomMode.MOCK,
            "MOCK": KiwoomMode.MOCK,
            "PAPER": KiwoomMode.MOCK,
            "KIWOOM_REAL": KiwoomMode.REAL,
            "REAL": KiwoomMode.REAL,
        }
        if raw_mode not in modes:
            raise ConfigError("environment", "KIWOOM_MODE", "expected KIWOOM_VTS or KIWOOM_REAL")
        mode = modes[raw_mode]
        prefix = "KIWOOM_VTS_" if mode is KiwoomMode.MOCK else "KIWOOM_REAL_"

        def get(name: str) -> str:
            return env.get(prefix + name, "").strip()

        app_key = get("APP_KEY")
        if not app_key:
            raise ConfigError("environment", prefix + "APP_KEY", "is not set")
        secret = get("APP_SECRET") or get("SECRET_KEY")
        if not secret:
            raise ConfigError("environment", prefix + "APP_SECRET", "is not set")
        values: dict[str, object] = {
            "mode": mode,
            "app_key": SecretStr(app_key),
            "secret_key": SecretStr(secret),
        }
        if get("ACCOUNT_NO"):
            values["account_no"] = SecretStr(get("ACCOUNT_NO"))
        if get("BASE_URL"):
            values["base_url"] = get("BASE_URL")
        if get("WEBSOCKET_URL"):
            values["websocket_url"] = get("WEBSOCKET_URL")
        values.update(overrides)
        return cls.model_validate(values)
