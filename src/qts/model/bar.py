"""OHLCV bars in integer KRW."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Bar:
    symbol: str
    ts: datetime
    open: int
    high: int
    low: int
    close: int
    volume: int
