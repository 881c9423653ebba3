"""A daily volatility index as backtest data (``qts backtest --index``).

The level a bar sees is the index's close on the bar's date, or the latest before it within a
week; older than that (or before the series starts) the level is unknown, and the operating
state's rules that need it neither fire nor hold.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np

from qts.feeds.bars import LevelSeries, from_epoch
from qts.feeds.csv_loader import load_level_csv
from qts.model.frame import BarFrame

MAX_AGE = timedelta(days=7)


class DailyIndex:
    def __init__(self, series: LevelSeries) -> None:
        self.name = series.name
        self.days = np.array(
            [from_epoch(int(t)).date().toordinal() for t in series.ts], dtype=np.int64
        )
        self.values = series.value

    @classmethod
    def load(cls, path: Path) -> DailyIndex:
        """A CSV of date and one value column; ``.`` or empty cells (holidays) are skipped."""
        return cls(load_level_csv(path, missing=(".", "")))

    def at(self, day: date) -> float | None:
        i = int(np.searchsorted(self.days, day.toordinal(), side="right")) - 1
        if i < 0 or day.toordinal() - int(self.days[i]) > MAX_AGE.days:
            return None
        return float(self.values[i])

    def __call__(self, frame: BarFrame) -> float | None:
        return self.at(frame.start.date())

    @property
    def first(self) -> date:
        return date.fromordinal(int(self.days[0]))

    @property
    def last(self) -> date:
        return date.fromordinal(int(self.days[-1]))
