"""Memory of a large minute-bar CSV: 1,000,000 bars (~45 MB), generated here, loaded and run.

Each measurement runs in a fresh child process, so its peak RSS (``VmHWM``) is its own:
the baseline is the bare interpreter with QTS and numpy imported; the load is
``qts.feeds.csv_loader.load_file`` on the generated file (parsing, checks, the BarSeries).
The run backtests ``sma_cross`` over the first ``--run-bars`` bars of that file (a whole
million takes most of an hour) and samples RSS every tenth of the way: the growth is measured
from 20 % to the end (the first cycles reuse memory the load freed) and given per bar.
Target (issue 16): loading stays within a few times the file's size, a run's memory flat.
Ends with one JSON line carrying ``peak_rss_mb`` (the load's child) and the run's growth.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import sys, time
from pathlib import Path
import numpy as np
import qts.feeds.csv_loader as loader

def peak_kb():
    # VmHWM, not ru_maxrss: Linux carries the parent's peak into ru_maxrss across fork and exec
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

base = peak_kb()
if sys.argv[1] == "load":
    t = time.perf_counter()
    series = loader.load_file(Path(sys.argv[2]))
    elapsed = time.perf_counter() - t
    assert len(series.ts) == int(sys.argv[3]), len(series.ts)
else:
    elapsed = 0.0
print(base, peak_kb(), elapsed)
"""

RUN_CHILD = r"""
import json, sys, time
from pathlib import Path
from qts.backtest.engine import BacktestSpec, run_backtest
from qts.feeds.csv_loader import load_file

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024

series = load_file(Path(sys.argv[1]))[: int(sys.argv[2])]
n = len(series)
samples = []
started = time.perf_counter()

def progress(done, total):
    if done % max(n // 10, 1) == 0 or done == total:
        samples.append((done, rss_mb(), time.perf_counter() - started))

spec = BacktestSpec([series], "sma_cross", {"fast": 5, "slow": 20, "qty": 10}, 100_000_000, "krx")
result = run_backtest(spec, progress)
print(json.dumps({"samples": samples, "points": len(result.engine.store.load_equity())}))
"""


def write_csv(path: Path, n: int) -> None:
    """``n`` one-minute bars on the KRX tick grid (10,000-won band, tick 10 since 2023-01-25)."""
    rng = np.random.default_rng(7)
    start = np.datetime64("2024-01-02T09:00")  # 2023 grid: 10 won up to 20,000
    stamps = (start + np.arange(n).astype("timedelta64[m]")).astype(str)
    close = 10_000 + 10 * np.cumsum(rng.integers(-1, 2, n)).clip(-400, 400)
    open_ = close
    high = close + 10 * rng.integers(0, 3, n)
    low = close - 10 * rng.integers(0, 3, n)
    vol = rng.integers(1, 5_000, n)
    with path.open("w") as f:
        f.write("date,open,high,low,close,volume\n")
        for chunk in range(0, n, 100_000):
            s = slice(chunk, chunk + 100_000)
            rows = zip(
                (t.replace("T", " ") for t in stamps[s]),
                open_[s], high[s], low[s], close[s], vol[s], strict=True,
            )  # fmt: skip
            f.writelines(f"{t},{o},{h},{lo},{c},{v}\n" for t, o, h, lo, c, v in rows)


def child(mode: str, path: Path, n: int) -> tuple[float, float, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path), str(n)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    base_kb, peak_kb, elapsed = float(out[0]), float(out[1]), float(out[2])
    return base_kb / 1024, peak_kb / 1024, elapsed


def run(path: Path, bars: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", RUN_CHILD, str(path), str(bars)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    samples = json.loads(out.splitlines()[-1])["samples"]
    first = next(s for s in samples if s[0] >= bars // 5)
    last = samples[-1]
    per_bar = (last[1] - first[1]) * 2**20 / max(last[0] - first[0], 1)
    return {
        "run_bars": last[0],
        "run_rss_mb": round(last[1], 1),
        "run_growth_mb": round(last[1] - first[1], 2),
        "run_growth_bytes_per_bar": round(per_bar),
        "run_growth_mb_per_1m_bars": round(per_bar * 1_000_000 / 2**20),
        "run_cycles_per_s": round(last[0] / last[2]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--run-bars", type=int, default=50_000, help="0: measure loading only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "005930.csv"
        t = time.perf_counter()
        write_csv(path, args.bars)
        size_mb = os.path.getsize(path) / 2**20
        print(f"generated {args.bars:,} bars, {size_mb:.1f} MB in {time.perf_counter() - t:.1f} s")
        _, idle_mb, _ = child("idle", path, args.bars)
        _, peak_mb, elapsed = child("load", path, args.bars)
        ran = run(path, args.run_bars) if args.run_bars else {}
    growth = peak_mb - idle_mb
    print(f"interpreter + imports: {idle_mb:.0f} MB peak RSS (baseline)")
    print(
        f"load_file: {peak_mb:.0f} MB peak RSS, +{growth:.0f} MB = {growth / size_mb:.1f}x the file"
    )
    print(f"load time {elapsed:.2f} s ({args.bars / elapsed:,.0f} bars/s)")
    if ran:
        print(
            f"run of {ran['run_bars']:,} bars: RSS {ran['run_rss_mb']:.0f} MB at the end, "
            f"+{ran['run_growth_mb']:.1f} MB from 20 % on = {ran['run_growth_bytes_per_bar']} "
            f"bytes a bar ({ran['run_growth_mb_per_1m_bars']} MB per million bars), "
            f"{ran['run_cycles_per_s']:,} cycles/s"
        )
    print(
        json.dumps(
            {
                "bars": args.bars,
                "file_mb": round(size_mb, 1),
                "baseline_rss_mb": round(idle_mb, 1),
                "peak_rss_mb": round(peak_mb, 1),
                "growth_over_file": round(growth / size_mb, 2),
                "load_s": round(elapsed, 2),
                **ran,
            }
        )
    )


if __name__ == "__main__":
    main()
