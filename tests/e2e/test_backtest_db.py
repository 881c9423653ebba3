"""`qts backtest --db PATH` takes a new file: one that already holds a run is refused.

Before, a second backtest with new parameters on the same file resumed the old books (the old
trades under the new provenance), and one on other data died with a traceback from the venue
journal and left the writer's record in the lock file. Every case runs ``python -m qts``.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cli_run import run_qts

from qts.backtest.engine import BacktestSpec, run_backtest
from qts.core.errors import StorageError
from qts.data.writer_lock import current_holder
from qts.feeds.csv_loader import load_paths

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "400"}
qts = partial(run_qts, env=ENV, timeout=120)
FIRST = ["--strategy", "sma_cross", "--param", "fast=3", "--param", "slow=8", "--qty", "5"]


def write_bars(path: Path, n: int = 80, base: int = 10_000) -> Path:
    """``n`` daily bars in a zig-zag the moving-average cross trades on (tick 10)."""
    lines = ["date,open,high,low,close,volume"]
    for i in range(n):
        close = base + 10 * (40 * ((i // 10) % 2) + (i % 10) * (3 if (i // 10) % 2 else -3))
        day = date(2024, 1, 1) + timedelta(days=i)
        lines.append(f"{day},{close},{close + 50},{close - 50},{close},1000")
    path.write_text("\n".join(lines) + "\n")
    return path


def backtest(data: Path, out: Path, db: Path, *args: str) -> Any:
    return qts("backtest", "--data", data, "--out", out, "--db", db, *args)


def digest(*paths: Path) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def lock_record(db: Path) -> str:
    return Path(f"{db}.lock").read_text()


def assert_refused(proc: Any, *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


@pytest.fixture
def first_run(tmp_path: Path) -> tuple[Path, Path, Path]:
    data, db = write_bars(tmp_path / "kq.csv"), tmp_path / "h.sqlite"
    proc = backtest(data, tmp_path / "out1", db, *FIRST)
    assert proc.returncode == 0, proc.stderr
    trades = json.loads((tmp_path / "out1" / "summary.json").read_text())["trades"]
    assert trades and {t["qty"] for t in trades} == {5}
    return data, db, tmp_path


def test_other_parameters_on_the_same_db_are_refused(first_run: tuple[Path, Path, Path]) -> None:
    data, db, folder = first_run
    before = digest(db, Path(f"{db}.venue"))
    args = ["--strategy", "sma_cross", "--param", "fast=2", "--param", "slow=5", "--qty", "3"]
    proc = backtest(data, folder / "out2", db, *args)
    assert_refused(
        proc,
        f"--db: {db} holds a backtest run (sma_cross fast=3 qty=5 slow=8 on kq",
        "differs in params",
        "give a new file or delete it",
    )
    assert not (folder / "out2").exists()  # refused before anything was written
    assert digest(db, Path(f"{db}.venue")) == before
    assert lock_record(db) == ""


def test_other_data_on_the_same_db_is_refused_without_a_traceback(
    first_run: tuple[Path, Path, Path],
) -> None:
    _, db, folder = first_run
    other = write_bars(folder / "spx.csv", base=12_000)
    before = digest(db, Path(f"{db}.venue"))
    proc = backtest(other, folder / "out2", db, *FIRST)
    assert_refused(proc, f"{db} holds a backtest run", "differs in data")
    assert digest(db, Path(f"{db}.venue")) == before
    assert lock_record(db) == ""  # no writer's record left behind


def test_the_same_backtest_again_is_refused_too(first_run: tuple[Path, Path, Path]) -> None:
    """A backtest replays from its first bar: on books that already hold its trades its report
    would be wrong (the equity curve starting from the final account), so it is not resumed."""
    data, db, folder = first_run
    before = digest(db, Path(f"{db}.venue"))
    proc = backtest(data, folder / "out2", db, *FIRST)
    assert_refused(proc, f"{db} holds a backtest run (sma_cross", "the same backtest")
    assert not (folder / "out2").exists()
    assert digest(db, Path(f"{db}.venue")) == before
    assert lock_record(db) == ""


def test_a_paper_runs_books_and_a_left_venue_journal_are_refused(tmp_path: Path) -> None:
    data = write_bars(tmp_path / "kq.csv")
    db = tmp_path / "day.sqlite"
    proc = qts("run", "--seed", "7", "--speed", "max", "--for", "1m", "--db", db)
    assert proc.returncode == 0, proc.stderr
    assert_refused(backtest(data, tmp_path / "o", db, *FIRST), f"{db} holds a paper run")
    db.unlink()  # the books deleted, their venue journal forgotten
    assert_refused(backtest(data, tmp_path / "o", db, *FIRST), f"{db}.venue is the venue journal")
    assert not db.exists()


def test_a_build_that_fails_releases_the_writer_lock(tmp_path: Path) -> None:
    """Past the command's checks (the engine called directly), a venue journal of other
    symbols is a one-line StorageError, and the books are closed: the lock is free and empty."""
    db = tmp_path / "h.sqlite"
    first = load_paths([write_bars(tmp_path / "kq.csv")])
    run_backtest(
        BacktestSpec(first, "sma_cross", {"fast": 3, "slow": 8}, 10**8, db=db)
    ).engine.close()
    db.unlink()
    other = load_paths([write_bars(tmp_path / "spx.csv", base=12_000)])
    with pytest.raises(StorageError, match="not given as instruments: kq"):
        run_backtest(BacktestSpec(other, "sma_cross", {"fast": 3, "slow": 8}, 10**8, db=db))
    assert current_holder(db) is None
    assert lock_record(db) == ""
