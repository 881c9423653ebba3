"""Execution-quality feedback (spec §8): pure formulas and the per-(symbol, strategy) summary.

The adapter that stores rows and runs the 60 s batch lives in :mod:`qts.execution.feedback`;
everything here is arithmetic on values, with no I/O and no clock.
"""

from qts.engines.feedback.formulas import (
    DEFAULT_IMPACT_BPS,
    DEFAULT_QUALITY,
    DEFAULT_SLIPPAGE_BPS,
    MAX_IMPACT_BPS,
    expected_entry_price,
    fill_ratio,
    market_impact_bps,
    quality_score,
    size_cap,
    slippage_bps,
)
from qts.engines.feedback.summary import ExecutionMeasure, FeedbackSummary, measure, summarise

__all__ = [
    "DEFAULT_IMPACT_BPS",
    "DEFAULT_QUALITY",
    "DEFAULT_SLIPPAGE_BPS",
    "MAX_IMPACT_BPS",
    "ExecutionMeasure",
    "FeedbackSummary",
    "expected_entry_price",
    "fill_ratio",
    "market_impact_bps",
    "measure",
    "quality_score",
    "size_cap",
    "slippage_bps",
    "summarise",
]
