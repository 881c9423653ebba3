"""Paths given on the command line: refuse the unusable ones in one line naming the option."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from qts.core.errors import InputError

if TYPE_CHECKING:
    from qts.data.sqlite import SqliteStore


def parent_dir(path: Path, option: str) -> None:
    """Make sure ``path``'s folder exists (creating it), or refuse naming ``option``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(option, str(path), f"cannot create its folder: {exc.strerror}") from None
    if path.exists() and path.is_dir():
        raise InputError(option, str(path), "is a folder; give a file path")


def sqlite_file(path: Path, option: str) -> Path:
    """Refuse a database URL where a SQLite file is expected (Path would fold ``//`` into ``/``
    and the run would quietly create a folder named after the URL)."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:/", str(path)):
        raise InputError(
            option,
            str(path),
            "is a URL; --db takes a SQLite file. For PostgreSQL books set data.backend: postgres "
            "in the config and the DSN in QTS_PG_DSN",
        )
    return path


_SQLITE_MAGIC = b"SQLite format 3\x00"


def folder(path: Path, option: str) -> None:
    """Refuse ``path`` when it, or a folder above it, is a file (it can never be a folder)."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                what = "is a file" if p == path else f"is under the file {p}"
                raise InputError(option, str(path), f"{what}; give a folder")
            return


def sqlite_database(path: Path, option: str, *, must_exist: bool = True) -> None:
    """Refuse a path that is not (and, with ``must_exist=False``, could not become) a SQLite
    database, naming ``option``."""
    sqlite_file(path, option)
    folder(path.parent, option)
    if not path.exists():
        if must_exist:
            raise InputError(option, str(path), "no such database")
        return
    if path.is_dir():
        raise InputError(option, str(path), "is a folder; give the database file")
    try:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise InputError(option, str(path), f"cannot read it: {exc.strerror}") from None
    if head and head != _SQLITE_MAGIC:
        raise InputError(option, str(path), "is not a SQLite database")


def open_books(path: Path, option: str = "--db", *, write: bool = False) -> SqliteStore:
    """A run's existing SQLite books for a tool: read-only, or (``write``, for a command that
    records something) read-write; never created nor migrated. A path that is missing, empty,
    not SQLite, not QTS books or at another schema version is refused in one line naming
    ``option``, the file and the reason, and the file is left as it was."""
    sqlite_file(path, option)
    from qts.data.sqlite import NotBooksError, SqliteStore

    try:
        return SqliteStore(path, access="write" if write else "read")
    except NotBooksError as exc:
        raise InputError(option, str(path), exc.reason) from None
