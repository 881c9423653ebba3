"""The fake's spreadsheets: sparse grids of typed cells, and Google's input and render rules.

What is modelled (from the Sheets API v4 reference and gspread 6.2.1 on the wire):

- A cell holds text, a number, a boolean or a formula, plus the number format the input
  implied. ``RAW`` input keeps JSON types (a string stays text even when it looks like a number);
  ``USER_ENTERED`` parses like the UI: ``1,000`` → number shown as ``1,000``, ``12.5%`` → 0.125
  shown as ``12.5%``, ``2024-01-02`` → a date serial shown as ``2024-01-02``, ``TRUE`` → boolean,
  a leading ``'`` forces text, ``=...`` is a formula.
- ``FORMATTED_VALUE`` (the default) answers strings; ``UNFORMATTED_VALUE`` answers numbers and
  booleans as JSON; ``FORMULA`` answers formulas as typed.
- A ``null`` in written values leaves the cell alone; an empty string clears it.
- Reads trim trailing empty cells of each row and trailing empty rows; an empty range has no
  ``values`` key at all.
- Writes outside the grid are refused (400); ``append`` grows the grid, as Google does.

Not modelled: formula evaluation (a formula reads back as its text in every render option),
merged cells, formatting requests, named ranges, protected ranges, Drive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from qts.data.sheets.a1 import a1, parse_range

_EPOCH = date(1899, 12, 30)  # day 0 of Sheets' date serials
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_PERCENT = re.compile(r"^([+-]?(\d+\.?\d*|\.\d+))%$")
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


class ApiError(Exception):
    """An error the fake answers with Google's JSON shape."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


@dataclass(frozen=True, slots=True)
class Cell:
    """``kind``: s text, n number, b boolean, f formula. ``fmt``: the implied number format
    (None automatic, ``#,##0`` style thousands, ``0.0%`` style percent, ``yyyy-mm-dd``)."""

    kind: str
    value: Any
    fmt: str | None = None


def cell_from_raw(value: Any) -> Cell | None:
    """RAW input: JSON types kept. Returns None for an empty string (the cell is cleared)."""
    if isinstance(value, bool):
        return Cell("b", value)
    if isinstance(value, int | float):
        return Cell("n", value)
    if isinstance(value, str):
        return Cell("s", value) if value != "" else None
    raise bad_request(f"Invalid value at 'data.values' ({type(value).__name__}): {value!r}")


def cell_from_user(value: Any) -> Cell | None:
    """USER_ENTERED input: strings parsed the way the Sheets UI parses typed text."""
    if not isinstance(value, str):
        return cell_from_raw(value)
    text = value.strip()
    if value == "":
        return None
    if value.startswith("'"):
        return Cell("s", value[1:])
    if value.startswith("="):
        return Cell("f", value)
    if text.upper() in ("TRUE", "FALSE"):
        return Cell("b", text.upper() == "TRUE")
    if _NUMBER.match(text):
        return Cell("n", _number(text))
    if _THOUSANDS.match(text):
        decimals = len(text.partition(".")[2])
        return Cell("n", _number(text.replace(",", "")), "#,##0" + ("." + "0" * decimals))
    m = _PERCENT.match(text)
    if m:
        decimals = len(m.group(1).partition(".")[2])
        return Cell("n", _number(m.group(1)) / 100, "0" + ("." + "0" * decimals) + "%")
    m = _DATE.match(text)
    if m:
        try:
            day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return Cell("s", value)
        return Cell("n", (day - _EPOCH).days, "yyyy-mm-dd")
    return Cell("s", value)


def _number(text: str) -> int | float:
    f = float(text)
    if f.is_integer() and "e" not in text.lower() and abs(f) < 2**53:
        return int(f)
    return f


def _format_decimals(fmt: str) -> int:
    return len(fmt.rstrip("%").partition(".")[2].rstrip("#"))


def format_number(value: int | float, fmt: str | None) -> str:
    """A number as Sheets shows it in a cell of format ``fmt``."""
    if fmt == "yyyy-mm-dd":
        return (_EPOCH + timedelta(days=int(value))).isoformat()
    if fmt is not None and fmt.endswith("%"):
        return f"{value * 100:.{_format_decimals(fmt)}f}%"
    if fmt is not None and fmt.startswith("#,##0"):
        return f"{value:,.{_format_decimals(fmt)}f}"
    # automatic format: whole numbers in full up to 15 digits, else scientific like "1.23457E+18"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1e15 or (value != 0 and abs(value) < 1e-9):
        mantissa, _, exp = f"{value:.5E}".partition("E")
        return f"{mantissa.rstrip('0').rstrip('.')}E{exp[0]}{int(exp[1:]):02d}"
    return f"{value:.10f}".rstrip("0").rstrip(".")


