"""The writer lock of books in PostgreSQL, on the real server: exclusive between writers of one
schema, readers unaffected, a holder whose server session ended is taken over, and a writer
that lost its session refuses to commit."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from pg_helpers import PLAIN, SCHEMAS, admin
from storage_helpers import META

from qts.core.errors import StorageError
from qts.data.postgres import PostgresDatabase, PostgresStore
from qts.data.postgres.writer_lock import PostgresWriterLock
from qts.data.writer_lock import BooksLocked


@pytest.fixture
def schema() -> Iterator[str]:
    with SCHEMAS.scratch() as name:
        PostgresDatabase(PLAIN.dsn, schema=name, migrate=True).close()
        yield name


def writer(schema: str) -> PostgresStore:
    return PostgresStore(PLAIN.dsn, schema=schema, writer=True, min_size=1, max_size=2)


def status_writer(schema: str) -> str:
    with PostgresDatabase(PLAIN.dsn, schema=schema, min_size=1, max_size=1) as db:
        return str(db.status()["writer"])


def test_a_second_writer_is_refused_naming_the_holder(schema: str) -> None:
    with writer(schema) as first:
        assert first.writer_lock is not None and first.writer_lock.held
        first.init_run(META)
        with pytest.raises(BooksLocked) as refused:
            writer(schema)
        holder = refused.value.holder
        assert holder is not None and holder.pid == os.getpid()
        assert holder.host == socket.gethostname()
        message = str(refused.value)
        assert "in use by another writer" in message and f"[{schema}]" in message
        assert f"pid {os.getpid()} on host {holder.host} since {holder.since}" in message
        # a reader opens and reads while the writer holds the books
        with PostgresStore(PLAIN.dsn, schema=schema, min_size=1, max_size=1) as reader:
            assert reader.run_meta() is not None and reader.load_ledger() == []
        assert status_writer(schema).startswith(f"pid {os.getpid()} on host ")
        first.save_state("probe", {"n": 1})  # the holder writes on
    assert status_writer(schema) == "none (no run holds the books)"
    with writer(schema) as again:  # released (and the row cleared) by close
        assert again.writer_lock is not None and again.writer_lock.taken_over is None


def test_a_holder_whose_session_ended_is_taken_over_and_can_no_longer_commit(
    schema: str,
) -> None:
    first = writer(schema)
    try:
        first.init_run(META)
        lock = first.writer_lock
        assert lock is not None and lock.backend_pid is not None
        # what the server does when the holder's process dies: its session ends
        with admin() as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (lock.backend_pid,))
        with writer(schema) as second:
            assert second.writer_lock is not None
            dead = second.writer_lock.taken_over
            assert dead is not None and dead.pid == os.getpid()
            assert second.run_meta() is not None
            second.save_state("probe", {"by": "second"})
            # the first writer's pool still works, but it must not write the books any more
            with pytest.raises(StorageError, match="lost the writer lock"):
                first.save_state("probe", {"by": "first"})
            with pytest.raises(StorageError, match="lost the writer lock"), first.transaction():
                first.save_state("probe", {"by": "first"})
            assert second.load_state("probe") == {"by": "second"}
    finally:
        first.close()
    assert status_writer(schema) == "none (no run holds the books)"


def test_a_refused_writer_holds_nothing(schema: str) -> None:
    with PostgresDatabase(PLAIN.dsn, schema=schema, min_size=1, max_size=1) as db:
        with PostgresWriterLock(db):
            with pytest.raises(BooksLocked):
                PostgresWriterLock(db).acquire()
            with pytest.raises(BooksLocked):  # the refusal left no session behind
                PostgresWriterLock(db).acquire()
        with PostgresWriterLock(db) as lock:
            assert lock.held and lock.taken_over is None
