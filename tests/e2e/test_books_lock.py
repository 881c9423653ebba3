"""One writer per set of books, with real processes: a second ``qts run`` on the same ``--db`` is
refused at start naming the holder, readers keep working, and the lock of a run killed with
SIGKILL is taken over by the next run, which resumes to the reference ledger."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
from cli_run import run_qts

from qts.data.writer_lock import WriterLock

RUN = ["run", "--seed", "7", "--for", "1d"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


qts = partial(run_qts, env=ENV)


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "qts", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def ledger(db: Path) -> list[dict[str, object]]:
    proc = qts("ledger", "--db", str(db), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows: list[dict[str, object]] = json.loads(proc.stdout)
    return rows


def wait_for_holder(db: Path, pid: int, deadline_s: float = 60.0) -> dict[str, object]:
    """Wait (on the lock file's content, with a deadline) until ``pid`` holds the books."""
    lock = Path(f"{db}.lock")
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            holder: dict[str, object] = json.loads(lock.read_text())
            if holder.get("pid") == pid:
                return holder
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} never took the lock of {db}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    db = tmp_path_factory.mktemp("ref") / "ref.sqlite"
    proc = qts(*RUN, "--speed", "max", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    rows = ledger(db)
    assert len(rows) > 20
    return rows


def test_second_writer_is_refused_readers_allowed_and_a_killed_holder_is_taken_over(
    tmp_path: Path, reference: list[dict[str, object]]
) -> None:
    db = tmp_path / "books.sqlite"
    first = start(*RUN, "--speed", "600", "--db", str(db))  # paced: it runs for a while
    try:
        holder = wait_for_holder(db, first.pid)
        second = qts(*RUN, "--speed", "max", "--db", str(db))
        assert second.returncode != 0
        assert "Traceback" not in second.stderr + second.stdout
        message = second.stderr
        assert "in use by another writer" in message
        assert f"pid {first.pid}" in message
        assert f"on host {holder['host']}" in message
        assert f"since {holder['since']}" in message
        assert first.poll() is None, "the refused writer must not disturb the holder"

        # readers are allowed while the writer writes
        assert isinstance(ledger(db), list)
        status = qts("safety", "status", "--db", str(db))
        assert status.returncode == 0, status.stderr
        assert f"writer: pid {first.pid}" in status.stdout
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    # the dead holder's record is still in the file, but the kernel released its lock
    assert json.loads(Path(f"{db}.lock").read_text())["pid"] == first.pid
    resumed = qts(*RUN, "--speed", "max", "--db", str(db))
    assert resumed.returncode == 0, resumed.stderr
    assert f"taking over the writer lock left by pid {first.pid}" in resumed.stderr
    assert ledger(db) == reference
    assert Path(f"{db}.lock").read_text() == ""  # a clean stop clears the record
    assert "writer: none" in qts("safety", "status", "--db", str(db)).stdout


def test_two_writers_started_at_once_one_runs_one_is_refused(
    tmp_path: Path, reference: list[dict[str, object]]
) -> None:
    db = tmp_path / "race.sqlite"
    procs = [start(*RUN, "--speed", "max", "--db", str(db)) for _ in range(2)]
    outs = [p.communicate() for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes[0] == 0 and codes[1] != 0, outs
    refused = next(err for p, (_, err) in zip(procs, outs, strict=True) if p.returncode != 0)
    assert "in use by another writer" in refused and "Traceback" not in refused
    assert ledger(db) == reference


def test_a_refused_writer_touches_no_file_beside_the_books(tmp_path: Path) -> None:
    """The books' lock is taken before anything else is opened: a second run used to open the
    market cache (``<db>.market``) first and could fail there on the holder's write lock
    ("database is locked") instead of being refused as the second writer."""
    db = tmp_path / "books.sqlite"
    market = sqlite3.connect(f"{db}.market", isolation_level=None)
    market.execute("CREATE TABLE held (x)")
    market.execute("BEGIN EXCLUSIVE")  # as if the holder were writing to it
    try:
        with WriterLock(db):
            proc = qts(*RUN, "--speed", "max", "--db", str(db))
    finally:
        market.execute("ROLLBACK")
        market.close()
    assert proc.returncode != 0
    message = " ".join(proc.stderr.split())
    assert "in use by another writer" in message and "database is locked" not in message, message
