"""Bad input through the real `qts` command: refused with source, field and reason, never a
traceback, and nothing already recorded is lost.

Every case runs ``python -m qts`` in a subprocess on real files in a temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from cli_run import run_qts

DATA = Path(__file__).parents[1] / "data"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "400"}
HEADER = "date,open,high,low,close,volume"
RUN = ["run", "--seed", "7", "--speed", "max", "--for", "1d"]


qts = partial(run_qts, env=ENV)


def assert_refused(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Non-zero exit, no traceback, and a message on stderr naming every needle."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout
    message = " ".join(proc.stderr.split())  # rich may wrap long lines
    for needle in needles:
        assert needle in message, f"{needle!r} not in: {proc.stderr}"
    return message


def rows(n: int = 40) -> list[str]:
    """``n`` valid daily rows in the 10,000-won band (tick 10), one calendar day apart."""
    out = []
    for i in range(n):
        close = 10_000 + 10 * ((i * 7) % 23)
        day = f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}"
        out.append(f"{day},{close},{close + 50},{close - 50},{close},1000")
    return out


def write_csv(path: Path, body: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *body]) + "\n")
    return path


def with_row(index: int, row: str) -> list[str]:
    """The valid rows with data row ``index`` (0-based; file line index + 2) replaced."""
    body = rows()
    body[index] = row
    return body


def backtest(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return qts("backtest", "--data", data, "--strategy", "sma_cross", "--out", out, *extra)


# --- backtest: bad data files -----------------------------------------------------------------

# Each case writes its input into the folder it is given and returns (path, extra args,
# needles the message must hold).
Case = Callable[[Path], tuple[Path, list[str], list[str]]]


def off_grid(tmp: Path) -> tuple[Path, list[str], list[str]]:
    # line 6: close 10,005 is between ticks of the 10-won band
    path = write_csv(tmp / "offgrid.csv", with_row(4, "2024-01-05,10000,10050,9950,10005,1000"))
    return path, ["--qty", "1"], ["offgrid.csv:6", "close", "tick", "10,005"]


def floats_unscaled(tmp: Path) -> tuple[Path, list[str], list[str]]:
    path = tmp / "sp500.csv"
    shutil.copy(DATA / "sp500_daily_1999_2018.csv", path)  # real index points, not won
    return path, ["--qty", "1"], ["sp500.csv:2", "open", "1229.22998", "whole", "scale"]


def missing_column(tmp: Path) -> tuple[Path, list[str], list[str]]:
    body = [",".join(r.split(",")[:4] + r.split(",")[5:]) for r in rows()]
    path = write_csv(tmp / "noclose.csv", body, header="date,open,high,low,volume")
    return path, ["--qty", "1"], ["noclose.csv:1", "close"]


def dates_not_increasing(tmp: Path) -> tuple[Path, list[str], list[str]]:
    # data row 10 (line 12) repeats the date of line 11
    body = rows()
    body[10] = body[9].split(",", 1)[0] + "," + body[10].split(",", 1)[1]
    path = write_csv(tmp / "dates.csv", body)
    return path, ["--qty", "1"], ["dates.csv:12", "date", body[9].split(",")[0]]


def high_below_close(tmp: Path) -> tuple[Path, list[str], list[str]]:
    path = write_csv(tmp / "highlow.csv", with_row(7, "2024-01-08,10000,10100,9950,10200,1000"))
    return path, ["--qty", "1"], ["highlow.csv:9", "high", "10,100", "10,200"]


def unparsable(tmp: Path) -> tuple[Path, list[str], list[str]]:
    path = write_csv(tmp / "nan.csv", with_row(2, "2024-01-03,10000,10050,9950,1O000,1000"))
    return path, ["--qty", "1"], ["nan.csv:4", "close", "1O000", "not a number"]


def empty_file(tmp: Path) -> tuple[Path, list[str], list[str]]:
    path = tmp / "empty.csv"
    path.write_text("")
    return path, ["--qty", "1"], ["empty.csv", "empty"]


def folder_without_csv(tmp: Path) -> tuple[Path, list[str], list[str]]:
    folder = tmp / "nodata"
    folder.mkdir()
    (folder / "README.txt").write_text("prices come later\n")
    (folder / "prices.csv.bak").write_text("\n".join([HEADER, *rows()]) + "\n")
    return folder, ["--qty", "1"], ["nodata", "no *.csv or *.parquet files"]


BAD_DATA: dict[str, Case] = {
    "off-grid price": off_grid,
    "float prices without --price-scale": floats_unscaled,
    "missing column": missing_column,
    "non-increasing dates": dates_not_increasing,
    "high below close": high_below_close,
    "unparsable number": unparsable,
    "empty file": empty_file,
    "folder without CSVs": folder_without_csv,
}


@pytest.mark.parametrize("case", BAD_DATA.values(), ids=BAD_DATA.keys())
def test_backtest_refuses_bad_data(tmp_path: Path, case: Case) -> None:
    data, extra, needles = case(tmp_path)
    out = tmp_path / "out"
    assert_refused(backtest(data, out, *extra), *needles)
    assert not (out / "summary.json").exists()
    assert not (out / "report.html").exists()


def test_good_data_is_accepted(tmp_path: Path) -> None:
    """The valid rows the bad cases are made from do run, so each refusal is about its defect."""
    data = write_csv(tmp_path / "good.csv", rows())
    out = tmp_path / "out"
    proc = backtest(data, out, "--qty", "1", "--param", "fast=3", "--param", "slow=8")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["symbol_bars"] == 40


# --- backtest: bad options --------------------------------------------------------------------

BAD_OPTIONS: dict[str, tuple[list[str], list[str]]] = {
    "unknown strategy": (
        ["--strategy", "sma_crossover"],
        ["sma_crossover", "unknown strategy", "sma_cross", "scalp_reversion", "swing_breakout"],
    ),
    "param not a number": (
        ["--strategy", "sma_cross", "--param", "fast=abc"],
        ["--param", "fast", "integer"],
    ),
    "fast not below slow": (
        ["--strategy", "sma_cross", "--param", "fast=40", "--param", "slow=30"],
        ["--param", "fast (40)", "slow (30)"],
    ),
    "unknown param": (
        ["--strategy", "sma_cross", "--param", "nope=1"],
        ["--param", "nope"],
    ),
    "param without value": (
        ["--strategy", "sma_cross", "--param", "fast"],
        ["--param", "fast", "KEY=VALUE"],
    ),
    "qty on a weight-sized strategy": (
        ["--strategy", "scalp_reversion", "--qty", "5"],
        ["--qty", "scalp_reversion", "weight"],
    ),
}


@pytest.mark.parametrize(("args", "needles"), BAD_OPTIONS.values(), ids=BAD_OPTIONS.keys())
def test_backtest_refuses_bad_options(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    data = write_csv(tmp_path / "good.csv", rows())
    out = tmp_path / "out"
    proc = qts("backtest", "--data", data, "--out", out, *args)
    assert_refused(proc, *needles)
    assert not (out / "summary.json").exists()


@pytest.mark.parametrize("scale", ["0", "-100", "nan"])
def test_backtest_refuses_non_positive_price_scale(tmp_path: Path, scale: str) -> None:
    data = tmp_path / "sp500.csv"
    shutil.copy(DATA / "sp500_daily_1999_2018.csv", data)
    out = tmp_path / "out"
    proc = backtest(data, out, "--qty", "1", f"--price-scale={scale}")
    assert_refused(proc, "--price-scale", scale)
    assert not (out / "summary.json").exists()


def test_refused_backtest_keeps_an_earlier_run(tmp_path: Path) -> None:
    """A refused run into the same --out and --db leaves the earlier results as they were."""
    out, db = tmp_path / "out", tmp_path / "bt.sqlite"
    good = write_csv(tmp_path / "good.csv", rows())
    args = ["--qty", "3", "--param", "fast=3", "--param", "slow=8", "--db", str(db)]
    first = backtest(good, out, *args)
    assert first.returncode == 0, first.stderr
    summary = (out / "summary.json").read_bytes()
    before = qts("ledger", "--db", db)
    assert before.returncode == 0 and len(before.stdout.splitlines()) > 1

    bad = write_csv(tmp_path / "bad.csv", with_row(4, "2024-01-05,10000,10050,9950,10005,1000"))
    # the books already hold a run: refused before the data is read
    assert_refused(backtest(bad, out, *args), str(db), "holds a backtest run", "differs in data")
    # on new books, the bad row is what is refused, and the new file is not left behind
    other = tmp_path / "other.sqlite"
    assert_refused(backtest(bad, out, *args[:-1], str(other)), "bad.csv:6", "close", "tick")
    assert not other.exists()
    assert (out / "summary.json").read_bytes() == summary
    after = qts("ledger", "--db", db)
    assert after.returncode == 0
    assert after.stdout == before.stdout


# --- ledger and config ------------------------------------------------------------------------


def test_ledger_of_missing_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "missing.sqlite"
    assert_refused(qts("ledger", "--db", db), "missing.sqlite", "no such database")
    assert not db.exists()


BROKEN_CONFIGS: dict[str, tuple[str, list[str]]] = {
    "invalid YAML": ("run:\n  seed: [7\nfees: krx\n", ["broken.yaml", "line", "YAML"]),
    "unknown key": ("run:\n  seed: 7\n  sped: 60\n", ["broken.yaml", "run.sped"]),
    "unknown top-level key": ("feez: krx\n", ["broken.yaml", "feez"]),
    "wrong type": ("run:\n  initial_cash: lots\n", ["broken.yaml", "run.initial_cash", "integer"]),
}


@pytest.mark.parametrize(("text", "needles"), BROKEN_CONFIGS.values(), ids=BROKEN_CONFIGS.keys())
def test_run_refuses_broken_config(tmp_path: Path, text: str, needles: list[str]) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text(text)
    db = tmp_path / "run.sqlite"
    proc = qts(*RUN, "--db", db, "--config", config)
    assert_refused(proc, *needles)
    assert not db.exists()
    assert not Path(f"{db}.venue").exists()


PG_URL = "postgresql://u@h:5432/qts"


@pytest.mark.parametrize("broker", ["sim", "kis"])
def test_run_refuses_a_database_url_for_db(tmp_path: Path, broker: str) -> None:
    """--db is a SQLite file: a PostgreSQL URL is refused, not taken for a folder name."""
    proc = subprocess.run(
        [sys.executable, "-m", "qts", *RUN, "--broker", broker, "--db", PG_URL],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
        check=False,
    )
    assert_refused(proc, "--db", "is a URL", "data.backend: postgres")
    assert list(tmp_path.iterdir()) == []


def test_config_check_lists_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "qts.yaml"
    config.write_text("feez: krx\nrun:\n  initial_cash: lots\nsim:\n  participation: 2\n")
    proc = qts("config", "check", "--config", config)
    assert_refused(proc)
    lines = proc.stderr.splitlines()
    for key in ("feez", "run.initial_cash", "sim.participation"):
        assert any(line.startswith(f"{config}: {key}: ") for line in lines), proc.stderr
    assert "3 problem(s)" in proc.stderr


# --- run: an existing database is never touched by a refused run ------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("seed7") / "day.sqlite"
    proc = qts(*RUN, "--db", db)
    assert proc.returncode == 0, proc.stderr
    return db


@pytest.fixture
def run_db(finished_run: Path, tmp_path: Path) -> Path:
    """A private copy of a finished seed-7 day (books and venue journal)."""
    for f in finished_run.parent.iterdir():
        if f.name.startswith(finished_run.name):
            shutil.copy(f, tmp_path / f.name)
    return tmp_path / finished_run.name


def snapshot(db: Path) -> tuple[str, list[str], list[str]]:
    """`qts ledger` output plus a full dump of the books and of the venue journal."""
    led = qts("ledger", "--db", db)
    assert led.returncode == 0, led.stderr
    dumps = []
    for path in (db, Path(f"{db}.venue")):
        conn = sqlite3.connect(path)
        try:
            dumps.append(list(conn.iterdump()))
        finally:
            conn.close()
    return led.stdout, dumps[0], dumps[1]


def test_run_on_another_runs_database_is_refused(run_db: Path) -> None:
    before = snapshot(run_db)
    assert len(before[0].splitlines()) > 20  # the day traded: there is something to lose
    proc = qts("run", "--seed", "8", "--speed", "max", "--for", "1d", "--db", run_db)
    message = assert_refused(proc, str(run_db), "belongs to another run", "seed")
    assert "stored 7" in message and "given 8" in message
    assert snapshot(run_db) == before


def test_run_with_broken_config_leaves_the_database_alone(run_db: Path, tmp_path: Path) -> None:
    before = snapshot(run_db)
    config = tmp_path / "broken.yaml"
    config.write_text("run:\n  seed: 7\n  sped: 60\n")
    assert_refused(qts(*RUN, "--db", run_db, "--config", config), "broken.yaml", "run.sped")
    assert snapshot(run_db) == before


@pytest.mark.parametrize(
    ("option", "value"), [("--speed", "fast"), ("--speed", "0"), ("--speed", "-2")]
)
def test_run_refuses_bad_speed(run_db: Path, option: str, value: str) -> None:
    before = snapshot(run_db)
    args = ["run", "--seed", "7", "--speed", "max", "--for", "1d", "--db", str(run_db)]
    args[args.index(option) + 1] = value
    assert_refused(qts(*args), option, value)
    assert snapshot(run_db) == before


@pytest.mark.parametrize("speed", ["nan", "inf"])
def test_run_refuses_non_finite_speed(run_db: Path, speed: str) -> None:
    before = snapshot(run_db)
    proc = qts("run", "--seed", "7", "--speed", speed, "--for", "1d", "--db", run_db)
    assert_refused(proc, "--speed", speed)
    assert snapshot(run_db) == before


@pytest.mark.parametrize("value", ["3x", "1", "-1d", "0d"])
def test_run_refuses_bad_duration(run_db: Path, value: str) -> None:
    before = snapshot(run_db)
    proc = qts("run", "--seed", "7", "--speed", "max", f"--for={value}", "--db", run_db)
    assert_refused(proc, "--for", value)
    assert snapshot(run_db) == before
