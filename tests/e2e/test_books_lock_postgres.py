"""One writer per set of books in PostgreSQL, with real processes (the twin of
test_books_lock.py): a second ``qts run`` on the same schema is refused at start naming the
holder, readers keep working, and when the holder is killed with SIGKILL the server ends its
session, its advisory lock goes with it, and the next run takes the books over and resumes to
the reference ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import psycopg
import pytest
from cli_run import run_qts
from psycopg import sql

from qts.data.postgres import PostgresStore
from qts.data.sqlite import SqliteStore

DSN = os.environ.get("QTS_TEST_PG_DSN") or "postgresql://postgres@127.0.0.1:5432/test"
RUN = ["run", "--seed", "7", "--for", "1d"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"qts_e2e_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def config(tmp_path: Path, schema: str) -> Path:
    path = tmp_path / "qts.yaml"
    path.write_text(f"data:\n  backend: postgres\n  dsn: {DSN}\n  pg_schema: {schema}\n")
    return path


qts = partial(run_qts, env=ENV)


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "qts", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def holder_row(schema: str) -> tuple[int, str, str] | None:
    with psycopg.connect(DSN, autocommit=True) as conn:
        try:
            row = conn.execute(
                sql.SQL("SELECT pid, host, since FROM {}").format(
                    sql.Identifier(schema, "books_writer")
                )
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return None if row is None else (int(row[0]), str(row[1]), str(row[2]))


def wait_for_holder(schema: str, pid: int, deadline_s: float = 60.0) -> tuple[int, str, str]:
    """Wait (on the holder row, with a deadline) until ``pid`` holds the books."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        row = holder_row(schema)
        if row is not None and row[0] == pid:
            return row
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} never took the books of schema {schema}")


def pg_ledger(schema: str) -> list[object]:
    store = PostgresStore(DSN, schema=schema, migrate=False, min_size=1, max_size=1)
    try:
        return list(store.load_ledger())
    finally:
        store.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[object]:
    """The uninterrupted day's ledger (SQLite books: the store is not part of the result)."""
    db = tmp_path_factory.mktemp("ref") / "ref.sqlite"
    proc = qts(*RUN, "--speed", "max", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    store = SqliteStore(db)
    try:
        rows = list(store.load_ledger())
    finally:
        store.close()
    assert len(rows) > 20
    return rows


def db_status(schema: str) -> str:
    proc = qts("db", "status", "--dsn", DSN, "--schema", schema)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_second_writer_is_refused_readers_allowed_and_a_killed_holder_is_taken_over(
    tmp_path: Path, schema: str, config: Path, reference: list[object]
) -> None:
    db = tmp_path / "books.sqlite"  # the simulated venue's journal lives beside it
    cfg = ("--config", str(config), "--db", str(db))
    first = start(*RUN, "--speed", "600", *cfg)  # paced: it runs for a while
    try:
        pid, host, _ = wait_for_holder(schema, first.pid)
        second = qts(*RUN, "--speed", "max", *cfg)
        assert second.returncode != 0
        assert "Traceback" not in second.stderr + second.stdout
        message = second.stderr
        assert "in use by another writer" in message, message
        assert f"[{schema}]" in message
        assert f"pid {pid} on host {host} since " in message
        assert first.poll() is None, "the refused writer must not disturb the holder"

        # readers are allowed while the writer writes
        assert isinstance(pg_ledger(schema), list)
        assert f"writer: pid {first.pid} on host {host}" in db_status(schema)
        safety = qts("safety", "status", "--dsn", DSN, "--schema", schema)
        assert safety.returncode == 0, safety.stderr
        assert f"writer: pid {first.pid} on host {host}" in safety.stdout
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    # the dead holder's row is still there; the server ended its session and so its lock
    row = holder_row(schema)
    assert row is not None and row[0] == first.pid
    assert "writer: none" in db_status(schema)
    assert "writer: none" in qts("safety", "status", "--dsn", DSN, "--schema", schema).stdout
    resumed = qts(*RUN, "--speed", "max", *cfg)
    assert resumed.returncode == 0, resumed.stderr
    assert f"taking over the writer lock left by pid {first.pid}" in resumed.stderr
    assert pg_ledger(schema) == reference
    assert holder_row(schema) is None  # a clean stop clears the row
    assert "writer: none" in db_status(schema)


def test_two_writers_started_at_once_one_runs_one_is_refused(
    tmp_path: Path, schema: str, config: Path, reference: list[object]
) -> None:
    db = tmp_path / "race.sqlite"
    procs = [
        start(*RUN, "--speed", "max", "--config", str(config), "--db", str(db)) for _ in range(2)
    ]
    outs = [p.communicate() for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes[0] == 0 and codes[1] != 0, outs
    refused = next(err for p, (_, err) in zip(procs, outs, strict=True) if p.returncode != 0)
    assert "in use by another writer" in refused and "Traceback" not in refused
    assert pg_ledger(schema) == reference
