"""Market-data and execution-analytics port: what the feeds, the feedback loop and the
strategies need from storage besides the trading state (:mod:`qts.data.ports`).

Ticks arrive in bulk and are read back by symbol and time range; 1-minute bars are computed by
the store from the ticks (never written by callers), daily bars are written by the EOD loader;
execution logs and feedback rows are append-only analytics; strategy parameters and risk
configuration are small keyed tables the operator edits.

Conventions shared by every adapter (one contract suite, ``test_market_contract.py``, runs
against each):

- Prices and volumes are integer won and shares (``int``; a float is refused, never rounded).
- Timestamps must be timezone-aware; they come back in the store's zone (KST by default).
  Ranges are half-open: ``start <= time < end``.
- Ticks are ordered by (time, price, volume, source). A 1-minute bar's open is the first tick
  of the minute in that order and its close the last: among ticks at the same instant, open
  takes the lowest price and close the highest. high/low are max/min, volume the sum.
- ``run_maintenance(now)`` expires old rows (ticks 7 days, execution logs 90, feedback 180,
  1-minute bars 30) and brings materialized aggregates up to date; readers never see a bar
  that differs from what the ticks still held say, refreshed or not.
- Errors surface as :class:`qts.core.errors.StorageError`; a write that fails writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Tick:
    """One trade print (or quote update) of one symbol."""

    time: datetime
    symbol: str
    price: int
    volume: int
    bid: int | None = None
    ask: int | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class Bar:
    """OHLCV over [time, time + interval): 1 minute (computed) or 1 day (stored)."""

    time: datetime
    symbol: str
    open: int
    high: int
    low: int
    close: int
    volume: int


@dataclass(frozen=True, slots=True)
class ExecutionLog:
    """One stage of one order's execution (PreCheck, Split, Send, Monitor, ...)."""

    time: datetime
    order_id: str
    symbol: str
    stage: str
    success: bool
    latency_ms: float | None = None
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    """Execution quality of one order, as the feedback aggregator measured it.

    ``fill_ratio`` is filled / ordered (0..1) and ``quality_score`` 0..1 (spec §8.4)."""

    time: datetime
    symbol: str
    order_id: str
    slippage_bps: float
    fill_latency_ms: float
    fill_ratio: float
    quality_score: float
    market_impact_bps: float
    strategy_tag: str = ""


@dataclass(frozen=True, slots=True)
class StrategyParam:
    """One parameter of one strategy; the key is (strategy_id, param_name)."""

    strategy_id: str
    param_name: str
    value: str
    updated_at: datetime
    value_type: str = "string"
    description: str = ""


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """One risk limit or ratio; exact decimal, at most 18 digits with 8 after the point."""

    config_key: str
    value: Decimal
    updated_at: datetime
    description: str = ""


@runtime_checkable
class MarketDataStore(Protocol):
    """Market data, execution analytics and reference tables of one QTS installation."""

    # ticks and bars
    def ingest_ticks(self, ticks: Iterable[Tick]) -> int:
        """Append ticks in bulk (all or none); returns how many were stored."""
        ...

    def latest_ticks(self, symbols: Sequence[str]) -> dict[str, Tick]:
        """The last tick of each symbol that has one."""
        ...

    def ticks(self, symbol: str, start: datetime, end: datetime) -> list[Tick]:
        """A symbol's ticks in [start, end), in tick order."""
        ...

    def ohlcv_1m(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        """1-minute bars of ``symbol`` whose minute starts in [start, end), computed from the
        ticks, in time order; a minute without ticks has no bar."""
        ...

    def save_ohlcv_1d(self, bars: Iterable[Bar]) -> None:
        """Insert or replace daily bars, keyed by (symbol, time)."""
        ...

    def ohlcv_1d(self, symbol: str, start: datetime, end: datetime) -> list[Bar]: ...

    # execution analytics
    def record_execution_logs(self, rows: Iterable[ExecutionLog]) -> None: ...

    def execution_logs(
        self, start: datetime, end: datetime, order_id: str | None = None
    ) -> list[ExecutionLog]:
        """Log lines in [start, end) (of one order if given), by time, then order id, stage."""
        ...

    def record_feedback(self, rows: Iterable[FeedbackRow]) -> None: ...

    def feedback(
        self, start: datetime, end: datetime, symbol: str | None = None
    ) -> list[FeedbackRow]:
        """Feedback rows in [start, end) (of one symbol if given), by time, then order id."""
        ...

    # reference tables
    def save_strategy_params(self, params: Iterable[StrategyParam]) -> None:
        """Insert or replace parameters, keyed by (strategy_id, param_name)."""
        ...

    def strategy_params(self, strategy_id: str | None = None) -> list[StrategyParam]:
        """Parameters by strategy id, then name (of one strategy if given)."""
        ...

    def delete_strategy_params(self, strategy_id: str, param_name: str | None = None) -> int:
        """Delete one parameter, or all of a strategy's; returns how many were deleted."""
        ...

    def save_risk_configs(self, configs: Iterable[RiskConfig]) -> None:
        """Insert or replace risk configs, keyed by config_key."""
        ...

    def risk_configs(self) -> dict[str, RiskConfig]:
        """Every risk config, by key (in key order)."""
        ...

    def delete_risk_config(self, config_key: str) -> bool: ...

    # lifecycle
    def run_maintenance(self, now: datetime) -> dict[str, Any]:
        """Expire what is older than its retention and refresh aggregates, as of ``now``."""
        ...

    def close(self) -> None: ...
