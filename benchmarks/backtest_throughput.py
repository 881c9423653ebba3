"""Backtest throughput: 100 symbols × 2,500 daily bars of sma_cross through the full ETEDA
pipeline (extract, transform, evaluate, decide, act, simulated exchange, books in SQLite),
against a plain-loop baseline of the same strategy in the same run.

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from _data import daily_universe
from qts.backtest.engine import BacktestSpec, run_backtest
from qts.feeds.bars import BarSeries


def plain_loop(series: list[BarSeries], fast: int, slow: int, qty: int) -> tuple[int, int]:
    """The same strategy as a per-symbol Python loop over precomputed SMAs; returns
    (trades, pnl) so the pipeline can be checked against it."""
    trades, pnl = 0, 0
    for s in series:
        c = s.close
        cs = np.concatenate(([0], np.cumsum(c)))
        held, entry = False, 0
        for t in range(slow, len(c) - 1):
            f1 = (cs[t + 1] - cs[t + 1 - fast]) * slow
            s1 = (cs[t + 1] - cs[t + 1 - slow]) * fast
            f0 = (cs[t] - cs[t - fast]) * slow
            s0 = (cs[t] - cs[t - slow]) * fast
            if f1 > s1 and f0 <= s0 and not held:
                held, entry = True, int(s.open[t + 1])
            elif f1 < s1 and f0 >= s0 and held:
                held = False
                trades += 1
                pnl += (int(s.open[t + 1]) - entry) * qty
    return trades, pnl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--bars", type=int, default=2500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    series = daily_universe(args.symbols, args.bars)
    symbol_bars = sum(len(s) for s in series)
    spec = BacktestSpec(
        series, "sma_cross", {"fast": 10, "slow": 30, "qty": 10}, cash=10**13, fees="none"
    )
    pipe_times, base_times = [], []
    result = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = run_backtest(spec)
        pipe_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        base_trades, base_pnl = plain_loop(series, 10, 30, 10)
        base_times.append(time.perf_counter() - t0)
    assert result is not None
    pipe_pnl = sum(t.pnl for t in result.trades)
    same = len(result.trades) == base_trades and pipe_pnl == base_pnl
    pipe, base = min(pipe_times), min(base_times)
    print(f"symbols {args.symbols} x bars {args.bars} = {symbol_bars:,} symbol-bars")
    print(
        f"pipeline:   best {pipe:.3f}s of {args.repeat}  -> {symbol_bars / pipe:,.0f} symbol-bars/s"
        f"  ({len(result.trades)} trades, {result.loop.cycles} cycles)"
    )
    print(
        f"plain loop: best {base:.3f}s of {args.repeat}  -> {symbol_bars / base:,.0f} symbol-bars/s"
        f"  ({base_trades} trades)"
    )
    print(f"same trades and PnL as the baseline: {same}")
    print(
        json.dumps(
            {
                "symbol_bars": symbol_bars,
                "pipeline_s": round(pipe, 4),
                "pipeline_symbol_bars_per_s": round(symbol_bars / pipe),
                "baseline_s": round(base, 4),
                "baseline_symbol_bars_per_s": round(symbol_bars / base),
                "pipeline_vs_baseline": round(base / pipe, 3),
                "trades": len(result.trades),
                "matches_baseline": same,
                "target_symbol_bars_per_s": 100_000,
            }
        )
    )


if __name__ == "__main__":
    main()
