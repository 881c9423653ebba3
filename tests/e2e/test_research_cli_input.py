"""`qts backtest` / `qts optimize` refuse unusable input before any work, in one line naming the
option or file, never a traceback, and write nothing.

Every case runs ``python -m qts`` in a subprocess on real files in a temporary folder.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
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


@pytest.mark.parametrize(
    "option",
    [
        ("--market", "KOSDAQ"),
        ("--price-scale", "3"),
        ("--start", "2026-03-04"),
        ("--end", "2026-03-04"),
        ("--index", "vix.csv"),
        ("--no-capital",),
    ],
)
def test_backtest_ticks_refuses_the_options_of_bar_data(
    option: tuple[str, ...], tmp_path: Path
) -> None:
    """They used to be ignored without a word."""
    ticks = write_ticks(tmp_path / "t.csv")
    out = tmp_path / "out"
    done = qts("backtest", "--ticks", ticks, "--strategy", "scalp_reversion", *option, "--out", out)
    assert_refused(done, f"{option[0]}: applies to bar data (--data), not to --ticks")
    assert not out.exists()


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


# --- 4. a data file whose name is not a symbol: one line naming it, before loading ---------------

BAD_NAMES = ["삼성전자", "sym with space"]


def bad_bars(folder: Path, stem: str, good: Path) -> Path:
    """A file named ``stem`` with good bars and one malformed row at the end: refusing its name
    before the load must win over the row (which only the load would find)."""
    path = folder / f"{stem}.csv"
    path.write_text(good.read_text() + "2000-13-45,x,y,z,w,v\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("stem", BAD_NAMES)
def test_backtest_and_optimize_refuse_a_file_name_that_is_not_a_symbol(
    stem: str, bars: Path, tmp_path: Path
) -> None:
    data = bad_bars(tmp_path, stem, bars)
    needles = (f"{data}:", f"{stem!r} is not one", "letters, digits", "--symbols symbols.csv",
               f"{stem}.csv,005930,KOSPI")  # fmt: skip
    done = qts("backtest", "--data", data, "--strategy", "sma_cross", "--out", tmp_path / "b")
    assert_refused(done, *needles)
    assert not (tmp_path / "b" / "summary.json").exists()
    done = qts(*optimize_args(data, tmp_path / "o"))
    assert_refused(done, *needles)
    assert not (tmp_path / "o" / "trials.csv").exists()


def test_a_symbols_file_maps_such_a_file_to_a_symbol_and_its_symbol_is_checked(
    bars: Path, tmp_path: Path
) -> None:
    data = tmp_path / "삼성전자.csv"
    data.write_text(bars.read_text(), encoding="utf-8")
    good = tmp_path / "symbols.csv"
    good.write_text("file,symbol,market\n삼성전자.csv,005930,KOSPI\n", encoding="utf-8")
    done = qts("backtest", "--data", data, "--symbols", good, "--price-scale", "100",
               "--strategy", "sma_cross", "--out", tmp_path / "b")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert "005930" in json.dumps(summary["provenance"])
    bad = tmp_path / "bad_symbols.csv"
    bad.write_text("file,symbol,market\n삼성전자.csv,삼성,KOSPI\n", encoding="utf-8")
    done = qts("backtest", "--data", data, "--symbols", bad, "--price-scale", "100",
               "--strategy", "sma_cross", "--out", tmp_path / "c")  # fmt: skip
    assert_refused(done, f"{bad}:2: symbol: '삼성'", "letters, digits")


@pytest.mark.parametrize("symbol", BAD_NAMES)
def test_backtest_ticks_refuses_a_symbol_that_is_not_one(symbol: str, tmp_path: Path) -> None:
    ticks = write_ticks(tmp_path / "t.csv", symbol)
    out = tmp_path / "out"
    done = qts("backtest", "--ticks", ticks, "--strategy", "scalp_reversion", "--out", out)
    assert_refused(done, f"{ticks}:2: symbol: {symbol!r}", "letters, digits")
    assert not (out / "summary.json").exists()


# --- 5. --ray: an address nothing answers at is refused at once, and joining is bounded ---------


def test_optimize_refuses_a_ray_address_nothing_listens_at_within_seconds(
    bars: Path, tmp_path: Path
) -> None:
    with socket.socket() as closed:  # bound, never listening: a connect is refused
        closed.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed.getsockname()[1]}"
        config = tmp_path / "local.yaml"
        config.write_text(f'optimize:\n  ray_address: "{address}"\n')
        for how, needle in (
            (["--ray", address], f"--ray: {address}: cannot connect"),
            (["--config", str(config)], f"{config}: optimize.ray_address {address}: cannot"),
        ):
            out = tmp_path / how[0].strip("-")
            started = time.monotonic()
            done = qts(*optimize_args(bars, out, *how), timeout=30)  # the old code hung here
            assert time.monotonic() - started < 20
            assert_refused(done, needle, "refused")
            assert not (out / "trials.csv").exists()


JOIN = """
import sys, time
from qts.backtest.optimize.executors import RayExecutor
from qts.backtest.optimize.trial import BacktestSetup
from qts.core.errors import InputError
setup = BacktestSetup("sma_cross", {}, 100_000_000, "krx", "sharpe")
started = time.monotonic()
try:
    RayExecutor(sys.argv[1], [], setup, None, init_timeout=2)
except InputError as exc:
    print(f"{exc} after {time.monotonic() - started:.1f}s")
"""


def test_joining_an_address_that_answers_but_is_no_ray_cluster_gives_up_in_time() -> None:
    """A port that accepts connections but speaks no Ray passes the connect check; ``ray.init``
    would then retry forever. The executor's bounded wait turns it into one line."""
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(16)  # the kernel completes the handshakes; nothing ever answers
        address = f"127.0.0.1:{mute.getsockname()[1]}"
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", JOIN, address],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert time.monotonic() - started < 45, done.stderr
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert f"--ray: {address}: cannot" in done.stdout, done.stdout + done.stderr
