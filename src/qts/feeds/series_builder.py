"""The one place every bar file's cells are checked and turned into a ``BarSeries``.

Why a module of its own: the CSV readers (plain and quoted) and the Parquet reader feed the same
``SeriesBuilder`` a chunk of text cells at a time, so every format is refused for the same
reasons, in the same words, and keeps only int64 columns while it loads.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import overload

import numpy as np

from qts.core.errors import DataError
from qts.feeds.bars import BarSeries, first_problem
from qts.feeds.cells import (
    _DAY_COL,
    _MINUTE_COL,
    _Bad,
    _date_kind,
    _decimal_column,
    _epochs,
    _joined,
    _raise_first,
    _wall_clock,
    _whole_column,
)
from qts.feeds.ticks import IntArray, dated_round_nearest, round_nearest_array
from qts.model.instrument import Market

REQUIRED = ("date", "open", "high", "low", "close", "volume")
PRICES = ("open", "high", "low", "close")

# Scaled prices are floats; above 2**53 they stop being exact integers.
_MAX_SCALED = float(2**53)

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
