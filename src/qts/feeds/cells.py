"""Text cells of one column as numpy arrays, or the first cell that cannot be one.

Why a module of its own: the bar loaders (CSV and Parquet, through ``SeriesBuilder``) and the
level loader read dates and numbers the same way, with the same refusals. A whole column is
checked with one regular expression and converted by numpy; per-cell Python work happens only
to explain a failure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from qts.core.errors import DataError
from qts.core.time import KST
from qts.feeds.bars import to_epoch
from qts.feeds.ticks import FloatArray, IntArray

KST_OFFSET_S = 9 * 3600
# Before this date Korea used other UTC offsets (summer time in 1987-88); such rows go through
# zoneinfo one by one instead of the fixed +09:00 shortcut.
_FIXED_OFFSET_FROM = np.datetime64("1989-01-01T00:00:00", "s")

_INT = r"[0-9]{1,18}"
_WHOLE = r"[0-9]{1,18}(?:\.0*)?"
_DEC = r"(?:[0-9]{1,15}(?:\.[0-9]*)?|\.[0-9]+)"
_DAY = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_MINUTE = rf"{_DAY}[ T][0-9]{{2}}:[0-9]{{2}}(?::[0-9]{{2}})?"


def _column_re(cell: str) -> re.Pattern[str]:
    """Matches a whole column joined by newlines: one C-level scan instead of a Python loop."""
    return re.compile(rf"{cell}(?:\n{cell})*")


_INT_COL = _column_re(_INT)
_WHOLE_COL = _column_re(_WHOLE)
_DEC_COL = _column_re(_DEC)
_DAY_COL = _column_re(_DAY)
_MINUTE_COL = _column_re(_MINUTE)
_NUMBER = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?")
_DAY_CELL = re.compile(_DAY)
_MINUTE_CELL = re.compile(_MINUTE)


def _joined(col: list[str]) -> str:
    """The column as one string; empty if a cell holds a newline (it would pass as two cells)."""
    joined = "\n".join(col)
    return joined if joined.count("\n") == len(col) - 1 else ""


class _Bad(NamedTuple):
    """A problem found in column data: row index (0 = first data row), column, reason."""

    row: int
    field: str
    reason: str


def _not_a_number(text: str) -> str:
    return "is empty" if not text.strip() else f"{text!r} is not a number"


def _split_number(text: str) -> tuple[bool, str, str] | None:
    """(negative, whole digits, fraction digits) of a plain decimal, or None."""
    m = _NUMBER.fullmatch(text.strip())
    if m is None or not (m[2] or m[3]):
        return None
    return m[1] == "-", m[2] or "0", m[3] or ""


def _whole_column(col: list[str], field: str, unit: str) -> IntArray | _Bad:
    """Integers, allowing a zero fraction (``123.0``); signs are parsed for a clearer refusal."""
    joined = _joined(col)
    if _INT_COL.fullmatch(joined):
        # every cell is 1-18 digits: numpy's text parser reads exactly what int() would
        return np.fromstring(joined, dtype=np.int64, sep="\n")
    if _WHOLE_COL.fullmatch(joined):
        return np.array([c.partition(".")[0] for c in col], dtype=np.int64)
    out: list[int] = []
    for i, cell in enumerate(col):
        parts = _split_number(cell)
        if parts is None:
            return _Bad(i, field, _not_a_number(cell))
        negative, whole, frac = parts
        if frac.strip("0"):
            hint = " (scale it to the tick grid with --price-scale K)" if unit == "KRW" else ""
            return _Bad(i, field, f"{cell.strip()} is not a whole number of {unit}{hint}")
        if len(whole.lstrip("0")) > 18:
            return _Bad(i, field, f"{cell.strip()} is too large")
        value = int(whole)
        out.append(-value if negative else value)
    return np.array(out, dtype=np.int64)


def _decimal_column(col: list[str], field: str) -> FloatArray | _Bad:
    joined = _joined(col)
    if _DEC_COL.fullmatch(joined):
        return np.array(col, dtype=np.float64)
    out: list[float] = []
    for i, cell in enumerate(col):
        parts = _split_number(cell)
        if parts is None:
            return _Bad(i, field, _not_a_number(cell))
        if len(parts[1].lstrip("0")) > 15:
            return _Bad(i, field, f"{cell.strip()} is too large")
        out.append(float(cell.strip()))
    return np.array(out, dtype=np.float64)


def _date_kind(text: str) -> str | None:
    if _DAY_CELL.fullmatch(text):
        return "date"
    if _MINUTE_CELL.fullmatch(text):
        return "date-time"
    return None


def _date_column(col: list[str]) -> tuple[IntArray, bool] | _Bad:
    """POSIX seconds of each row and whether the file is daily."""
    joined = _joined(col)
    if _DAY_COL.fullmatch(joined):
        daily, texts = True, col
    elif _MINUTE_COL.fullmatch(joined):
        daily, texts = False, [c.replace(" ", "T", 1) for c in col]
    else:
        stripped = [c.strip() for c in col]
        kinds = [_date_kind(c) for c in stripped]
        for i, kind in enumerate(kinds):
            if kind is None:
                return _Bad(
                    i,
                    "date",
                    f"{col[i]!r} is not a date (expected YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS])",
                )
        n_days = kinds.count("date")
        if 0 < n_days < len(kinds):
            # blame the rarer kind: one stray date-time in a daily file is the odd one out
            odd = "date" if n_days * 2 < len(kinds) else "date-time"
            usual = "date-time" if odd == "date" else "date"
            i = kinds.index(odd)
            return _Bad(i, "date", f"{stripped[i]} is a {odd} but most rows have a {usual}")
        return _date_column(stripped)
    wall = _wall_clock(col, texts)
    if isinstance(wall, _Bad):
        return wall
    epoch = _epochs(col, texts, wall, daily)
    return epoch if isinstance(epoch, _Bad) else (epoch, daily)


def _wall_clock(col: list[str], texts: list[str]) -> npt.NDArray[np.datetime64] | _Bad:
    """ISO texts as naive datetimes (``col``: the cells as quoted in a refusal)."""
    try:
        return np.array(texts, dtype="datetime64[s]")
    except ValueError:
        for i, cell in enumerate(texts):
            try:
                datetime.fromisoformat(cell)
            except ValueError as exc:
                return _Bad(i, "date", f"{col[i]} is not a valid date ({exc})")
        raise  # numpy refused what Python accepts: a bug worth seeing, not a data error


def _epochs(
    col: list[str], texts: list[str], wall: npt.NDArray[np.datetime64], daily: bool
) -> IntArray | _Bad:
    """POSIX seconds of KST wall-clock times (zoneinfo before 1989: summer time)."""
    # daily bars start 09:00 KST, which is 00:00 UTC of the same date
    epoch = wall.astype(np.int64) - (0 if daily else KST_OFFSET_S)
    for k in np.flatnonzero(wall < _FIXED_OFFSET_FROM):
        i = int(k)
        try:
            local = datetime.fromisoformat(texts[i]).replace(tzinfo=KST)
            if daily:
                local += timedelta(hours=9)
            epoch[i] = to_epoch(local)
        except (ValueError, OverflowError) as exc:
            return _Bad(i, "date", f"{col[i]} is not a usable date ({exc})")
    return epoch


def _raise_first(path: Path, lines: Sequence[int | str], problems: list[_Bad]) -> None:
    if problems:
        bad = min(problems, key=lambda b: b.row)
        raise DataError(f"{path}:{lines[bad.row]}", bad.field, bad.reason)
