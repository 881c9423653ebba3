"""A1 notation, as Google Sheets spells it: column letters, quoted sheet names, ranges.

Shared by the adapter (which builds ranges) and the fake (which parses them), so both agree on
one spelling: ``'Sheet''s name'!A1:C10``. Rows and columns here are 1-based, like A1 itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CELL = re.compile(r"^([A-Za-z]*)([0-9]*)$")
_BARE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOKS_LIKE_CELL = re.compile(r"^([A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*)$")

MAX_COLUMNS = 18_278  # ZZZ


def column_letter(col: int) -> str:
    """1 → A, 26 → Z, 27 → AA."""
    if not 1 <= col <= MAX_COLUMNS:
        raise ValueError(f"column {col} is outside A..ZZZ")
    letters = ""
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def column_index(letters: str) -> int:
    """A → 1, Z → 26, AA → 27."""
    if not letters or not letters.isalpha() or len(letters) > 3:
        raise ValueError(f"not a column: {letters!r}")
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - ord("A") + 1
    return n


def quote_sheet(title: str) -> str:
    """The sheet name as it stands before ``!``: quoted unless it is a plain identifier."""
    if _BARE_NAME.match(title) and not _LOOKS_LIKE_CELL.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def a1(
    sheet: str,
    first_row: int | None = None,
    first_col: int | None = None,
    last_row: int | None = None,
    last_col: int | None = None,
) -> str:
    """A range in A1 notation; ``None`` bounds leave that side open (``'S'!A2:C``, ``'S'!1:1``)."""
    name = quote_sheet(sheet)
    if first_row is None and first_col is None and last_row is None and last_col is None:
        return name
    start = _ref(first_col, first_row)
    end = _ref(last_col, last_row)
    if not end or (end == start and first_row is not None and first_col is not None):
        return f"{name}!{start}"
    return f"{name}!{start}:{end}"


def _ref(col: int | None, row: int | None) -> str:
    return (column_letter(col) if col else "") + (str(row) if row else "")


@dataclass(frozen=True, slots=True)
class ParsedRange:
    """A range before it is resolved against a grid. ``sheet`` is None when the text named
    none (the first sheet is meant); bounds are 1-based and inclusive, None where open."""

    sheet: str | None
    first_row: int | None = None
    first_col: int | None = None
    last_row: int | None = None
    last_col: int | None = None

    @property
    def whole_sheet(self) -> bool:
        return (
            self.first_row is None
            and self.first_col is None
            and self.last_row is None
            and self.last_col is None
        )


def split_sheet(text: str) -> tuple[str | None, str]:
    """``'It''s'!A1:B2`` → ("It's", "A1:B2"); ``Sheet1`` → ("Sheet1", ""); ``A1`` → (None, "A1")
    when the text cannot be a sheet reference followed by cells."""
    text = text.strip()
    if text.startswith("'"):
        i = 1
        name = []
        while i < len(text):
            ch = text[i]
            if ch == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    name.append("'")
                    i += 2
                    continue
                rest = text[i + 1 :]
                if rest and not rest.startswith("!"):
                    raise ValueError(f"Unable to parse range: {text}")
                return "".join(name), rest[1:]
            name.append(ch)
            i += 1
        raise ValueError(f"Unable to parse range: {text}")
    if "!" in text:
        sheet, _, cells = text.rpartition("!")
        return sheet, cells
    return None, text


def parse_cells(cells: str) -> tuple[int | None, int | None, int | None, int | None]:
    """``A1:C10`` → (1, 1, 10, 3) as (first_row, first_col, last_row, last_col)."""
    if not cells:
        return None, None, None, None
    start, sep, end = cells.partition(":")
    c0, r0 = _parse_ref(start, cells)
    if not sep:
        if c0 is None or r0 is None:
            raise ValueError(f"Unable to parse range: {cells}")
        return r0, c0, r0, c0
    c1, r1 = _parse_ref(end, cells)
    if (c0 is None) != (c1 is None) and (r0 is None or r1 is None):
        # "A:3" mixes a column with a row; Google refuses it too
        raise ValueError(f"Unable to parse range: {cells}")
    if c0 is not None and c1 is not None and c1 < c0:
        c0, c1 = c1, c0
    if r0 is not None and r1 is not None and r1 < r0:
        r0, r1 = r1, r0
    return r0, c0, r1, c1


def _parse_ref(ref: str, whole: str) -> tuple[int | None, int | None]:
    m = _CELL.match(ref.strip())
    if not m or not (m.group(1) or m.group(2)):
        raise ValueError(f"Unable to parse range: {whole}")
    letters, digits = m.groups()
    col = column_index(letters) if letters else None
    row = int(digits) if digits else None
    if row is not None and row < 1:
        raise ValueError(f"Unable to parse range: {whole}")
    return col, row


def parse_range(text: str, sheet_names: set[str] | None = None) -> ParsedRange:
    """Parse A1 text. A bare word that names an existing sheet is that sheet (as Google reads
    ``Sheet1``); otherwise it must be cells of the first sheet."""
    sheet, cells = split_sheet(text)
    if sheet is None and sheet_names is not None and cells in sheet_names:
        return ParsedRange(cells)
    r0, c0, r1, c1 = parse_cells(cells)
    return ParsedRange(sheet, r0, c0, r1, c1)
