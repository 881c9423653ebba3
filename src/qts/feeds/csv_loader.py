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

import bisect
import csv
import io
import math
import re
from array import array
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple, overload

import numpy as np
import numpy.typing as npt

from qts.core.errors import DataError
from qts.core.time import KST
from qts.feeds.bars import BarSeries, LevelSeries, first_problem, to_epoch
from qts.feeds.symbols import DataSpecs, FileSpec
from qts.feeds.ticks import FloatArray, IntArray, dated_round_nearest, round_nearest_array
from qts.model.instrument import Market

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


def _raise_first(path: Path, lines: Sequence[int | str], problems: list[_Bad]) -> None:
    if problems:
        bad = min(problems, key=lambda b: b.row)
        raise DataError(f"{path}:{lines[bad.row]}", bad.field, bad.reason)


COLUMNS = ("ts", *PRICES, "volume")
_EMPTY: IntArray = np.empty(0, dtype=np.int64)
NOT_A_DATE = "is not a date (expected YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS])"


class _Lines(Sequence[int | str]):
    """Where each row of the whole file is, from the places of each chunk's rows."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._parts: list[Sequence[int | str]] = []
        self._n = 0

    def add(self, lines: Sequence[int | str]) -> None:
        self._starts.append(self._n)
        self._parts.append(lines)
        self._n += len(lines)

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> int | str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[int | str]: ...
    def __getitem__(self, i: int | slice) -> int | str | Sequence[int | str]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self._n))]
        k = bisect.bisect_right(self._starts, i) - 1
        line = self._parts[k][i - self._starts[k]]
        return line if isinstance(line, str) else int(line)


class _Labels(Sequence[str]):
    """The date cell of any row, fetched only when a refusal quotes it."""

    def __init__(self, n: int, fetch: Callable[[int], str]) -> None:
        self._n, self._fetch = n, fetch

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            return [self._fetch(k) for k in range(*i.indices(self._n))]
        return self._fetch(i)


class SeriesBuilder:
    """Checks the text cells of the REQUIRED columns chunk by chunk and keeps only int64 columns.

    Why chunks: a million rows as Python strings take twenty times the file's size; a chunk's
    cells live only while it is converted. The refusal is the one a whole-file check gives (the
    earliest row among each column's first problem, the date column's problems ranked as
    ``_date_column`` ranks them), so every row is looked at even after a problem is found;
    the arrays are no longer kept then.
    """

    def __init__(
        self,
        path: Path,
        price_scale: float | None = None,
        etf: bool = False,
        market: Market = Market.KOSPI,
    ) -> None:
        if price_scale is not None and not (math.isfinite(price_scale) and price_scale > 0):
            raise ValueError(f"price_scale must be a positive number, got {price_scale}")
        self.path, self.price_scale, self.etf = path, price_scale, etf
        self.market = market  # with etf: the dated tick table each row is checked against
        self.rows = 0
        self.lines = _Lines()
        self._cols: dict[str, IntArray] = {n: _EMPTY for n in COLUMNS}
        self._filled = 0
        self._bad: dict[str, _Bad] = {}  # each number column's first unparsable cell
        self._not_positive: dict[str, _Bad] = {}
        self._too_large: dict[str, _Bad] = {}
        self._not_a_date: _Bad | None = None
        self._kind_count = {"date": 0, "date-time": 0}
        self._kind_first: dict[str, tuple[int, str]] = {}
        self._invalid: _Bad | None = None
        self._unusable: _Bad | None = None

    @property
    def clean(self) -> bool:
        return not (
            self._bad
            or self._not_positive
            or self._too_large
            or self._not_a_date
            or self._invalid
            or self._unusable
            or (self._kind_count["date"] and self._kind_count["date-time"])
        )

    def add(self, cols: dict[str, list[str]], lines: Sequence[int | str]) -> None:
        """The next rows: each REQUIRED column's cells, and each row's place in the file."""
        row0, n = self.rows, len(lines)
        self.rows += n
        self.lines.add(lines)
        ts = self._dates(cols["date"], row0)
        values: dict[str, IntArray] = {}
        for name in PRICES:
            price = self._price(cols[name], name, row0, ts)
            if price is not None:
                values[name] = price
        volume = _whole_column(cols["volume"], "volume", "shares")
        if isinstance(volume, _Bad):
            self._bad.setdefault("volume", volume._replace(row=volume.row + row0))
        if not self.clean:
            self._cols = {n: _EMPTY for n in COLUMNS}  # the file is refused: keep nothing
            return
        assert ts is not None and not isinstance(volume, _Bad)
        self.reserve(self._filled + n)
        end = self._filled + n
        for name, chunk in (("ts", ts), *values.items(), ("volume", volume)):
            self._cols[name][self._filled : end] = chunk
        self._filled = end

    def reserve(self, rows: int) -> None:
        """Room for ``rows`` rows in all (a good guess spares copies and scattered pieces)."""
        have = len(self._cols["ts"])
        if rows <= have:
            return
        size = max(rows, have + have // 2)
        for name, col in self._cols.items():
            grown = np.empty(size, dtype=np.int64)
            grown[: self._filled] = col[: self._filled]
            self._cols[name] = grown

    def _dates(self, col: list[str], row0: int) -> IntArray | None:
        """This chunk's timestamps, or None after noting its first problem."""
        joined = _joined(col)
        if _DAY_COL.fullmatch(joined):
            kind, quoted = "date", col
        elif _MINUTE_COL.fullmatch(joined):
            kind, quoted = "date-time", col
        else:
            quoted = [c.strip() for c in col]
            kinds = [_date_kind(c) for c in quoted]
            if None in kinds and self._not_a_date is None:
                i = kinds.index(None)
                self._not_a_date = _Bad(row0 + i, "date", f"{col[i]!r} {NOT_A_DATE}")
            for k in ("date", "date-time"):
                self._count_kind(k, kinds, quoted, row0)
            if None in kinds or ("date" in kinds and "date-time" in kinds):
                return None
            kind = "date" if "date" in kinds else "date-time"
        if quoted is col:
            self._count_kind(kind, [kind] * len(col), col, row0)
        days, times = self._kind_count["date"], self._kind_count["date-time"]
        if self._not_a_date is not None or (days and times):
            return None  # the date column is refused whatever the dates are
        texts = quoted if kind == "date" else [c.replace(" ", "T", 1) for c in quoted]
        wall = _wall_clock(quoted, texts)
        if isinstance(wall, _Bad):
            self._invalid = self._invalid or wall._replace(row=wall.row + row0)
            return None
        epoch = _epochs(quoted, texts, wall, kind == "date")
        if isinstance(epoch, _Bad):
            self._unusable = self._unusable or epoch._replace(row=epoch.row + row0)
            return None
        return epoch

    def _count_kind(self, kind: str, kinds: list[str | None], quoted: list[str], row0: int) -> None:
        if kind in kinds:
            i = kinds.index(kind)
            self._kind_first.setdefault(kind, (row0 + i, quoted[i]))
            self._kind_count[kind] += kinds.count(kind)

    def _price(self, col: list[str], name: str, row0: int, ts: IntArray | None) -> IntArray | None:
        if self.price_scale is None:
            whole = _whole_column(col, name, "KRW")
            if isinstance(whole, _Bad):
                self._bad.setdefault(name, whole._replace(row=whole.row + row0))
                return None
            return whole
        values = _decimal_column(col, name)
        if isinstance(values, _Bad):
            self._bad.setdefault(name, values._replace(row=values.row + row0))
            return None
        i = np.flatnonzero(values <= 0)
        if i.size:
            reason = f"{col[i[0]]} is not positive"
            self._not_positive.setdefault(name, _Bad(row0 + int(i[0]), name, reason))
            return None
        scaled = values * self.price_scale
        i = np.flatnonzero(scaled >= _MAX_SCALED)
        if i.size:
            reason = f"{col[i[0]]} is too large after scaling by {self.price_scale:g}"
            self._too_large.setdefault(name, _Bad(row0 + int(i[0]), name, reason))
            return None
        if ts is None:  # the dates are refused, so is the file: any grid will do
            return round_nearest_array(scaled, self.etf)
        return dated_round_nearest(scaled, ts, self.market, self.etf)

    def _date_problem(self) -> _Bad | None:
        """The date column's refusal, ranked as ``_date_column`` ranks them."""
        if self._not_a_date is not None:
            return self._not_a_date
        days, times = self._kind_count["date"], self._kind_count["date-time"]
        if days and times:
            # blame the rarer kind: one stray date-time in a daily file is the odd one out
            odd = "date" if days * 2 < days + times else "date-time"
            usual = "date-time" if odd == "date" else "date"
            row, text = self._kind_first[odd]
            return _Bad(row, "date", f"{text} is a {odd} but most rows have a {usual}")
        return self._invalid or self._unusable

    def finish(self, symbol: str, date_label: Callable[[int], str]) -> BarSeries:
        """The series, or the refusal a whole-file check gives; ``date_label`` fetches the
        date cell of a row (quoted when dates do not increase)."""
        date = self._date_problem()
        problems = [date] if date is not None else []
        problems += [self._bad[n] for n in (*PRICES, "volume") if n in self._bad]
        _raise_first(self.path, self.lines, problems)
        if self.price_scale is not None:
            scaled = [self._not_positive.get(n) or self._too_large.get(n) for n in PRICES]
            _raise_first(self.path, self.lines, [p for p in scaled if p is not None])
        assert self.clean
        cols = {name: col[: self._filled] for name, col in self._cols.items()}
        self._cols = {}
        problem = first_problem(
            cols["ts"],
            cols["open"],
            cols["high"],
            cols["low"],
            cols["close"],
            cols["volume"],
            self.etf,
            ts_labels=_Labels(self.rows, date_label),
            market=self.market,
        )
        if problem is not None:
            row, field, reason = problem
            if self.price_scale is not None and field in PRICES:
                reason += f" after scaling by {self.price_scale:g}"
            raise DataError(f"{self.path}:{self.lines[row]}", field, reason)
        return BarSeries.adopt(symbol, [cols.pop(n) for n in COLUMNS], self.etf, self.market)


