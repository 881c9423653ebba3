"""`qts run` end to end: seeded runs are identical, and a run killed at any point (SIGKILL) or
stopped (SIGTERM) resumes to the very same ledger without sending anything twice."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
from cli_run import run_qts

RUN = ["run", "--seed", "7", "--speed", "max", "--for", "1d"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


qts = partial(run_qts, env=ENV)


def ledger(db: Path) -> list[dict[str, object]]:
    proc = qts("ledger", "--db", str(db), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows: list[dict[str, object]] = json.loads(proc.stdout)
    return rows


def venue_orders(db: Path) -> list[str]:
    with sqlite3.connect(f"{db}.venue") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        table = "orders" if "orders" in tables else next(t for t in tables if "order" in t)
        return [r[0] for r in conn.execute(f"SELECT client_order_id FROM {table}")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, object]], Path]:
    db = tmp_path_factory.mktemp("ref") / "ref.sqlite"
    proc = qts(*RUN, "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert "FILL" in proc.stdout
    # the status panel shows the operating state and the three pools
    assert re.search(r"state BALANCED .*pools: scalp [0-9,]+ \(avail [0-9,]+\)", proc.stdout)
    return ledger(db), db


@pytest.mark.timeout(900)
def test_ten_seeded_runs_give_identical_ledgers(
    tmp_path: Path, reference: tuple[list[dict[str, object]], Path]
) -> None:
    expected, _ = reference
    assert len(expected) > 20

    def run(i: int) -> Path:
        db = tmp_path / f"run{i}.sqlite"
        proc = qts(*RUN, "--db", str(db))
        assert proc.returncode == 0, proc.stderr
        return db

    # two at a time: each run is its own process and its own books
    with ThreadPoolExecutor(max_workers=2) as pool:
        for db in pool.map(run, range(9)):
            assert ledger(db) == expected


def test_other_seed_trades_differently(
    tmp_path: Path, reference: tuple[list[dict[str, object]], Path]
) -> None:
    db = tmp_path / "seed8.sqlite"
    proc = qts("run", "--seed", "8", "--speed", "max", "--for", "1d", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert ledger(db) != reference[0]


def _interrupt(db: Path, after_fills: int, sig: int) -> int:
    """Start a run, wait until it has printed ``after_fills`` fills, then send ``sig``."""
    child = subprocess.Popen(
        [sys.executable, "-m", "qts", *RUN, "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=ENV,
    )
    assert child.stdout is not None
    seen = 0
    for line in child.stdout:
        seen += " FILL " in line
        if seen >= after_fills:
            child.send_signal(sig)
            break
    child.stdout.read()
    return child.wait()


@pytest.mark.parametrize("after_fills", [1, 25, 120])
def test_sigkill_then_restart_ends_with_the_same_ledger(
    tmp_path: Path, reference: tuple[list[dict[str, object]], Path], after_fills: int
) -> None:
    expected, ref_db = reference
    db = tmp_path / "killed.sqlite"
    code = _interrupt(db, after_fills, signal.SIGKILL)
    assert code in (-signal.SIGKILL, 0)  # it may have finished the day before the signal landed
    partial = ledger(db)
    assert partial == expected[: len(partial)]
    proc = qts(*RUN, "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert ledger(db) == expected
    sent = venue_orders(db)
    assert len(sent) == len(set(sent)) == len(venue_orders(ref_db))


def test_sigterm_stops_cleanly_and_resumes(
    tmp_path: Path, reference: tuple[list[dict[str, object]], Path]
) -> None:
    expected, _ = reference
    db = tmp_path / "stopped.sqlite"
    assert _interrupt(db, 10, signal.SIGTERM) == 0
    proc = qts(*RUN, "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert "resumed" in proc.stdout
    assert ledger(db) == expected
