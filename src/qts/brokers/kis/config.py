"""KIS connection settings: credentials, account, hosts, pacing.

Credentials and the account number are ``SecretStr`` so that neither ``repr`` nor a pydantic
validation error ever prints them. ``from_env`` reads the legacy variables (legacy-core §4.8).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from qts.core.errors import ConfigError


class KisMode(StrEnum):
    """Which KIS environment: the real (실전) or the paper/VTS (모의) server."""

    REAL = "real"
    PAPER = "paper"


REST_URLS = {
    KisMode.REAL: "https://openapi.koreainvestment.com:9443",
    KisMode.PAPER: "https://openapivts.koreainvestment.com:29443",
}
WS_URLS = {
    KisMode.REAL: "ws://ops.koreainvestment.com:21000",
    KisMode.PAPER: "ws://ops.koreainvestment.com:31000",
}
# Just under KIS's limits (20/s real, 2/s paper), as python-kis does; the limiter also keeps a
# small margin on its one-second window so network jitter cannot push a burst over.
DEFAULT_RATE = {KisMode.REAL: 19.0, KisMode.PAPER: 2.0}

_CANO = re.compile(r"[0-9]{8}")
_PRDT = re.compile(r"[0-9]{2}")


class KisConfig(BaseModel):
    """Everything the adapter needs to reach one KIS account.

    ``base_url``/``ws_url`` default to KIS's hosts for the mode; tests point them at the local
    fake. ``state_path`` is the SQLite file that maps client order ids to KIS order numbers
    (see docs/brokers.md); without it the map lives in memory and a restart rebuilds what it
    can from inquiry.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    mode: KisMode = KisMode.PAPER
    app_key: SecretStr
    app_secret: SecretStr
    cano: SecretStr = Field(description="8-digit account number (CANO)")
    acnt_prdt_cd: str = "01"
    hts_id: SecretStr | None = Field(
        default=None, description="HTS user id: the tr_key of the fill-notice subscription"
    )
    base_url: str | None = None
    ws_url: str | None = None
    custtype: str = "P"
    rate_limit_per_s: float | None = None
    rate_window_margin_s: float = 0.05

    timeout_s: float = 5.0
    order_timeout_s: float | None = None  # POSTs of orders; None: timeout_s
    max_retries: int = 3
    backoff_s: float = 0.1
    backoff_max_s: float = 2.0
    rate_limit_retries: int = 8

    token_min_interval_s: float = 60.0
    token_refresh_margin_s: float = 600.0
    token_cache_path: Path | None = None

    state_path: Path | None = None
    use_hashkey: bool = False
    legacy_tr_ids: bool = False

    ws_enabled: bool = True
    ws_reconnect_min_s: float = 0.1
    ws_reconnect_max_s: float = 10.0
    ws_idle_timeout_s: float = 120.0

    lookup_attempts: int = 3
    lookup_delay_s: float = 0.3
    inquiry_cache_s: float = 0.5
    expiry_grace_s: float = 60.0

    @field_validator("cano")
    @classmethod
    def _check_cano(cls, v: SecretStr) -> SecretStr:
        if not _CANO.fullmatch(v.get_secret_value()):
            raise ValueError("CANO must be 8 digits")
        return v

    @field_validator("acnt_prdt_cd")
    @classmethod
    def _check_prdt(cls, v: str) -> str:
        if not _PRDT.fullmatch(v):
            raise ValueError("ACNT_PRDT_CD must be 2 digits")
        return v

    @field_validator("custtype")
    @classmethod
    def _check_custtype(cls, v: str) -> str:
        if v not in ("P", "B"):
            raise ValueError("custtype must be P (individual) or B (corporate)")
        return v

    @property
    def rest_url(self) -> str:
        return (self.base_url or REST_URLS[self.mode]).rstrip("/")

    @property
    def websocket_url(self) -> str:
        return (self.ws_url or WS_URLS[self.mode]).rstrip("/")

    @property
    def rate(self) -> float:
        return self.rate_limit_per_s if self.rate_limit_per_s else DEFAULT_RATE[self.mode]

    @property
    def paper(self) -> bool:
        return self.mode is KisMode.PAPER

    @property
    def account_masked(self) -> str:
        """The account as it may appear in logs: the last two digits of CANO only."""
        return f"******{self.cano.get_secret_value()[-2:]}-{self.acnt_prdt_cd}"

    def secrets(self) -> list[str]:
        """Values that must never reach a log line or an exception message."""
        out = [self.app_key.get_secret_value(), self.app_secret.get_secret_value()]
        cano = self.cano.get_secret_value()
        out += [cano, f"{cano}{self.acnt_prdt_cd}", f"{cano}-{self.acnt_prdt_cd}"]
        if self.hts_id is not None:
            out.append(self.hts_id.get_secret_value())
        return [s for s in out if s]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> KisConfig:
        """Read ``KIS_MODE`` (KIS_VTS | KIS_REAL, or paper | real) and the mode's variables
        ``KIS_{VTS|REAL}_APP_KEY``, ``_APP_SECRET``, ``_ACCOUNT_NO``, ``_ACNT_PRDT_CD``
        (default 01), ``_BASE_URL``, and the QTS additions ``_WS_URL``, ``_HTS_ID``.

        ``_ACCOUNT_NO`` may be the 8-digit CANO, or CANO and product code as ``50000000-01``
        or ``5000000001``. Errors name the variable, never its value.
        """
        env = os.environ if environ is None else environ
        raw_mode = env.get("KIS_MODE", "KIS_VTS").strip().upper()
        modes = {"KIS_VTS": KisMode.PAPER, "VTS": KisMode.PAPER, "PAPER": KisMode.PAPER}
        modes |= {"KIS_REAL": KisMode.REAL, "REAL": KisMode.REAL}
        if raw_mode not in modes:
            raise ConfigError("environment", "KIS_MODE", "expected KIS_VTS or KIS_REAL")
        mode = modes[raw_mode]
        prefix = "KIS_VTS_" if mode is KisMode.PAPER else "KIS_REAL_"

        def need(name: str) -> str:
            value = env.get(prefix + name, "").strip()
            if not value:
                raise ConfigError("environment", prefix + name, "is not set")
            return value

        account = need("ACCOUNT_NO").replace("-", "")
        prdt = env.get(prefix + "ACNT_PRDT_CD", "").strip()
        if len(account) == 10:
            account, prdt = account[:8], prdt or account[8:]
        if not _CANO.fullmatch(account):
            raise ConfigError(
                "environment", prefix + "ACCOUNT_NO", "must be 8 digits (or 8-2 with product)"
            )
        prdt = prdt or "01"
        if not _PRDT.fullmatch(prdt):
            raise ConfigError("environment", prefix + "ACNT_PRDT_CD", "must be 2 digits")
        values: dict[str, object] = {
            "mode": mode,
            "app_key": SecretStr(need("APP_KEY")),
            "app_secret": SecretStr(need("APP_SECRET")),
            "cano": SecretStr(account),
            "acnt_prdt_cd": prdt,
        }
        for var, key in (("BASE_URL", "base_url"), ("WS_URL", "ws_url")):
            if env.get(prefix + var, "").strip():
                values[key] = env[prefix + var].strip()
        if env.get(prefix + "HTS_ID", "").strip():
            values["hts_id"] = SecretStr(env[prefix + "HTS_ID"].strip())
        values.update(overrides)
        return cls.model_validate(values)
