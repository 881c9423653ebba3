"""A backtest without ``--index`` has no volatility index at all: after a safety warning the
operating state goes DEFENSIVE and must come back on its other conditions. (It used to read the
missing index as "not calm yet" for ever: one warning in 1986 and no trade in 31 years.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parents[1] / "data"


def test_defensive_after_a_warning_recovers_without_an_index(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable, "-m", "qts", "backtest",
            "--data", str(DATA / "msft_daily_1986_2017.csv"), "--price-scale", "100",
            "--strategy", "sma_cross", "--param", "fast=10", "--param", "slow=30",
            "--qty", "10", "--end", "1988-12-31", "--out", str(out),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    moves = [(t["from"], t["to"], t["reason"]) for t in summary["state_transitions"]]
    down = [i for i, m in enumerate(moves) if m[:2] == ("BALANCED", "DEFENSIVE")]
    assert down and moves[down[0]][2].startswith("SAFETY_WARNING")
    back = [m for m in moves[down[0] :] if m[:2] == ("DEFENSIVE", "BALANCED")]
    assert back and all("no vol index" in m[2] for m in back)
    assert summary["trades"]  # entries are taken again once BALANCED
    # the console names the codes, then the kinds without one, and says where the counts are
    text = " ".join(proc.stderr.split())  # the console wraps at its width
    line = text[text.index("safety events: ") :]
    assert (
        "AN001 ×" in line and "clean cycle ×" in line and line.index("AN001") < line.index("clean")
    )
    assert "(counts in summary.json's safety_events)" in line
    days = [r["state"] for r in summary["capital"]]
    assert days.count("BALANCED") > days.count("DEFENSIVE")
