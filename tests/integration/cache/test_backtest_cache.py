"""A backtest trades the same on the in-process cache and on Redis (every mode is wired)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from conftest import SHARED_REDIS, unique_prefix

from qts.backtest.engine import BacktestSpec, run_backtest
from qts.cache.redis_cache import RedisCache
from qts.config.models import CacheSection
from qts.feeds.bars import BarSeries, daily_epoch


def daily_universe(symbols: int, bars: int, seed: int) -> list[BarSeries]:
    """Random walks between 10,000 and 19,990 won (a 10-won tick), weekdays only."""
    rng = np.random.default_rng(seed)
    days, d = [], date(2020, 1, 6)
    while len(days) < bars:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    ts = np.array([daily_epoch(x) for x in days], dtype=np.int64)
    out = []
    for k in range(symbols):
        walk = 15_000 * np.exp(np.cumsum(rng.normal(0, 0.02, bars)))
        close = np.clip(walk, 10_000, 19_990).astype(np.int64) // 10 * 10
        vol = rng.integers(100_000, 1_000_000, bars)
        out.append(BarSeries(f"S{k:03d}", ts, close, close, close, close, vol))
    return out


def test_backtest_on_redis_equals_backtest_in_process() -> None:
    series = daily_universe(4, 300, seed=3)
    prefix = unique_prefix()
    runs = {}
    try:
        for name, cache in (
            ("memory", None),
            ("redis", CacheSection(backend="redis", url=SHARED_REDIS, prefix=prefix)),
        ):
            spec = BacktestSpec(series, "sma_cross", {}, 100_000_000, cache=cache)
            result = run_backtest(spec)
            runs[name] = (result.summary(), result.engine.cache.report())
            result.engine.close()
    finally:
        RedisCache(SHARED_REDIS, prefix).purge()
    assert runs["memory"][0] == runs["redis"][0]
    assert runs["memory"][0]["trades"], "the strategy should trade"
    report = runs["redis"][1]
    assert report["backend"] == "redis"
    assert report["risk"]["reads"] >= 300 and report["risk"]["hit_rate"] == 1.0
