"""Paths given on the command line: refuse the unusable ones in one line naming the option."""

from __future__ import annotations

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
