"""A CSV file read whole: its header, its data rows and where each row is, with the header's
columns found.

Why a module of its own: the level loader reads small files whole, and the chunked bar readers
check their header the same way (``_header_index``), so both refuse a header in the same words.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from qts.core.errors import DataError


def _read_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, data rows and each row's first physical line number (1-based)."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(source, None, f"cannot read the file ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{source}:{line}", None, f"not UTF-8 text ({exc.reason})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        header = next(reader, None)
        prev = reader.line_num
        for row in reader:
            if row:
                rows.append(row)
                lines.append(prev + 1)
            prev = reader.line_num
    except csv.Error as exc:
        raise DataError(f"{source}:{reader.line_num + 1}", None, f"bad CSV ({exc})") from None
    if header is None:
        raise DataError(f"{source}:1", None, "the file is empty")
    if not rows:
        raise DataError(f"{source}:2", None, "no data rows after the header")
    return header, rows, lines


def _header_index(path: Path, header: list[str], wanted: Sequence[str]) -> dict[str, int]:
    """Where each wanted column is, after checking that each is there exactly once."""
    names = [h.strip().lower() for h in header]
    missing = [w for w in wanted if w not in names]
    if missing:
        raise DataError(
            f"{path}:1",
            None,
            f"the header lacks column(s) {', '.join(missing)} (found: {', '.join(names)})",
        )
    dupes = sorted({w for w in wanted if names.count(w) > 1})
    if dupes:
        raise DataError(f"{path}:1", None, f"the header repeats column(s) {', '.join(dupes)}")
    return {w: names.index(w) for w in wanted}


def _columns(
    path: Path, header: list[str], rows: list[list[str]], lines: list[int], wanted: Sequence[str]
) -> dict[str, list[str]]:
    """The wanted columns' cells, after checking the header and every row's width."""
    index = _header_index(path, header, wanted)
    width = len(header)
    bad = next((i for i, r in enumerate(rows) if len(r) != width), None)
    if bad is not None:
        raise DataError(
            f"{path}:{lines[bad]}", None, f"{len(rows[bad])} fields, the header has {width}"
        )
    return {w: [r[j] for r in rows] for w, j in index.items()}
