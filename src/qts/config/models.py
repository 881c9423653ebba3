"""The configuration schema. Unknown keys are errors, so a typo is named, never ignored."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from qts.config.ops import AlertsSection, BackupSection, DashboardSection
from qts.engines.capital.config import CapitalConfig
from qts.engines.risk import RiskLimits
from qts.feeds.synthetic_codes import KRX_CODE
from qts.model.enums import OrderType


class Mode(StrEnum):
    BACKTEST = "backtest"
    PAPER = "paper"
    LIVE = "live"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunSection(_Section):
    initial_cash: PositiveInt = 100_000_000
    seed: int = Field(7, ge=0)
    start: date = date(2026, 1, 5)


class ExecutionSection(_Section):
    trading_enabled: bool = True
    live_enabled: bool = False
    kill_switch: bool = False
    order_type: OrderType = OrderType.MARKET
    limit_offset_ticks: int = Field(0, ge=0, le=20)
    max_trades_per_day: PositiveInt | None = 50


class DataSection(_Section):
    backend: str = Field("sqlite", pattern="^(sqlite|postgres|sheets|hybrid)$")
    dsn: str | None = Field(None, description="PostgreSQL DSN; default QTS_PG_DSN")
    pg_schema: str = Field("qts", pattern="^[a-z_][a-z0-9_]*$")
    hybrid_mode: str = Field("DUAL_WRITE", pattern="^(SHEETS_ONLY|DUAL_WRITE|DB_PRIMARY|DB_ONLY)$")
    outbox: str | None = Field(None, description="the hybrid outbox file; default <db>.outbox")


class CacheSection(_Section):
    backend: str = Field("memory", pattern="^(memory|redis)$")
    url: str | None = Field(None, description="Redis URL; default redis://127.0.0.1:6379/0")
    prefix: str | None = Field(None, description="key prefix; default qts:<run id>:")


class RiskLoopSection(_Section):
    enabled: bool = Field(True, description="the micro risk loop protects open positions")
    vol_index: str = Field(
        "VKOSPI",
        min_length=1,
        max_length=16,
        description="live runs: the broker's code of the volatility index (VKOSPI) the kill "
        "switch reads (KIS index chart FID_INPUT_ISCD, Kiwoom 0J item)",
    )
    vol_index_poll_s: float = Field(
        2.0, gt=0, description="KIS: how often the index is read (no index push in the spec)"
    )


class SafetySection(_Section):
    webhook_url: str | None = Field(None, description="POST every safety event here as JSON")
    max_data_age_s: float = Field(300.0, gt=0, description="older market data raises FS010")


class SimSection(_Section):
    participation: float = Field(0.1, gt=0, le=1)
    latency_ms: int = Field(50, ge=0, le=60_000)


class OptimizeSection(_Section):
    ray_address: str | None = Field(
        None, description="qts optimize runs trials on this Ray cluster"
    )
    workers: PositiveInt | None = Field(None, description="parallel trials; default all cores")


class UniverseSection(_Section):
    symbols: list[str] = Field(
        default_factory=list,
        description="KRX short codes to trade (empty: the synthetic market's symbols)",
    )

    @field_validator("symbols")
    @classmethod
    def _krx_codes(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for code in v:
            code = str(code).strip().upper()
            if not KRX_CODE.match(code):
                raise ValueError(f"{code!r} is not a 6-character KRX code (e.g. 005930)")
            if code not in out:
                out.append(code)
        return out


class LiveSection(_Section):
    adopt_holdings: str = Field(
        "adopt",
        pattern="^(adopt|refuse)$",
        description="holdings found at the broker on a fresh start: adopt them (tagged "
        "'adopted', protected by the micro risk loop) or refuse to start",
    )
    books_check_s: float = Field(
        30.0, gt=0, description="how often the books are compared with the broker (FS070)"
    )


class StrategySection(_Section):
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)


class QtsConfig(_Section):
    mode: Mode = Mode.PAPER
    run: RunSection = Field(default_factory=RunSection)
    execution: ExecutionSection = Field(default_factory=ExecutionSection)
    risk: RiskLimits = Field(default_factory=RiskLimits)
    safety: SafetySection = Field(default_factory=SafetySection)
    risk_loop: RiskLoopSection = Field(default_factory=RiskLoopSection)
    data: DataSection = Field(default_factory=DataSection)
    cache: CacheSection = Field(default_factory=CacheSection)
    fees: str = Field("krx", pattern="^(krx|none)$")
    sim: SimSection = Field(default_factory=SimSection)
    optimize: OptimizeSection = Field(default_factory=OptimizeSection)
    strategies: dict[str, StrategySection] = Field(default_factory=dict)
    universe: UniverseSection = Field(default_factory=UniverseSection)
    dashboard: DashboardSection = Field(default_factory=DashboardSection)
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    backup: BackupSection = Field(default_factory=BackupSection)
    live: LiveSection = Field(default_factory=LiveSection)
    capital: CapitalConfig = Field(default_factory=CapitalConfig)
