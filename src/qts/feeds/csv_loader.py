"""Load OHLCV bars from CSV files into ``BarSeries``, refusing anything KRX could not have printed.

A file needs a header naming date, open, high, low, close and volume (any case, any order; other
columns are ignored). Dates are ``YYYY-MM-DD`` (daily: stamped 09:00 KST) or
``YYYY-MM-DD HH:MM[:SS]`` (intraday, KST wall clock; ``T`` also separates); a file is one or the
other. Prices must be whole KRW on the tick grid (``12345`` or ``12345.0``), unless
``price_scale`` is given: then every price is multiplied by it and rounded to the nearest tick,
which is how foreign real series (index points, dollars) are brought under KRX rules. Volumes are
never scaled and must be whole and non-negative.

Every refusal is a ``DataError`` whose source is ``path:line`` and whose field is the column.
The first unparsable cell is reported; failing that, the first row breaking a market rule.

Speed matters (a backtest loads many files): cells are checked with one regular expression per
column and converted by numpy; per-cell Python work happens only to explain a failure.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np

from qts.core.errors import DataError
from qts.core.time import KST
from qts.feeds.bars import BarSeries, LevelSeries, first_problem, to_epoch
from qts.feeds.ticks import FloatArray, IntArray, round_nearest_array

REQUIRED = ("date", "open", "high", "low", "close", "volume")
PRICES = ("open", "high", "low", "close")

KST_OFFSET_S = 9 * 3600
# Before this date Korea used other UTC offsets (summer time in 1987-88); such rows go through
# zoneinfo one by one instead of the fixed +09:00 shortcut.
_FIXED_OFFSET_FROM = np.datetime64("1989-01-01T00:00:00", "s")
# Scaled prices are floats; above 2**53 they stop being exact integers.
_MAX_SCALED = float(2**53)

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
    try:
        wall = np.array(texts, dtype="datetime64[s]")
    except ValueError:
        for i, cell in enumerate(texts):
            try:
                datetime.fromisoformat(cell)
            except ValueError as exc:
                return _Bad(i, "date", f"{col[i]} is not a valid date ({exc})")
        raise  # numpy refused what Python accepts: a bug worth seeing, not a data error
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
    return epoch, daily


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


def _plain_columns(path: Path, wanted: Sequence[str]) -> tuple[dict[str, list[str]], range] | None:
    """The wanted columns of a plain file (no quotes, no CR, no blank line, every row as wide as
    the header), split in C: one join, one split and a strided slice per column. None when the
    file is anything else; the csv module then reads it and explains what is wrong."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if b'"' in raw or b"\r" in raw:
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    physical = text.split("\n")
    if physical and physical[-1] == "":
        physical.pop()
    if len(physical) < 2 or "" in physical:
        return None
    header = physical[0].split(",")
    width = len(header)
    cells = ",".join(physical[1:]).split(",")
    if len(cells) != width * (len(physical) - 1):
        return None
    index = _header_index(path, header, wanted)
    return {w: cells[j::width] for w, j in index.items()}, range(2, len(physical) + 1)


def _raise_first(path: Path, lines: Sequence[int | str], problems: list[_Bad]) -> None:
    if problems:
        bad = min(problems, key=lambda b: b.row)
        raise DataError(f"{path}:{lines[bad.row]}", bad.field, bad.reason)


def load_csv(
    path: Path, price_scale: float | None = None, etf: bool = False, symbol: str | None = None
) -> BarSeries:
    """One symbol's bars from ``path``; the symbol is the file stem unless given."""
    plain = _plain_columns(path, REQUIRED)
    if plain is not None:
        return series_from_cells(path, plain[0], plain[1], price_scale, etf, symbol)
    header, rows, lines = _read_rows(path)
    cols = _columns(path, header, rows, lines, REQUIRED)
    return series_from_cells(path, cols, lines, price_scale, etf, symbol)