CHUNK_BYTES = 1 << 20
"""Bytes of a plain file converted at a time (about 23,000 minute bars)."""
CHUNK_ROWS = 50_000
"""Rows of a quoted (or otherwise not plain) file converted at a time."""
Progress = Callable[[int], None]
"""Told the bytes of the file read so far."""


class _NotPlain(Exception):
    """The plain reader met a quote, a lone CR, a blank line or a ragged row: the csv module
    must read the file (and explain what is wrong with it)."""


def _byte_chunks(path: Path) -> Iterator[tuple[bytes, int]]:
    """The file in pieces ending at a newline (the last may not), with the bytes read so far."""
    with path.open("rb") as f:
        tail = b""
        done = 0
        while True:
            block = f.read(CHUNK_BYTES)
            done += len(block)
            if not block:
                if tail:
                    yield tail, done
                return
            cut = block.rfind(b"\n")
            if cut < 0:
                tail += block
                continue
            yield tail + block[: cut + 1], done
            tail = block[cut + 1 :]


def _load_plain(path: Path, builder: SeriesBuilder, progress: Progress | None) -> None:
    """Feed ``builder`` a plain file (no quotes, no blank line, every row as wide as the header;
    CRLF is fine) split in C: one split per chunk and a strided slice per column."""
    index: dict[str, int] | None = None
    width = 0
    line = 1  # the header's
    try:
        for raw, done in _byte_chunks(path):
            if b'"' in raw:
                raise _NotPlain
            if b"\r" in raw:
                if raw.count(b"\r") != raw.count(b"\r\n"):
                    raise _NotPlain
                raw = raw.replace(b"\r\n", b"\n")
            try:
                text = raw.decode("utf-8-sig" if index is None else "utf-8")
            except UnicodeDecodeError:
                raise _NotPlain from None
            physical = text.split("\n")
            if physical[-1] == "":
                physical.pop()
            if "" in physical:
                raise _NotPlain
            if index is None:
                if len(physical) < 2:
                    raise _NotPlain
                header = physical.pop(0).split(",")
                width = len(header)
                try:
                    index = _header_index(path, header, REQUIRED)
                except DataError:
                    raise _NotPlain from None  # refused by the csv reader, after any CSV error
                rows_per_byte = len(physical) / len(raw)
                builder.reserve(int(_size(path) * rows_per_byte * 1.02) + 16)
            cells = ",".join(physical).split(",")
            if len(cells) != width * len(physical):
                raise _NotPlain
            builder.add(
                {w: cells[j::width] for w, j in index.items()},
                range(line + 1, line + 1 + len(physical)),
            )
            line += len(physical)
            del cells, physical, text, raw
            if progress is not None:
                progress(done)
    except OSError:
        raise _NotPlain from None
    if index is None:
        raise _NotPlain


