"""Where a backtest writes its report: checked before the run, written whole or not at all.

A backtest may run for minutes; finding only afterwards that ``--out`` is a file, read-only or on
a full disk wastes the run and used to leave a 0-byte ``summary.json.tmp``. ``check_out_dir``
answers before any work: the folder exists or can be made, is writable, and has room for the
report. ``write_whole`` writes next to the target and renames, removing its temporary file on any
failure, and turns the operating system's refusal into one line naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from qts.core.errors import InputError

# A report page with a long equity curve and trade table stays far below this.
MIN_FREE_BYTES = 4 * 1024 * 1024
_PROBE = ".qts-write-probe"


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or str(exc)


def check_out_dir(out: Path, option: str = "--out") -> None:
    """Refuse, before the run, an output folder the report could not be written to."""
    if out.exists() and not out.is_dir():
        raise InputError(option, str(out), "exists and is not a folder; give a folder path")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(option, str(out), f"{existing} is a file, not a folder")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / _PROBE
        with probe.open("wb") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            (out / _PROBE).unlink()
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise InputError(option, str(out), f"cannot write there: {_reason(exc)}") from None
    free = shutil.disk_usage(out).free
    if free < MIN_FREE_BYTES:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise InputError(
            option,
            str(out),
            f"only {free // 1024} KB free on its file system; the report needs "
            f"{MIN_FREE_BYTES // (1024 * 1024)} MB",
        )


def make_dir(out: Path, option: str = "--out") -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(option, str(out), f"cannot create the folder: {_reason(exc)}") from None


def write_whole(path: Path, text: str, option: str = "--out") -> None:
    """Write ``text`` to ``path`` atomically; on failure nothing is left behind."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise InputError(option, str(path), f"cannot write the report: {_reason(exc)}") from None
