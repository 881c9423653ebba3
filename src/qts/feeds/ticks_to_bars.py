"""Trade prints in, one-minute bar frames out.

A pure aggregator for live market data: each print (symbol, time, price, volume) falls into the
minute ``[m, m + 1 min)`` that holds its time; a minute's frame is emitted once time has passed
its end — either a print of a later minute arrives or the caller's clock says so
(:meth:`MinuteBars.close_until`). Prices are integer KRW, open/high/low/close come from the
prints in arrival order, volumes are summed; symbols without a print in that minute are
inactive (zeros). Minutes without any print produce no frame. A print older than the minute
being built (it arrived after its minute was emitted) cannot change a published bar: it is
counted in ``late`` and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from qts.core.time import require_aware
from qts.model.frame import BarFrame, Universe

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Print:
    """One trade print: ``ts`` is the exchange's time of the trade (timezone-aware)."""

    symbol: str
    ts: datetime
    price: int
    volume: int


def minute_of(ts: datetime) -> datetime:
    """The start of the minute holding ``ts``."""
    return ts.replace(second=0, microsecond=0)


class MinuteBars:
    """Builds one-minute :class:`BarFrame` s of a fixed universe from trade prints."""

    def __init__(self, universe: Universe) -> None:
        self.universe = universe
        n = len(universe)
        self._start: datetime | None = None
        self._open = np.zeros(n, dtype=np.int64)
        self._high = np.zeros(n, dtype=np.int64)
        self._low = np.zeros(n, dtype=np.int64)
        self._close = np.zeros(n, dtype=np.int64)
        self._volume = np.zeros(n, dtype=np.int64)
        self._active = np.zeros(n, dtype=np.bool_)
        self.prints = 0
        self.late = 0
        self.ignored = 0  # prints of symbols outside the universe
        self.frames = 0

    @property
    def building(self) -> datetime | None:
        """The start of the minute being built, if any print is in it."""
        return self._start

    def add(self, p: Print) -> list[BarFrame]:
        """Take one print; returns the frame it completed (a print of a later minute closes
        the minute being built), or nothing."""
        require_aware(p.ts, "trade print time")
        if p.symbol not in self.universe:
            self.ignored += 1
            return []
        if p.price <= 0 or p.volume < 0:
            raise ValueError(f"trade print of {p.symbol}: price {p.price}, volume {p.volume}")
        start = minute_of(p.ts)
        out: list[BarFrame] = []
        if self._start is not None and start < self._start:
            self.late += 1
            return out
        if self._start is not None and start > self._start:
            out.append(self._emit())
        if self._start is None:
            self._start = start
        i = self.universe.index(p.symbol)
        if not self._active[i]:
            self._active[i] = True
            self._open[i] = self._high[i] = self._low[i] = p.price
        else:
            self._high[i] = max(int(self._high[i]), p.price)
            self._low[i] = min(int(self._low[i]), p.price)
        self._close[i] = p.price
        self._volume[i] += p.volume
        self.prints += 1
        return out

    def close_until(self, now: datetime) -> list[BarFrame]:
        """Emit the minute being built if ``now`` has reached its end."""
        require_aware(now, "aggregator time")
        if self._start is not None and now >= self._start + MINUTE:
            return [self._emit()]
        return []

    def _emit(self) -> BarFrame:
        assert self._start is not None
        frame = BarFrame(
            self.universe,
            self._start,
            self._start + MINUTE,
            self._open.copy(),
            self._high.copy(),
            self._low.copy(),
            self._close.copy(),
            self._volume.copy(),
            self._active.copy(),
        )
        for arr in (self._open, self._high, self._low, self._close, self._volume):
            arr[:] = 0
        self._active[:] = False
        self._start = None
        self.frames += 1
        return frame