def _check_utf8(path: Path) -> None:
    """Refuse a file that is not UTF-8 before reading any row (as reading it whole would)."""
    source = str(path)
    try:
        line = 1
        for raw, _done in _byte_chunks(path):
            try:
                raw.decode("utf-8-sig" if line == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                line += raw.count(b"\n", 0, exc.start)
                reason = f"not UTF-8 text ({exc.reason})"
                raise DataError(f"{source}:{line}", None, reason) from None
            line += raw.count(b"\n")
    except OSError as exc:
        raise DataError(source, None, f"cannot read the file ({exc.strerror})") from None


def _load_with_csv(path: Path, builder: SeriesBuilder, progress: Progress | None) -> None:
    """Feed ``builder`` any CSV file through the csv module, a chunk of rows at a time. Every
    row is read even after a problem: a broken row further down is reported first, as it is
    when the whole file is read before the cells are checked."""
    _check_utf8(path)
    source = str(path)
    header: list[str] | None = None
    index: dict[str, int] | None = None
    later: DataError | None = None  # the header's or a row's refusal, after any CSV error
    rows: list[list[str]] = []
    lines = array("q")
    seen = 0

    def flush() -> None:
        assert index is not None
        builder.add({w: [r[j] for r in rows] for w, j in index.items()}, lines[:])
        rows.clear()
        del lines[:]

    with path.open("rb") as binary, io.TextIOWrapper(binary, "utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            prev = reader.line_num
            for row in reader:
                if row:
                    seen += 1
                    if later is None:
                        if index is None:
                            try:
                                index = _header_index(path, header or [], REQUIRED)
                            except DataError as exc:
                                later = exc
                        if index is not None and len(row) != len(header or []):
                            later = DataError(
                                f"{source}:{prev + 1}",
                                None,
                                f"{len(row)} fields, the header has {len(header or [])}",
                            )
                        if later is None:
                            rows.append(row)
                            lines.append(prev + 1)
                            if len(rows) >= CHUNK_ROWS:
                                flush()
                                if progress is not None:
                                    progress(binary.tell())
                prev = reader.line_num
        except csv.Error as exc:
            raise DataError(f"{source}:{reader.line_num + 1}", None, f"bad CSV ({exc})") from None
    if header is None:
        raise DataError(f"{source}:1", None, "the file is empty")
    if not seen:
        raise DataError(f"{source}:2", None, "no data rows after the header")
    if later is not None:
        raise later
    if rows:
        flush()


def _date_cell(path: Path, row: int) -> str:
    """The date cell of data row ``row`` (0 = the first), read again from the file."""
    with path.open("rb") as binary, io.TextIOWrapper(binary, "utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader)]
        j = header.index("date")
        k = 0
        for cells in reader:
            if cells:
                if k == row:
                    return cells[j]
                k += 1
    raise IndexError(row)


def load_csv(
    path: Path,
    price_scale: float | None = None,
    etf: bool = False,
    symbol: str | None = None,
    progress: Progress | None = None,
    market: Market = Market.KOSPI,
) -> BarSeries:
    """One symbol's bars from ``path``; the symbol is the file stem unless given.

    The file is read in chunks into int64 columns (a few times the file's size at the peak);
    ``progress`` hears the bytes read so far.
    """
    builder = SeriesBuilder(path, price_scale, etf, market)
    try:
        _load_plain(path, builder, progress)
    except _NotPlain:
        builder = SeriesBuilder(path, price_scale, etf, market)
        _load_with_csv(path, builder, progress)
    return builder.finish(
        symbol if symbol is not None else path.stem, lambda row: _date_cell(path, row)
    )


def series_from_cells(
    path: Path,
    cols: dict[str, list[str]],
    lines: Sequence[int | str],
    price_scale: float | None = None,
    etf: bool = False,
    symbol: str | None = None,
    market: Market = Market.KOSPI,
) -> BarSeries:
    """Validate the text cells of the REQUIRED columns and build the series.

    Every file format ends here (or in a ``SeriesBuilder`` fed chunk by chunk), so a Parquet
    file is refused for the same reasons, in the same words, as the CSV file holding the same
    cells; ``lines`` names each row's place in its file.
    """
    builder = SeriesBuilder(path, price_scale, etf, market)
    builder.add(cols, lines)
    return builder.finish(symbol if symbol is not None else path.stem, cols["date"].__getitem__)


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
    path: Path,
    price_scale: float | None = None,
    etf: bool = False,
    symbol: str | None = None,
    progress: Progress | None = None,
    market: Market = Market.KOSPI,
) -> BarSeries:
    """A ``.parquet`` file through the Parquet reader, anything else as CSV."""
    if path.suffix.lower() == ".parquet":
        from qts.feeds.parquet_loader import load_parquet

        return load_parquet(path, price_scale, etf, symbol, progress, market)
    return load_csv(path, price_scale, etf, symbol, progress, market)


def load_paths(
    paths: Sequence[Path],
    price_scale: float | None = None,
    etf: bool | Collection[str] = False,
    progress: Callable[[int, int], None] | None = None,
    specs: DataSpecs | None = None,
) -> list[BarSeries]:
    """Every file named or inside a named folder, in order; symbols must be unique.

    ``specs`` says each file's market, ETF flag, price scale, name and symbol (see
    ``qts.feeds.symbols``); without it every file is a KOSPI stock scaled by ``price_scale``, and
    ``etf`` is True for all files or the collection of symbols (file stems) that are ETFs.
    ``progress`` is told the bytes read so far out of all the files' bytes.
    """
    files = data_files(paths)
    if specs is None:
        stems = {f.stem for f in files}
        etfs = stems if etf is True else set() if etf is False else stems & set(etf)
        specs = DataSpecs(
            FileSpec(price_scale=price_scale), markets=dict.fromkeys(etfs, (Market.KOSPI, True))
        )
    specs.check_keys(files)
    sizes = [_size(f) for f in files]
    total = sum(sizes)
    seen: dict[str, Path] = {}
    out: list[BarSeries] = []
    before = 0
    for f, size in zip(files, sizes, strict=True):
        spec = specs.for_file(f)
        symbol = spec.symbol or f.stem
        if symbol in seen:
            raise DataError(str(f), None, f"symbol {symbol} is also loaded from {seen[symbol]}")
        seen[symbol] = f
        within = None if progress is None else _offset(progress, before, total)
        series = load_file(f, spec.price_scale, spec.etf, symbol, within, spec.market)
        out.append(series.named(spec.name) if spec.name else series)
        before += size
        if progress is not None:
            progress(before, total)
    return out


def _offset(progress: Callable[[int, int], None], before: int, total: int) -> Progress:
    """One file's bytes read, told as the bytes read of all the files."""
    return lambda done: progress(before + done, total)


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
