"""Is a file QTS books? What a tool may open (``access`` read/write: existing books only, never
created nor migrated) and what a run may not take for its books (a SQLite file that holds
something else). Checked without leaving ``-wal``/``-shm`` files beside a file that is no books.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

from qts.core.errors import StorageError
from qts.data.sqlite.schema import SCHEMA_VERSION

Access = Literal["create", "read", "write"]

# What every version of the books has: a file without them is something else.
BOOKS_TABLES = frozenset({"schema_version", "run_meta", "orders", "t_ledger", "state"})


class NotBooksError(StorageError):
    """The file given is not QTS books this code can open as asked (``reason`` says why)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"sqlite {path}: {reason}")


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return {str(r[0]) for r in rows}


def _tables_of(path: str, conn: sqlite3.Connection) -> set[str]:
    try:
        return _tables(conn)
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
            raise NotBooksError(path, f"is not a SQLite database ({exc})") from None
        raise


def _not_books(tables: set[str]) -> str:
    listed = ", ".join(sorted(tables)[:6]) + (", ..." if len(tables) > 6 else "")
    return f"is not QTS books (a SQLite database without the books schema; its tables: {listed})"


def _check_books(path: str, conn: sqlite3.Connection) -> None:
    """Refuse a database that is not QTS books at this code's schema version."""
    tables = _tables_of(path, conn)
    if not tables:
        raise NotBooksError(path, "is an empty database, not QTS books")
    if not tables >= BOOKS_TABLES:
        raise NotBooksError(path, _not_books(tables))
    (version,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    if version != SCHEMA_VERSION:
        fix = "upgrade QTS" if version > SCHEMA_VERSION else "a run on it (qts run) upgrades it"
        raise NotBooksError(
            path,
            f"QTS books at schema version {version}, this QTS reads version "
            f"{SCHEMA_VERSION}; {fix}",
        )


def connect_existing(path: str, access: Access) -> sqlite3.Connection:
    """Connect to books that must exist (never creating the file) and check they are books."""
    file = Path(path)
    if not file.exists():
        raise NotBooksError(path, "no such database")
    if file.is_dir():
        raise NotBooksError(path, "is a folder, not a database file")
    if file.stat().st_size == 0:
        raise NotBooksError(path, "is an empty file, not QTS books")
    base = file.resolve().as_uri()
    if not Path(f"{path}-wal").exists():
        # Everything committed is in the file itself: check it without opening it for real,
        # which in WAL mode would leave -wal and -shm files beside a file that is no books.
        _probe(path, f"{base}?mode=ro&immutable=1")
    uri = f"{base}?mode={'ro' if access == 'read' else 'rw'}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StorageError(f"sqlite {path}: cannot open: {exc}") from exc
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        _check_books(path, conn)
    except sqlite3.Error as exc:
        conn.close()
        raise StorageError(f"sqlite {path}: cannot read: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _probe(path: str, uri: str) -> None:
    try:
        probe = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise StorageError(f"sqlite {path}: cannot open: {exc}") from exc
    try:
        _check_books(path, probe)
    except sqlite3.Error as exc:
        raise StorageError(f"sqlite {path}: cannot read: {exc}") from exc
    finally:
        probe.close()


def refuse_foreign(path: str, conn: sqlite3.Connection) -> None:
    """A run's books may be a new file, but never a SQLite file that holds something else."""
    tables = _tables_of(path, conn)
    if tables and "schema_version" not in tables:
        raise NotBooksError(path, _not_books(tables))