def render(cell: Cell, option: str) -> Any:
    if cell.kind == "f":
        return cell.value  # the fake does not evaluate formulas
    if option == "FORMATTED_VALUE":
        if cell.kind == "n":
            return format_number(cell.value, cell.fmt)
        if cell.kind == "b":
            return "TRUE" if cell.value else "FALSE"
        return cell.value
    return cell.value


@dataclass
class Grid:
    """One sheet (tab): its properties and its cells, keyed by 1-based (row, col)."""

    sheet_id: int
    title: str
    index: int
    rows: int = 1000
    cols: int = 26
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)

    def properties(self) -> dict[str, Any]:
        return {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": self.index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": self.rows, "columnCount": self.cols},
        }

    def put(self, row: int, col: int, cell: Cell | None) -> None:
        if cell is None:
            self.cells.pop((row, col), None)
        else:
            self.cells[(row, col)] = cell

    def last_row(self) -> int:
        return max((r for r, _ in self.cells), default=0)


@dataclass(frozen=True, slots=True)
class Bounds:
    """A resolved range: a sheet and inclusive 1-based bounds inside its grid."""

    grid: Grid
    r0: int
    c0: int
    r1: int
    c1: int

    def a1(self) -> str:
        return a1(self.grid.title, self.r0, self.c0, self.r1, self.c1)


