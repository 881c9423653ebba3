"""Peak memory of loading a large minute-bar CSV: 1,000,000 bars (~45 MB), generated here.

Each measurement runs in a fresh child process, so its peak RSS (``ru_maxrss``) is its own:
the baseline is the bare interpreter with QTS and numpy imported; the load is
``qts.feeds.csv_loader.load_file`` on the generated file (parsing, checks, the BarSeries).
Target (issue 16): loading stays within a few times the file's size. Ends with one JSON line
carrying ``peak_rss_mb`` (the load's child) and the ratio of the load's growth to the file size.
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


def write_csv(path: Path, n: int) -> None:
    """``n`` one-minute bars on the KRX tick grid (10,000-won band, tick 10), 09:00 onwards."""
    rng = np.random.default_rng(7)
    start = np.datetime64("2020-01-02T09:00")
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bars", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "005930.csv"
        t = time.perf_counter()
        write_csv(path, args.bars)
        size_mb = os.path.getsize(path) / 2**20
        print(f"generated {args.bars:,} bars, {size_mb:.1f} MB in {time.perf_counter() - t:.1f} s")
        _, idle_mb, _ = child("idle", path, args.bars)
        _, peak_mb, elapsed = child("load", path, args.bars)
    growth = peak_mb - idle_mb
    print(f"interpreter + imports: {idle_mb:.0f} MB peak RSS (baseline)")
    print(
        f"load_file: {peak_mb:.0f} MB peak RSS, +{growth:.0f} MB = {growth / size_mb:.1f}x the file"
    )
    print(f"load time {elapsed:.2f} s ({args.bars / elapsed:,.0f} bars/s)")
    print(
        json.dumps(
            {
                "bars": args.bars,
                "file_mb": round(size_mb, 1),
                "baseline_rss_mb": round(idle_mb, 1),
                "peak_rss_mb": round(peak_mb, 1),
                "growth_over_file": round(growth / size_mb, 2),
                "load_s": round(elapsed, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