def series_from_cells(
    path: Path,
    cols: dict[str, list[str]],
    lines: Sequence[int | str],
    price_scale: float | None = None,
    etf: bool = False,
    symbol: str | None = None,
) -> BarSeries:
    """Validate the text cells of the REQUIRED columns and build the series.

    Every file format ends here, so a Parquet file is refused for the same reasons, in the same
    words, as the CSV file holding the same cells; ``lines`` names each row's place in its file.
    """
    if price_scale is not None and not (math.isfinite(price_scale) and price_scale > 0):
        raise ValueError(f"price_scale must be a positive number, got {price_scale}")
    problems: list[_Bad] = []
    dates = _date_column(cols["date"])
    if isinstance(dates, _Bad):
        problems.append(dates)
    raw: dict[str, IntArray | FloatArray] = {}
    for name in PRICES:
        parsed = (
            _whole_column(cols[name], name, "KRW")
            if price_scale is None
            else _decimal_column(cols[name], name)
        )
        if isinstance(parsed, _Bad):
            problems.append(parsed)
        else:
            raw[name] = parsed
    volume = _whole_column(cols["volume"], "volume", "shares")
    if isinstance(volume, _Bad):
        problems.append(volume)
    _raise_first(path, lines, problems)
    assert not isinstance(dates, _Bad) and not isinstance(volume, _Bad)

    prices: dict[str, IntArray] = {}
    if price_scale is None:
        prices = {name: np.asarray(raw[name], dtype=np.int64) for name in PRICES}
    else:
        for name in PRICES:
            values = raw[name]
            i = np.flatnonzero(values <= 0)
            if i.size:
                problems.append(_Bad(int(i[0]), name, f"{cols[name][i[0]]} is not positive"))
                continue
            scaled = np.asarray(values, dtype=np.float64) * price_scale
            i = np.flatnonzero(scaled >= _MAX_SCALED)
            if i.size:
                reason = f"{cols[name][i[0]]} is too large after scaling by {price_scale:g}"
                problems.append(_Bad(int(i[0]), name, reason))
                continue
            prices[name] = round_nearest_array(scaled, etf)
        _raise_first(path, lines, problems)

    ts, _daily = dates
    problem = first_problem(
        ts,
        prices["open"],
        prices["high"],
        prices["low"],
        prices["close"],
        volume,
        etf,
        ts_labels=cols["date"],
    )
    if problem is not None:
        row, field, reason = problem
        if price_scale is not None and field in PRICES:
            reason += f" after scaling by {price_scale:g}"
        raise DataError(f"{path}:{lines[row]}", field, reason)
    return BarSeries(
        symbol if symbol is not None else path.stem,
        ts,
        prices["open"],
        prices["high"],
        prices["low"],
        prices["close"],
        volume,
        etf,
    )


DATA_SUFFIXES = (".csv", ".parquet")


def data_files(paths: Sequence[Path]) -> list[Path]:
    """Expand folders to their CSV and Parquet files (sorted by name, not recursive); keep files."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(
                f for f in p.iterdir() if f.is_file() and f.suffix.lower() in DATA_SUFFIXES
            )
            if not found:
                raise DataError(str(p), None, "the folder holds no *.csv or *.parquet files")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(str(p), None, "no such file or folder")
    return out


def load_file(
    path: Path, price_scale: float | None = None, etf: bool = False, symbol: str | None = None
) -> BarSeries:
    """A ``.parquet`` file through the Parquet reader, anything else as CSV."""
    if path.suffix.lower() == ".parquet":
        from qts.feeds.parquet_loader import load_parquet

        return load_parquet(path, price_scale, etf, symbol)
    return load_csv(path, price_scale, etf, symbol)


def load_paths(
    paths: Sequence[Path],
    price_scale: float | None = None,
    etf: bool | Collection[str] = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[BarSeries]:
    """Every file named or inside a named folder, in order; symbols (file stems) must be unique.

    ``etf`` is True for all files, or the collection of symbols that are ETFs. ``progress`` is
    told the bytes read so far out of all the files' bytes.
    """
    files = data_files(paths)
    sizes = [_size(f) for f in files]
    total = sum(sizes)
    seen: dict[str, Path] = {}
    out: list[BarSeries] = []
    for k, f in enumerate(files):
        if f.stem in seen:
            raise DataError(str(f), None, f"symbol {f.stem} is also loaded from {seen[f.stem]}")
        seen[f.stem] = f
        is_etf = etf if isinstance(etf, bool) else f.stem in etf
        out.append(load_file(f, price_scale, is_etf))
        if progress is not None:
            progress(sum(sizes[: k + 1]), total)
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the loader says why it cannot read it


def load_level_csv(
    path: Path,
    column: str | None = None,
    name: str | None = None,
    missing: Collection[str] = (),
) -> LevelSeries:
    """A date + level file (e.g. a volatility index): positive floats, dates increasing.

    ``column`` defaults to the only column besides date; the series name defaults to the stem.
    Rows whose level is one of ``missing`` (e.g. FRED's ``"."`` on US holidays) are dropped;
    by default every row must hold a number.
    """
    header, rows, lines = _read_rows(path)
    names = [h.strip().lower() for h in header]
    if column is None:
        others = [n for n in names if n != "date"]
        if len(others) != 1:
            raise DataError(
                f"{path}:1", None, f"name the level column; the header has {', '.join(names)}"
            )
        column = others[0]
    column = column.lower()
    cols = _columns(path, header, rows, lines, ("date", column))
    if missing:
        keep = [i for i, cell in enumerate(cols[column]) if cell.strip() not in missing]
        if not keep:
            raise DataError(f"{path}:2", column, "every row is missing its value")
        lines = [lines[i] for i in keep]
        cols = {k: [v[i] for i in keep] for k, v in cols.items()}
    dates = _date_column(cols["date"])
    values = _decimal_column(cols[column], column)
    _raise_first(path, lines, [p for p in (dates, values) if isinstance(p, _Bad)])
    assert not isinstance(dates, _Bad) and not isinstance(values, _Bad)
    ts = dates[0]
    i = np.flatnonzero(values <= 0)
    if i.size:
        raise DataError(f"{path}:{lines[i[0]]}", column, f"{cols[column][i[0]]} is not positive")
    j = np.flatnonzero(np.diff(ts) <= 0)
    if j.size:
        k = int(j[0]) + 1
        reason = f"{cols['date'][k]} is not after {cols['date'][k - 1]} on the previous row"
        raise DataError(f"{path}:{lines[k]}", "date", reason)
    return LevelSeries(name if name is not None else path.stem, ts, values)