@dataclass
class Book:
    """One spreadsheet."""

    spreadsheet_id: str
    title: str
    grids: list[Grid] = field(default_factory=list)
    editors: set[str] | None = None  # None: every authenticated caller may edit
    locale: str = "ko_KR"
    time_zone: str = "Asia/Seoul"
    _next_id: int = 0

    # ------------------------------------------------------------------ sheets

    def grid(self, title: str) -> Grid:
        for g in self.grids:
            if g.title == title:
                return g
        raise bad_request(f"Unable to parse range: {title}")

    def grid_by_id(self, sheet_id: int) -> Grid:
        for g in self.grids:
            if g.sheet_id == sheet_id:
                return g
        raise bad_request(f"No grid with id: {sheet_id}")

    def add_grid(
        self, title: str, rows: int = 1000, cols: int = 26, index: int | None = None
    ) -> Grid:
        if any(g.title == title for g in self.grids):
            raise bad_request(
                f'Invalid requests[0].addSheet: A sheet with the name "{title}" already exists. '
                "Please enter another name."
            )
        if rows < 1 or cols < 1:
            raise bad_request("Invalid requests[0].addSheet: grid size must be positive")
        sheet_id = self._next_id
        self._next_id += 1
        pos = len(self.grids) if index is None else max(0, min(index, len(self.grids)))
        g = Grid(sheet_id, title, pos, rows, cols)
        self.grids.insert(pos, g)
        for i, other in enumerate(self.grids):
            other.index = i
        return g

    def delete_grid(self, sheet_id: int) -> None:
        g = self.grid_by_id(sheet_id)
        if len(self.grids) == 1:
            raise bad_request("Invalid requests[0].deleteSheet: You can't remove all the sheets")
        self.grids.remove(g)
        for i, other in enumerate(self.grids):
            other.index = i

    def metadata(self) -> dict[str, Any]:
        return {
            "spreadsheetId": self.spreadsheet_id,
            "properties": {
                "title": self.title,
                "locale": self.locale,
                "autoRecalc": "ON_CHANGE",
                "timeZone": self.time_zone,
            },
            "sheets": [{"properties": g.properties()} for g in self.grids],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}/edit",
        }

    # ------------------------------------------------------------------ ranges

    def resolve(self, text: str, *, clip: bool = True) -> Bounds:
        """A1 text → bounds. Open sides extend to the grid's edge; with ``clip`` a range past the
        grid is cut to it (reads), without it the caller checks the limits (writes)."""
        try:
            parsed = parse_range(text, {g.title for g in self.grids})
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        if parsed.sheet is None:
            if not self.grids:
                raise bad_request(f"Unable to parse range: {text}")
            g = self.grids[0]
        else:
            g = self.grid(parsed.sheet)
        r0 = parsed.first_row or 1
        c0 = parsed.first_col or 1
        r1 = parsed.last_row or g.rows
        c1 = parsed.last_col or g.cols
        if clip:
            r1, c1 = min(r1, g.rows), min(c1, g.cols)
            if r0 > g.rows or c0 > g.cols:
                raise bad_request(
                    f"Range ({text}) exceeds grid limits. Max rows: {g.rows}, max columns: {g.cols}"
                )
        return Bounds(g, r0, c0, r1, c1)

    def read(self, text: str, option: str, major: str) -> dict[str, Any]:
        """``values.get`` for one range: trimmed, rendered, ``values`` omitted when empty."""
        b = self.resolve(text)
        inside = [(r, c) for (r, c) in b.grid.cells if b.r0 <= r <= b.r1 and b.c0 <= c <= b.c1]
        last_r = max((r for r, _ in inside), default=b.r0 - 1)
        last_c = max((c for _, c in inside), default=b.c0 - 1)
        rows: list[list[Any]] = []
        for r in range(b.r0, last_r + 1):
            row: list[Any] = []
            for c in range(b.c0, last_c + 1):
                cell = b.grid.cells.get((r, c))
                row.append(None if cell is None else render(cell, option))
            while row and row[-1] is None:
                row.pop()
            rows.append(row)
        while rows and not rows[-1]:
            rows.pop()
        if major == "COLUMNS":
            width = max((len(r) for r in rows), default=0)
            cols = [[r[c] if c < len(r) else None for r in rows] for c in range(width)]
            for col in cols:
                while col and col[-1] is None:
                    col.pop()
            rows = cols
        out: dict[str, Any] = {"range": b.a1(), "majorDimension": major}
        if rows:
            out["values"] = [["" if v is None else v for v in row] for row in rows]
        return out

    def plan_write(
        self, text: str, values: list[list[Any]], major: str, user_entered: bool
    ) -> tuple[Bounds, list[tuple[int, int, Cell | None]]]:
        """Check one write and return what it would change, changing nothing."""
        if major == "COLUMNS":
            width = max((len(c) for c in values), default=0)
            values = [[c[r] if r < len(c) else None for c in values] for r in range(width)]
        b = self.resolve(text, clip=False)
        parsed = parse_range(text, {g.title for g in self.grids})
        height = len(values)
        width = max((len(r) for r in values), default=0)
        single = parsed.last_row == parsed.first_row and parsed.last_col == parsed.first_col
        # A single start cell or an open side grows to fit the data, as Google does.
        r1 = b.r0 + height - 1 if single or parsed.last_row is None else b.r1
        c1 = b.c0 + width - 1 if single or parsed.last_col is None else b.c1
        if height > r1 - b.r0 + 1 or width > c1 - b.c0 + 1:
            raise bad_request(
                f"Requested writing within range [{text}], but tried writing "
                f"{'to row [' + str(b.r0 + height - 1) + ']' if height > r1 - b.r0 + 1 else ''}"
                f"{'to column [' + str(b.c0 + width - 1) + ']' if width > c1 - b.c0 + 1 else ''}"
            )
        if b.r0 + max(height, 1) - 1 > b.grid.rows or b.c0 + max(width, 1) - 1 > b.grid.cols:
            raise bad_request(
                f"Range ({text}) exceeds grid limits. Max rows: {b.grid.rows}, "
                f"max columns: {b.grid.cols}"
            )
        parse = cell_from_user if user_entered else cell_from_raw
        changes: list[tuple[int, int, Cell | None]] = []
        for i, row in enumerate(values):
            if not isinstance(row, list):
                raise bad_request("Invalid value at 'data.values': each row must be a list")
            for j, value in enumerate(row):
                if value is None:
                    continue  # null: leave the cell as it is
                changes.append((b.r0 + i, b.c0 + j, parse(value)))
        end_r = b.r0 + max(height, 1) - 1
        end_c = b.c0 + max(width, 1) - 1
        return Bounds(b.grid, b.r0, b.c0, end_r, end_c), changes

    @staticmethod
    def apply(changes: list[tuple[int, int, Cell | None]], grid: Grid) -> None:
        for r, c, cell in changes:
            grid.put(r, c, cell)

    def table_end(self, b: Bounds) -> int:
        """The last row of the first table (contiguous block of non-empty rows) in ``b``, or
        the row above ``b`` when the range holds no data; append writes below it."""
        filled = sorted({r for (r, c) in b.grid.cells if b.r0 <= r and b.c0 <= c <= b.c1})
        if not filled:
            return b.r0 - 1
        end = filled[0]
        for r in filled[1:]:
            if r != end + 1:
                break
            end = r
        return end

    def clear(self, text: str) -> str:
        b = self.resolve(text)
        for key in [k for k in b.grid.cells if b.r0 <= k[0] <= b.r1 and b.c0 <= k[1] <= b.c1]:
            del b.grid.cells[key]
        return b.a1()
