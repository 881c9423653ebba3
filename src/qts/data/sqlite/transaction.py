"""The SQLite trading store's transaction: BEGIN IMMEDIATE ... COMMIT, with SAVEPOINTs inside.

A file of its own because it is the one piece of the store that every write runs through, and
its rules (the store's lock held from BEGIN to COMMIT, nesting by depth, a failed COMMIT rolled
back) read best alone. It is the store's own helper: it works on SqliteStore's connection, lock
and depth, which are private to :mod:`qts.data.sqlite`.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qts.data.sqlite.store import SqliteStore


class Transaction:
    """BEGIN IMMEDIATE ... COMMIT at the outermost level, SAVEPOINT ... RELEASE inside it.

    IMMEDIATE takes the write lock at the start, so a transaction never fails halfway for want
    of it. A class rather than a generator: it runs around every write of a backtest.
    """

    __slots__ = ("_savepoint", "_store")

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._savepoint: str | None = None

    def __enter__(self) -> None:
        store = self._store
        store._lock.acquire()
        try:
            store._check_writable()
            depth = store._depth
            if depth == 0:
                store._conn.execute("BEGIN IMMEDIATE")
            else:
                self._savepoint = f"qts_sp{depth}"
                store._conn.execute(f"SAVEPOINT {self._savepoint}")
        except BaseException as exc:
            store._lock.release()
            if isinstance(exc, sqlite3.Error):
                raise store._error("begin", exc) from exc
            raise
        store._depth = depth + 1

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            self._end(exc_type)
        finally:
            self._store._lock.release()

    def _end(self, exc_type: type[BaseException] | None) -> None:
        store = self._store
        if store._closed:  # close() inside the block already rolled back
            return
        store._depth -= 1
        conn = store._conn
        name = self._savepoint
        try:
            if name is not None:
                if exc_type is not None:
                    conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            elif exc_type is not None:
                store._rollback()
            else:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error:
                    store._rollback()
                    raise
        except sqlite3.Error as exc:
            raise store._error("commit" if name is None else "savepoint", exc) from exc
