"""Market data feeds: bar series, CSV loading and the seeded synthetic KRX market."""

from qts.feeds.bars import BarSeries, LevelSeries
from qts.feeds.csv_loader import load_csv, load_level_csv, load_paths
from qts.feeds.synthetic import (
    DEFAULT_UNIVERSE,
    MarketState,
    MinuteBars,
    RegularSessions,
    SyntheticDay,
    SyntheticMarket,
    SyntheticSymbol,
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
