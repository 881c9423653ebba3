"""The PostgreSQL database's transaction: BEGIN ... COMMIT on the thread's pinned connection,
with SAVEPOINTs inside.

A file of its own because it is the one piece of the database that every write runs through, and
its rules (a connection pinned to the thread from BEGIN to COMMIT, nesting by depth, the books'
writer check before COMMIT, a failed COMMIT rolled back) read best alone. It is the database's own
helper: it works on PostgresDatabase's pinned connection and pool, which are private to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg

from qts.core.errors import StorageError

if TYPE_CHECKING:
    from qts.data.postgres.database import PostgresDatabase


class Transaction:
    """BEGIN ... COMMIT on the thread's pinned connection at the outermost level, SAVEPOINT ...
    RELEASE inside it. A class rather than a generator: it runs around every write."""

    __slots__ = ("_db", "_savepoint", "_what")

    def __init__(self, db: PostgresDatabase, what: str = "") -> None:
        self._db = db
        self._what = what
        self._savepoint: str | None = None

    def _error(self, step: str, exc: BaseException | str) -> StorageError:
        return self._db.error(f"{self._what}: {step}" if self._what else step, exc)

    def __enter__(self) -> None:
        db = self._db
        db.check_open()
        state = db._state
        if state.depth == 0:
            conn = db._getconn()
            try:
                conn.execute("BEGIN")
            except psycopg.Error as exc:
                db._putconn(conn)
                raise self._error("begin", exc) from exc
            state.conn = conn
        else:
            pinned = state.conn
            assert pinned is not None
            self._savepoint = f"qts_sp{state.depth}"
            try:
                pinned.execute(f"SAVEPOINT {self._savepoint}")
            except psycopg.Error as exc:
                raise self._error("savepoint", exc) from exc
        state.depth += 1

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        db = self._db
        state = db._state
        conn = state.conn
        if conn is None or state.depth == 0:  # closed (and rolled back) inside the block
            return
        state.depth -= 1
        name = self._savepoint
        if name is not None:
            if conn.closed or conn.broken:
                if exc_type is None:
                    raise self._error("savepoint", "the connection was lost")
                return  # the error on its way out already says so
            try:
                if exc_type is not None:
                    conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
            except psycopg.Error as exc:
                raise self._error("savepoint", exc) from exc
            return
        state.conn = None
        try:
            if exc_type is not None:
                db._quiet_rollback(conn)
            else:
                try:
                    if db.before_commit is not None:
                        db.before_commit()
                except StorageError:
                    db._quiet_rollback(conn)
                    raise
                try:
                    conn.execute("COMMIT")
                except psycopg.Error as exc:
                    db._quiet_rollback(conn)
                    raise self._error("commit", exc) from exc
        finally:
            db._putconn(conn)
