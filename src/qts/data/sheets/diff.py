"""Comparing rendered rows with what the spreadsheet holds, so a write sends only what differs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from qts.data.sheets import cells
from qts.data.sheets.rows import Cell, Rows


def norm(row: Sequence[Any]) -> tuple[str, ...]:
    """A row as Google reads it back (formatted strings, trailing blanks trimmed)."""
    out = [_as_read(v) for v in row]
    while out and out[-1] == "":
        out.pop()
    return tuple(out)


def _as_read(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return str(value)


def pad(row: list[Cell], width: int) -> list[Cell]:
    return row + [""] * (width - len(row))


def runs(indices: list[int]) -> Iterator[tuple[int, int]]:
    """Consecutive runs of sorted indices as [start, stop)."""
    if not indices:
        return
    start = prev = indices[0]
    for i in indices[1:]:
        if i != prev + 1:
            yield start, prev + 1
            start = i
        prev = i
    yield start, prev + 1


def check_sizes(sheet: str, block: Rows) -> None:
    for row in block:
        for value in row:
            if isinstance(value, str) and len(value) > cells.MAX_CELL_CHARS:
                raise ValueError(
                    f"{sheet}: a value of {len(value)} characters does not fit in one cell "
                    f"(Google's limit is {cells.MAX_CELL_CHARS})"
                )


# ---------------------------------------------------------------- parsing the QTS sheets
