"""Paths given on the command line: refuse the unusable ones in one line naming the option."""

from __future__ import annotations

import re
from pathlib import Path

from qts.core.errors import InputError


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
