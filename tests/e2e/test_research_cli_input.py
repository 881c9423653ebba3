"""`qts backtest` / `qts optimize` refuse unusable input before any work, in one line naming the
option or file, never a traceback, and write nothing.

Every case runs ``python -m qts`` in a subprocess on real files in a temporary folder.
"""

from __future__ import annotations

import csv
import os
import subprocess
from functools import partial
from pathlib import Path

import pytest
from cli_run import run_qts

DATA = Path(__file__).parents[1] / "data"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "400"}
qts = partial(run_qts, env=ENV, timeout=120)
RSI = f"{Path(__file__).parent / 'strategies' / 'rsi_reversion.py'}:RsiReversion"
TICK_HEADER = "time,symbol,price,volume,bid,ask,bid_qty,ask_qty"


def assert_refused(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Non-zero exit, no traceback, nothing ran (no progress line), every needle on stderr."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    message = " ".join(proc.stderr.split())  # rich may wrap long lines
    for needle in needles:
        assert needle in message, f"{needle!r} not in: {proc.stderr}"
    for ran in ("loading data", "sweep:", "trials (", "ticks (", "one-minute cycles"):
        assert ran not in message, f"work started before the refusal: {proc.stderr}"
    return message


@pytest.fixture(scope="module")
def bars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 days of the S&P 500 series: enough for a small sweep."""
    lines = (DATA / "sp500_daily_1999_2018.csv").read_text().splitlines(keepends=True)
    path = tmp_path_factory.mktemp("data") / "SPX.csv"
    path.write_text("".join(lines[:201]))
    return path


def write_ticks(path: Path, symbol: str = "005930") -> Path:
    rows = [f"2026-03-04T10:0{m}:00+09:00,{symbol},70000,5,70000,70100,100,100" for m in range(3)]
    path.write_text("\n".join([TICK_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def optimize_args(data: Path, out: Path, *more: str) -> list[str]:
    return ["optimize", "--data", str(data), "--price-scale", "100", "--strategy", "sma_cross",
            "--space", "fast=4:6:2", "--space", "slow=10:20:10", "--workers", "1",
            *more, "--out", str(out)]  # fmt: skip


# --- 1. --out is checked before the run ---------------------------------------------------------


def unusable_outs(tmp: Path) -> list[tuple[Path, str]]:
    (tmp / "afile").write_text("x")
    return [
        (tmp / "afile", "is not a folder"),
        (tmp / "afile" / "sub", "is a file, not a folder"),
        (Path("/proc/qts-no-such-dir"), "cannot write there"),
    ]


def test_optimize_refuses_an_unusable_out_before_the_sweep(bars: Path, tmp_path: Path) -> None:
    for out, reason in unusable_outs(tmp_path):
        done = qts(*optimize_args(bars, out))
        assert_refused(done, f"--out: {out}", reason)
        assert not (out / "trials.csv").exists()


def test_backtest_ticks_refuses_an_unusable_out_before_the_run(tmp_path: Path) -> None:
    ticks = write_ticks(tmp_path / "t.csv")
    for out, reason in unusable_outs(tmp_path):
        done = qts("backtest", "--ticks", ticks, "--strategy", "scalp_reversion", "--out", out)
        assert_refused(done, f"--out: {out}", reason)
        assert not (out / "summary.json").exists()


# --- 2. trials.csv: a parameter called `window` does not shadow the walk-forward window --------


def test_trials_csv_keeps_the_walk_forward_window_apart_from_a_window_parameter(
    tmp_path: Path,
) -> None:
    lines = (DATA / "msft_daily_1986_2017.csv").read_text().splitlines(keepends=True)
    data = tmp_path / "MSFT.csv"
    data.write_text("".join(lines[:401]))
    out = tmp_path / "wf"
    done = qts("optimize", "--data", data, "--price-scale", "100", "--strategy", RSI,
               "--space", "window=7,14", "--space", "oversold=25,30",
               "--walk-forward", "200:100", "--workers", "1", "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with (out / "trials.csv").open(newline="") as f:
        header = next(csv.reader(f))
        f.seek(0)
        rows = list(csv.DictReader(f))
    assert len(header) == len(set(header)), header
    assert header[:5] == ["trial", "window", "phase", "param_window", "param_oversold"]
    assert {r["window"] for r in rows} == {"0", "1"}  # the walk-forward windows
    assert {r["phase"] for r in rows} == {"train", "test"}
    train = [r for r in rows if r["phase"] == "train"]
    assert len(train) == 2 * 4
    assert {int(r["param_window"]) for r in train} == {7, 14}
    assert {float(r["param_oversold"]) for r in train} == {25.0, 30.0}


# --- 3. --qty and a qty space are refused together, as --param and --space are -----------------


def test_optimize_refuses_qty_given_both_as_an_option_and_as_a_space(
    bars: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    done = qts("optimize", "--data", bars, "--price-scale", "100", "--strategy", "sma_cross",
               "--space", "qty=1,2", "--qty", "5", "--workers", "1", "--out", out)  # fmt: skip
    assert_refused(done, "--qty: 5", "also given as --space")
    assert not (out / "trials.csv").exists()
