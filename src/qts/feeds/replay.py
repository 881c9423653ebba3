"""Replay: many symbols' bar series aligned into one table of frames.

The table is built once (time × symbol arrays); each frame is a row of views, so replaying
thousands of bars over hundreds of symbols costs almost nothing per frame. A symbol without a bar
at some time is inactive in that frame.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import numpy as np

from qts.core.arrays import unique_ints
from qts.core.errors import DataError
from qts.feeds.bars import DAILY_BAR_TIME, BarSeries, from_epoch
from qts.model.frame import BarFrame, Universe

DAY = 86_400
DAILY_SESSION = timedelta(hours=6, minutes=30)  # a daily bar stamped 09:00 ends at the 15:30 close


class FrameTable:
    def __init__(self, series: Sequence[BarSeries], last_end: datetime | None = None) -> None:
        """``last_end`` closes the final bar (e.g. the 15:30 close after the closing auction);
        every other bar ends where the next one starts, daily bars at the 15:30 close."""
        if not series:
            raise DataError("replay", None, "no bar series to replay")
        self.universe = Universe(tuple(s.symbol for s in series))
        stamps = unique_ints(np.concatenate([s.ts for s in series]))
        t, n = len(stamps), len(series)
        self.ts = stamps
        self.open = np.zeros((t, n), dtype=np.int64)
        self.high = np.zeros((t, n), dtype=np.int64)
        self.low = np.zeros((t, n), dtype=np.int64)
        self.close = np.zeros((t, n), dtype=np.int64)
        self.volume = np.zeros((t, n), dtype=np.int64)
        self.active = np.zeros((t, n), dtype=np.bool_)
        for j, s in enumerate(series):
            rows = np.searchsorted(stamps, s.ts)
            self.open[rows, j] = s.open
            self.high[rows, j] = s.high
            self.low[rows, j] = s.low
            self.close[rows, j] = s.close
            self.volume[rows, j] = s.volume
            self.active[rows, j] = True
        self.bar_length = self._bar_length()
        step = int(self.bar_length.total_seconds())
        self.ends = stamps + step
        if self.bar_length != DAILY_SESSION and t:
            self.ends[:-1] = np.minimum(self.ends[:-1], stamps[1:])
            if last_end is not None:
                self.ends[-1] = int(last_end.timestamp())

    def _bar_length(self) -> timedelta:
        """Daily data: every stamp at 09:00 KST wall clock; else the smallest step.

        09:00 KST is 00:00 UTC except in Korea's summer time (1987-88, UTC+10), so the fast
        check on UTC midnights only sorts out the rest, stamp by stamp in local time."""
        if _all_at_daily_bar_time(self.ts):
            return DAILY_SESSION
        steps = np.diff(self.ts)
        return timedelta(seconds=int(steps.min()) if len(steps) else 60)

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def symbol_bars(self) -> int:
        return int(self.active.sum())

    def start(self, i: int) -> datetime:
        return from_epoch(int(self.ts[i]))

    def frame(self, i: int) -> BarFrame:
        return BarFrame(
            self.universe,
            from_epoch(int(self.ts[i])),
            from_epoch(int(self.ends[i])),
            self.open[i],
            self.high[i],
            self.low[i],
            self.close[i],
            self.volume[i],
            self.active[i],
        )

    def frames(self, first: int = 0) -> Iterator[BarFrame]:
        for i in range(first, len(self.ts)):
            yield self.frame(i)


def _all_at_daily_bar_time(ts: np.ndarray) -> bool:
    """True if every stamp is 09:00 on the KST wall clock, whatever the day's UTC offset."""
    for k in np.flatnonzero(ts % DAY != 0):
        if from_epoch(int(ts[k])).time() != DAILY_BAR_TIME:
            return False  # intraday data stops at its first off-midnight stamp
    return True
