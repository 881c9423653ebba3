"""Backtest throughput, measured four ways in one run.

1. In process: 100 symbols × 2,500 daily bars of sma_cross 10/30 through the full ETEDA pipeline
   (extract, transform, evaluate, decide, act, simulated exchange, books), against a plain-loop
   baseline of the same strategy (same trades and PnL, checked).
2. The whole command: ``qts backtest`` as a new process on the same bars written as 100 CSV files
   (start-up, loading, run, report), against backtrader (pip install backtrader) doing the same
   (SMA 10/30 crossover, next-open market fills, no fees) on the same files — trades checked equal.
3. 1,000 symbols × 2,500 bars in a child process: symbol-bars/s and peak RSS.
4. Peak RSS of 100 and 1,000 symbols, to show memory growing linearly with symbols × bars.
5. The whole command's fixed cost: the same files trading only their last day (start-up, loading,
   wiring, report). ``ceiling_cli_vs_backtrader`` is backtrader's time over that fixed cost plus
   the plain loop's: the ratio ``qts backtest`` would reach if its engine were as fast as a
   loop that only computes the signals and books nothing.

The workload is backtrader's: the whole account sizes each entry, no capital pools
(``--no-capital``; the pools cap entries, so their trades differ from backtrader's). The whole
command with the default pools is timed once too (``cli_seconds_with_capital``).

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _data import daily_universe
from qts.backtest.engine import BacktestSpec, run_backtest
from qts.feeds.bars import BarSeries, from_epoch

HERE = Path(__file__).resolve().parent
CASH = 10**13
PARAMS = {"fast": 10, "slow": 30, "qty": 10}


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


def write_csvs(series: list[BarSeries], folder: Path) -> None:
    for s in series:
        days = [from_epoch(int(t)).date().isoformat() for t in s.ts]
        rows = zip(days, s.open, s.high, s.low, s.close, s.volume, strict=True)
        text = "".join(f"{d},{o},{h},{lo},{c},{v}\n" for d, o, h, lo, c, v in rows)
        (folder / f"{s.symbol}.csv").write_text("date,open,high,low,close,volume\n" + text)


def child(symbols: int, bars: int) -> None:
    """Run one backtest and print its figures (peak RSS is read by the parent)."""
    series = daily_universe(symbols, bars)
    spec = BacktestSpec(series, "sma_cross", PARAMS, cash=CASH, fees="none", capital=None)
    t0 = time.perf_counter()
    result = run_backtest(spec)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "symbol_bars": result.table.symbol_bars,
                      "trades": len(result.trades)}))  # fmt: skip


def in_child(*args: str) -> tuple[dict[str, float], float, float]:
    """(the child's JSON line, its wall seconds, its peak RSS in MB)."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=True, cwd=HERE
    )
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest so far: run the children smallest first
    line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}"
    return (json.loads(line) if line.startswith("{") else {}), wall, peak / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--bars", type=int, default=2500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big-symbols", type=int, default=1000)
    ap.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return

    series = daily_universe(args.symbols, args.bars)
    symbol_bars = sum(len(s) for s in series)
    spec = BacktestSpec(series, "sma_cross", PARAMS, cash=CASH, fees="none", capital=None)
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
    fills = len(result.engine.oms.account.ledger.entries)
    print(f"symbols {args.symbols} x bars {args.bars} = {symbol_bars:,} symbol-bars")
    rate = symbol_bars / pipe
    print(f"pipeline:   best {pipe:.3f}s of {args.repeat} -> {rate:,.0f} symbol-bars/s"
          f" ({len(result.trades)} trades, {fills} ledger rows)")  # fmt: skip
    print(
        f"plain loop: best {base:.3f}s of {args.repeat} -> {symbol_bars / base:,.0f} symbol-bars/s"
    )
    print(f"same trades and PnL as the baseline: {same}")

    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "bars", Path(tmp) / "out"
        folder.mkdir()
        write_csvs(series, folder)
        cli = [sys.executable, "-m", "qts", "backtest", "--data", str(folder), "--strategy",
               "sma_cross", "--param", "fast=10", "--param", "slow=30", "--qty", "10",
               "--cash", str(CASH), "--fees", "none", "--out", str(out)]  # fmt: skip
        cli_times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run([*cli, "--no-capital"], capture_output=True, check=True)
            cli_times.append(time.perf_counter() - t0)
        summary = json.loads((out / "summary.json").read_text())
        cli_s = min(cli_times)
        print(f"qts backtest (whole process): best {cli_s:.3f}s of {args.repeat}")
        last_day = from_epoch(int(series[0].ts[-1])).date().isoformat()
        fixed_times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run([*cli, "--no-capital", "--start", last_day, "--out",
                            str(Path(tmp) / "fixed")], capture_output=True, check=True)  # fmt: skip
            fixed_times.append(time.perf_counter() - t0)
        fixed_s = min(fixed_times)
        print(f"qts backtest trading only the last day (start-up, loading, report): {fixed_s:.3f}s")
        t0 = time.perf_counter()
        subprocess.run([*cli, "--out", str(Path(tmp) / "pools")], capture_output=True, check=True)
        cli_pools_s = time.perf_counter() - t0
        print(f"qts backtest with the capital pools (whole process): {cli_pools_s:.3f}s")
        bt: dict[str, float] | None = None
        try:
            import backtrader  # noqa: F401

            ref = [sys.executable, str(HERE / "_backtrader_sma.py"), str(folder), str(CASH)]
            t0 = time.perf_counter()
            bt = json.loads(subprocess.run(ref, capture_output=True, text=True, check=True).stdout)
            bt["wall"] = time.perf_counter() - t0
            print(f"backtrader (whole process): {bt['wall']:.3f}s, {bt['trades']} trades")
        except ImportError:
            print("backtrader is not installed: pip install backtrader for the comparison")
    qts_pnl = sum(t["pnl"] for t in summary["trades"])
    bt_same = (
        bt is not None
        and bt["trades"] == len(summary["trades"])
        and (round(bt["pnl"]) == qts_pnl and round(bt["final_value"]) == summary["final_equity"])
    )

    _, _, rss_small = in_child(__file__, "--child", str(args.symbols), str(args.bars))
    big, _, rss_big = in_child(__file__, "--child", str(args.big_symbols), str(args.bars))
    big_rate = big["symbol_bars"] / big["seconds"]
    print(f"{args.big_symbols} symbols: {big_rate:,.0f} symbol-bars/s, peak RSS {rss_big:.0f} MB "
          f"(100 symbols: {rss_small:.0f} MB)")  # fmt: skip
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
                "ledger_rows": fills,
                "matches_baseline": same,
                "cli_seconds": round(cli_s, 3),
                "cli_seconds_with_capital": round(cli_pools_s, 3),
                "backtrader_seconds": round(bt["wall"], 3) if bt else None,
                "cli_vs_backtrader": round(bt["wall"] / cli_s, 2) if bt else None,
                "matches_backtrader": bt_same,
                "cli_fixed_seconds": round(fixed_s, 3),
                "ceiling_cli_vs_backtrader": (
                    round(bt["wall"] / (fixed_s + base), 2) if bt else None
                ),
                "symbols_1000_symbol_bars_per_s": round(big_rate),
                "symbols_1000_trades": big["trades"],
                "peak_rss_mb": round(rss_big, 1),
                "peak_rss_mb_100": round(rss_small, 1),
                "rss_ratio_1000_vs_100": round(rss_big / rss_small, 2),
                "target_cli_vs_backtrader": 20,
                "target_symbols_1000_symbol_bars_per_s": 300_000,
            }
        )
    )


if __name__ == "__main__":
    main()
