"""Seeded daily bars for benchmarks: random walks on the KRX tick grid, many symbols."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from qts.feeds.bars import BarSeries, daily_epoch
from qts.feeds.ticks import dated_tick_sizes
from qts.model.instrument import Market


def _grid(prices: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Down onto the KOSPI grid of each bar's date (2015: 500-won ticks from 100,000)."""
    p = np.maximum(prices.astype(np.int64), 5)
    return p - p % dated_tick_sizes(p, ts, Market.KOSPI, False)


def daily_universe(symbols: int, bars: int, seed: int = 1) -> list[BarSeries]:
    rng = np.random.default_rng(seed)
    days, d = [], date(2015, 1, 5)
    while len(days) < bars:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    ts = np.array([daily_epoch(x) for x in days], dtype=np.int64)
    out = []
    for k in range(symbols):
        start = float(rng.choice([3_000, 15_000, 45_000, 120_000, 350_000]))
        rets = rng.normal(0.0003, 0.02, bars)
        close = start * np.exp(np.cumsum(rets))
        open_ = close * np.exp(rng.normal(0, 0.005, bars))
        hi = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, bars)))
        lo = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, bars)))
        o, c = _grid(open_, ts), _grid(close, ts)
        h = np.maximum(_grid(hi, ts), np.maximum(o, c))
        low = np.minimum(_grid(lo, ts), np.minimum(o, c))
        vol = rng.integers(100_000, 5_000_000, bars)
        out.append(BarSeries(f"S{k:05d}", ts, o, h, low, c, vol))
    return out
