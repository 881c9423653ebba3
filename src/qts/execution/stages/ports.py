"""What the scalp pipeline needs from around it, as small interfaces (adapters live in qts.app)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from qts.brokers.base import Ack
from qts.engines.feedback import ExecutionMeasure, FeedbackSummary
from qts.model.order import Order


@dataclass(frozen=True, slots=True)
class Quote:
    bid: int
    bid_qty: int
    ask: int
    ask_qty: int

    @property
    def spread_bps(self) -> float:
        mid = (self.bid + self.ask) / 2
        return (self.ask - self.bid) / mid * 10_000.0 if mid > 0 else 0.0


class ExecutionVenue(Protocol):
    """Order placement with persist-before-act (the order manager)."""

    orders: dict[str, Order]

    def place(self, order: Order, ts: datetime) -> Ack: ...

    def cancel_order(self, client_order_id: str, ts: datetime, reason: str) -> Ack: ...


class MarketView(Protocol):
    def quote(self, symbol: str) -> Quote | None: ...

    def avg_daily_volume(self, symbol: str) -> int: ...


class FeedbackPort(Protocol):
    def summary(self, symbol: str, strategy: str) -> FeedbackSummary: ...

    def record(self, measure: ExecutionMeasure) -> None: ...


class EscapeActions(Protocol):
    """EmergencyEscape's effects outside the pipeline."""

    def flatten(self, symbol: str, reason: str) -> None:
        """Send a P0 EMERGENCY_ORDER for the symbol's whole position (market, opposite side)."""
        ...

    def report(self, code: str, message: str) -> None:
        """A safety code (FS09x / GR06x)."""
        ...

    def suspend_eteda(self, reason: str) -> None: ...


class NoMarket:
    def quote(self, symbol: str) -> Quote | None:
        return None

    def avg_daily_volume(self, symbol: str) -> int:
        return 0
