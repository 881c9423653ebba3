"""Commands given a file that is not a run's books: refused in one line, the file untouched.

A user who points ``--db`` at the wrong file (the market-data cache ``day.sqlite.market``, the
simulated venue's journal ``day.sqlite.venue``, an empty file, a typo) must get an error naming
the file and the reason, and the file must keep every byte: the reading commands open the books
read-only, and no command turns a foreign file into books. Every case runs ``python -m qts`` in a
subprocess, as a user would.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from cli_run import run_qts

from qts.data.ports import CHECKPOINT_KEY
from qts.data.sqlite import SqliteStore

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "400"}
qts = partial(run_qts, env=ENV, timeout=120)

TOMORROW = (datetime.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
READERS = [
    ("ledger",),
    ("ledger", "--format", "json"),
    ("safety", "status"),
    ("safety", "history"),
    ("capital", "status"),
    ("capital", "history"),
    ("capital", "history", "--days"),
    ("state", "status"),
    ("state", "history"),
]
WRITERS = [
    ("safety", "approve-recovery", "--operator", "op", "--reason", "checked"),
    ("state", "set", "DEFENSIVE", "--until", TOMORROW, "--reason", "test"),
]
WRONG = {
    "market": "is not QTS books",
    "venue": "is not QTS books",
    "empty": "is an empty file",
    "missing": "no such database",
}


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-day paper run: its books, market cache and venue journal."""
    db = tmp_path_factory.mktemp("day") / "day.sqlite"
    proc = qts("run", "--seed", "7", "--speed", "max", "--for", "1d", "--db", db)
    assert proc.returncode == 0, proc.stderr
    return db


def wrong_file(kind: str, day: Path, folder: Path) -> Path:
    path = folder / f"{kind}.sqlite"
    if kind in ("market", "venue"):
        shutil.copyfile(f"{day}.{kind}", path)
    elif kind == "empty":
        path.touch()
    return path


def state_of(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` with the SHA-256 of its bytes."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_refused(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


@pytest.mark.parametrize("kind", list(WRONG))
@pytest.mark.parametrize("command", READERS + WRITERS, ids=" ".join)
def test_a_wrong_file_is_refused_and_left_as_it_was(
    command: tuple[str, ...], kind: str, day: Path, tmp_path: Path
) -> None:
    path = wrong_file(kind, day, tmp_path)
    before = state_of(tmp_path)
    proc = qts(*command, "--db", path)
    assert_refused(proc, "--db", str(path), WRONG[kind])
    assert state_of(tmp_path) == before  # same bytes, nothing created beside (no -wal, -shm)
    assert path.exists() == (kind != "missing")


@pytest.mark.parametrize("kind", ["market", "venue", "empty"])
def test_a_run_refuses_a_foreign_sqlite_file_for_its_books(
    kind: str, day: Path, tmp_path: Path
) -> None:
    """`qts run` may create new books, but never migrates another file into books."""
    path = wrong_file(kind, day, tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    proc = qts("run", "--seed", "7", "--speed", "max", "--for", "1m", "--db", path)
    if kind == "empty":  # an empty file is a new database: the run makes it its books
        assert proc.returncode == 0, proc.stderr
        return
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    assert str(path) in proc.stderr and "is not QTS books" in proc.stderr, proc.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_the_dashboard_refuses_a_foreign_file(day: Path, tmp_path: Path) -> None:
    path = wrong_file("venue", day, tmp_path)
    before = state_of(tmp_path)
    assert_refused(qts("dashboard", "--db", path, "--port", "0"), str(path), "is not QTS books")
    assert state_of(tmp_path) == before


def test_backup_list_only_lists(day: Path, tmp_path: Path) -> None:
    """`qts backup list` never opens the books (it also serves broken books, to restore them)."""
    path = wrong_file("market", day, tmp_path)
    before = state_of(tmp_path)
    proc = qts("backup", "list", "--db", path)
    assert proc.returncode == 0, proc.stderr
    assert "no backups" in proc.stdout
    assert state_of(tmp_path) == before


def test_readers_leave_real_books_as_they_were(day: Path, tmp_path: Path) -> None:
    db = tmp_path / "books.sqlite"
    shutil.copyfile(day, db)
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    for command in READERS:
        proc = qts(*command, "--db", db)
        assert proc.returncode == 0, (command, proc.stderr)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    assert len(qts("ledger", "--db", db).stdout.splitlines()) > 2  # the day's fills are there
    # a command that records something still may (its --until on the paper run's own clock)
    reader = SqliteStore(db, access="read")
    clock = datetime.fromisoformat(reader.load_state(CHECKPOINT_KEY)["ts"])
    reader.close()
    until = (clock + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M%z")
    proc = qts("state", "set", "DEFENSIVE", "--db", db, "--until", until, "--reason", "test")
    assert proc.returncode == 0, proc.stderr
    assert "override to DEFENSIVE requested" in qts("state", "status", "--db", db).stdout


def test_books_of_another_schema_version_are_refused_not_migrated(
    day: Path, tmp_path: Path
) -> None:
    db = tmp_path / "old.sqlite"
    shutil.copyfile(day, db)
    with sqlite3.connect(db) as conn:
        (latest,) = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        conn.execute("DELETE FROM schema_version WHERE version = ?", (latest,))
    conn.close()
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    for command in (("ledger",), ("safety", "status"), WRITERS[1]):
        assert_refused(
            qts(*command, "--db", db), str(db), f"schema version {latest - 1}", "qts run"
        )
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
