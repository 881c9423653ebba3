"""Test helpers for the simulated exchange: frames from a few bars, KST times on known days."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

import numpy as np

from qts.core.time import kst
from qts.model.frame import BarFrame, Universe
from qts.model.instrument import Instrument, Market, SecurityType

SAMSUNG, HYNIX, KAKAO, KODEX = "005930", "000660", "035720", "069500"
SYMBOLS = (SAMSUNG, HYNIX, KAKAO, KODEX)
UNIVERSE = Universe(SYMBOLS)
INSTRUMENTS = {
    SAMSUNG: Instrument(SAMSUNG, Market.KOSPI),
    HYNIX: Instrument(HYNIX, Market.KOSPI),
    KAKAO: Instrument(KAKAO, Market.KOSDAQ),
    KODEX: Instrument(KODEX, Market.KOSPI, SecurityType.ETF),
}

# trading days (2026-03-02 is a substitute holiday; 03-07/08 a weekend)
D1 = date(2026, 3, 4)  # Wednesday
D2 = date(2026, 3, 5)
D3 = date(2026, 3, 6)  # Friday
D4 = date(2026, 3, 9)  # Monday

Bar = tuple[int, int, int, int, int]  # open, high, low, close, volume


def at(day: date, hour: int, minute: int = 0, second: int = 0, ms: int = 0) -> datetime:
    return kst(day.year, day.month, day.day, hour, minute, second) + timedelta(milliseconds=ms)


def flat(price: int, volume: int = 1_000_000) -> Bar:
    return (price, price, price, price, volume)


def frame(
    start: datetime,
    bars: Mapping[str, Bar],
    length: timedelta = timedelta(minutes=1),
    universe: Universe = UNIVERSE,
) -> BarFrame:
    n = len(universe)
    cols = [np.zeros(n, dtype=np.int64) for _ in range(5)]
    active = np.zeros(n, dtype=np.bool_)
    for symbol, bar in bars.items():
        i = universe.index(symbol)
        for col, value in zip(cols, bar, strict=True):
            col[i] = value
        active[i] = True
    o, h, lo, c, v = cols
    return BarFrame(universe, start, start + length, o, h, lo, c, v, active)


def day_frame(day: date, bars: Mapping[str, Bar]) -> BarFrame:
    """A daily bar: the regular session 09:00–15:30."""
    return frame(at(day, 9), bars, timedelta(hours=6, minutes=30))
