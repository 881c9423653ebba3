"""One execution's measures, and the means the next decisions read (per symbol and strategy)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from qts.engines.feedback.formulas import (
    DEFAULT_IMPACT_BPS,
    DEFAULT_QUALITY,
    DEFAULT_SLIPPAGE_BPS,
    fill_ratio,
    market_impact_bps,
    quality_score,
    slippage_bps,
)
from qts.model.enums import OrderSide


@dataclass(frozen=True, slots=True)
class ExecutionMeasure:
    """What one finished execution measured (one ``feedback_data`` row)."""

    time: datetime
    symbol: str
    order_id: str
    strategy: str
    slippage_bps: float
    fill_latency_ms: float
    fill_ratio: float
    quality_score: float
    market_impact_bps: float


@dataclass(frozen=True, slots=True)
class FeedbackSummary:
    """Means over a look-back window; ``samples`` 0 means the §12.8 defaults."""

    avg_slippage_bps: float = DEFAULT_SLIPPAGE_BPS
    avg_market_impact_bps: float = DEFAULT_IMPACT_BPS
    avg_quality_score: float = DEFAULT_QUALITY
    avg_fill_ratio: float = 1.0
    avg_fill_latency_ms: float = 0.0
    samples: int = 0


DEFAULTS = FeedbackSummary()


def measure(
    *,
    time: datetime,
    symbol: str,
    order_id: str,
    strategy: str,
    side: OrderSide,
    decision_price: int,
    ordered_qty: int,
    fills: Sequence[tuple[int, int, datetime]],
    started_at: datetime,
    spread_bps: float,
    avg_daily_volume: int,
) -> ExecutionMeasure:
    """Measures of one execution from its fills ``(qty, price, ts)``.

    Latency is the qty-weighted mean time from the execution's start to each fill; an execution
    without fills scores 0 slippage, latency saturated (it never filled) and fill ratio 0."""
    filled = sum(q for q, _, _ in fills)
    if filled > 0:
        avg = sum(q * p for q, p, _ in fills) / filled
        slip = slippage_bps(avg, decision_price, side)
        latency = sum(q * (ts - started_at).total_seconds() * 1000.0 for q, _, ts in fills)
        latency = max(latency / filled, 0.0)
    else:
        slip, latency = 0.0, 1_000.0
    ratio = fill_ratio(filled, ordered_qty)
    return ExecutionMeasure(
        time=time,
        symbol=symbol,
        order_id=order_id,
        strategy=strategy,
        slippage_bps=slip,
        fill_latency_ms=latency,
        fill_ratio=ratio,
        quality_score=quality_score(slip, 1.0 - ratio, latency),
        market_impact_bps=market_impact_bps(ordered_qty, avg_daily_volume, spread_bps),
    )


def summarise(rows: Iterable[ExecutionMeasure]) -> FeedbackSummary:
    """Plain means of the rows; no rows ⇒ the defaults (10 bps, 15 bps, 0.75)."""
    items = list(rows)
    n = len(items)
    if n == 0:
        return DEFAULTS
    return FeedbackSummary(
        avg_slippage_bps=sum(r.slippage_bps for r in items) / n,
        avg_market_impact_bps=sum(r.market_impact_bps for r in items) / n,
        avg_quality_score=sum(r.quality_score for r in items) / n,
        avg_fill_ratio=sum(r.fill_ratio for r in items) / n,
        avg_fill_latency_ms=sum(r.fill_latency_ms for r in items) / n,
        samples=n,
    )
