"""`qts backtest --out`: checked before the run (a file, a read-only or a full file system is
refused in one line, no traceback, nothing half-written), and the report says what produced it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).parents[1] / "data" / "sp500_daily_1999_2018.csv"
ARGS = ["--strategy", "sma_cross", "--param", "fast=10", "--param", "slow=30", "--qty", "10"]
ENV = {**os.environ, "COLUMNS": "400"}


def backtest(out: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qts", "backtest", "--data", str(DATA), "--price-scale", "100",
         *ARGS, "--out", str(out), *more],
        capture_output=True, text=True, env=ENV, check=False,
    )  # fmt: skip


def refused(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    flat = " ".join(proc.stderr.split())
    for n in needles:
        assert n in flat, proc.stderr


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    if not (sys.platform == "linux" and os.geteuid() == 0):
        pytest.skip("mounting a tmpfs needs root on Linux")
    mnt = tmp_path / "fs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_out_on_an_existing_file_is_refused_before_running(tmp_path: Path) -> None:
    target = tmp_path / "report"
    target.write_text("keep me")
    refused(backtest(target), "--out", str(target), "not a folder")
    assert target.read_text() == "keep me"


def test_read_only_and_full_file_systems_are_refused_and_leave_nothing(tmpfs: Path) -> None:
    (tmpfs / "filler").write_bytes(b"\0" * (900 * 1024))
    refused(backtest(tmpfs / "out"), "--out", "free")
    assert sorted(p.name for p in tmpfs.iterdir()) == ["filler"]
    (tmpfs / "filler").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    refused(backtest(tmpfs / "out"), "--out", "read-only")
    assert list(tmpfs.iterdir()) == []


def test_summary_and_page_record_what_produced_them(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = backtest(out)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    p = summary["provenance"]
    assert p["data"] == [
        {"path": str(DATA), "sha256": hashlib.sha256(DATA.read_bytes()).hexdigest()}
    ]
    assert (p["strategy"], p["params"], p["qty"]) == (
        "sma_cross",
        {"fast": 10, "slow": 30, "qty": 10},
        10,
    )
    assert (p["cash"], p["fees"], p["price_scale"]) == (100_000_000, "krx", 100.0)
    assert (p["start"], p["end"], p["index"], p["capital"]) == (None, None, None, True)
    assert p["qts_version"]
    page = (out / "report.html").read_text()
    assert p["data"][0]["sha256"] in page
    assert not list(out.glob("*.tmp"))


def test_the_period_the_index_and_the_pools_are_recorded(tmp_path: Path) -> None:
    """A run cut to a period, with a volatility index or without pools is repeatable from its
    summary alone."""
    vix = DATA.with_name("vix_daily_2014_2019.csv")
    out = tmp_path / "out"
    proc = backtest(out, "--start", "2015-01-02", "--end", "2016-12-30", "--index", str(vix),
                    "--no-capital")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    p = json.loads((out / "summary.json").read_text())["provenance"]
    assert (p["start"], p["end"], p["capital"]) == ("2015-01-02", "2016-12-30", False)
    assert p["index"] == {"path": str(vix), "sha256": hashlib.sha256(vix.read_bytes()).hexdigest()}
