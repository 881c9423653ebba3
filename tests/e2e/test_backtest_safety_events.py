"""A backtest counts its safety events in the report instead of logging each one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from qts.market.krx.tick_size import round_down


def test_price_spikes_are_counted_in_summary_not_logged_line_by_line(tmp_path: Path) -> None:
    rows, price = [], 10_000
    for day in range(1, 29):
        # a +20 % day every week: a KRX-legal move that the AN001 anomaly check flags
        price = round_down(price * 12 // 10) if day % 7 == 0 else price
        rows.append(f"2024-02-{day:02d},{price},{price},{price},{price},1000")
    data = tmp_path / "005930.csv"
    data.write_text("date,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "qts", "backtest", "--data", str(data), "--strategy",
         "sma_cross", "--param", "fast=2", "--param", "slow=3", "--qty", "1",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    spikes = summary["safety_events"].get("AN001", 0)
    assert spikes == 4, summary["safety_events"]
    assert "WARNING" not in done.stderr and "[WARNING]" not in done.stderr
    assert f"AN001 ×{spikes}" in done.stderr
