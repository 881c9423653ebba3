"""Market data feeds: bar series, CSV loading and the seeded synthetic KRX market.

The synthetic market's names are imported when first used: a backtest on files never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qts.feeds.bars import BarSeries, LevelSeries
from qts.feeds.csv_loader import load_csv, load_level_csv, load_paths

if TYPE_CHECKING:
    from qts.feeds.synthetic import (
        DEFAULT_UNIVERSE,
        MarketState,
        MinuteBars,
        RegularSessions,
        SyntheticDay,
        SyntheticMarket,
        SyntheticSymbol,
    )

_SYNTHETIC = frozenset(
    {
        "DEFAULT_UNIVERSE",
        "MarketState",
        "MinuteBars",
        "RegularSessions",
        "SyntheticDay",
        "SyntheticMarket",
        "SyntheticSymbol",
    }
)

__all__ = [
    "DEFAULT_UNIVERSE",
    "BarSeries",
    "LevelSeries",
    "MarketState",
    "MinuteBars",
    "RegularSessions",
    "SyntheticDay",
    "SyntheticMarket",
    "SyntheticSymbol",
    "load_csv",
    "load_level_csv",
    "load_paths",
]


def __getattr__(name: str) -> Any:
    if name not in _SYNTHETIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from qts.feeds import synthetic

    value = getattr(synthetic, name)
    globals()[name] = value
    return value
