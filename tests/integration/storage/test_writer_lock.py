"""The writer lock on a real file: exclusive between opens, readers unaffected, a stale record
taken over, and a clean close leaves the books free."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from qts.core.errors import StorageError
from qts.data import SqliteStore
from qts.data.sqlite import NotBooksError
from qts.data.sqlite.books_file import Access
from qts.data.writer_lock import BooksLocked, WriterLock, current_holder


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "books.sqlite"
    with SqliteStore(db, writer=True) as first:
        assert first.writer_lock is not None and first.writer_lock.held
        with pytest.raises(BooksLocked) as refused:
            SqliteStore(db, writer=True)
        assert refused.value.holder is not None
        assert refused.value.holder.pid == os.getpid()
        assert f"pid {os.getpid()}" in str(refused.value)
        assert "since " in str(refused.value) and "on host " in str(refused.value)
        # a reader opens and reads while the writer holds the books
        with SqliteStore(db, writer=False) as reader:
            assert reader.load_ledger() == []
        holder = current_holder(db)
        assert holder is not None and holder.pid == os.getpid()
    assert current_holder(db) is None
    with SqliteStore(db, writer=True) as again:  # released by close
        assert again.writer_lock is not None and again.writer_lock.taken_over is None


def test_a_record_left_by_a_dead_holder_is_taken_over(tmp_path: Path) -> None:
    db = tmp_path / "books.sqlite"
    dead = {"pid": 999_999, "host": "gone", "since": "2026-01-01T00:00:00+00:00", "command": "x"}
    Path(f"{db}.lock").write_text(json.dumps(dead))
    lock = WriterLock(db).acquire()
    try:
        assert lock.taken_over is not None and lock.taken_over.pid == 999_999
        assert json.loads(Path(f"{db}.lock").read_text())["pid"] == os.getpid()
    finally:
        lock.release()
    assert Path(f"{db}.lock").read_text() == ""


def test_a_failed_open_releases_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "not-a-db.sqlite"
    db.write_bytes(b"this is not a database file" * 200)
    with pytest.raises(Exception, match="not-a-db"):
        SqliteStore(db, writer=True)
    assert current_holder(db) is None
    WriterLock(db).acquire().release()


def test_a_read_only_reader_sees_what_the_writer_commits_meanwhile(tmp_path: Path) -> None:
    """Tools open the books read-only (``access="read"``) while the run writes: they see each
    commit, cannot write, and take no lock."""
    db = tmp_path / "books.sqlite"
    with SqliteStore(db, writer=True) as run:
        run.save_state("k", {"n": 1})
        with SqliteStore(db, access="read") as reader, SqliteStore(db, access="write") as tool:
            assert reader.load_state("k") == {"n": 1}
            run.save_state("k", {"n": 2})
            assert reader.load_state("k") == {"n": 2}
            tool.save_state("request", {"by": "op"})  # a tool that records something
            assert run.load_state("request") == {"by": "op"}
            with pytest.raises(StorageError, match="readonly"):
                reader.save_state("k", {"n": 3})
        assert run.load_state("k") == {"n": 2}
        holder = current_holder(db)
        assert holder is not None and holder.pid == os.getpid()


@pytest.mark.parametrize("access", ["create", "read", "write"])
def test_a_sqlite_file_of_something_else_is_never_made_books(
    tmp_path: Path, access: Access
) -> None:
    db = tmp_path / "cache.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE ohlcv_1d (symbol TEXT, close INTEGER)")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(NotBooksError, match=r"is not QTS books.*ohlcv_1d"):
        SqliteStore(db, access=access)
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.sqlite"]
