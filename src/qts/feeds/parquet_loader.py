"""Load OHLCV bars from Parquet files, with exactly the checks and messages of the CSV loader.

Each column is turned into the text a CSV file would hold for it (dates as ``YYYY-MM-DD`` or
KST wall-clock ``YYYY-MM-DD HH:MM:SS``, numbers in plain notation, nulls as empty cells) and
handed, a slice of rows at a time, to :class:`qts.feeds.series_builder.SeriesBuilder`. One code
path validates every format, so the two can never drift apart; a row is named
``file.parquet:row N`` (N counts data rows from 1). Typed columns are accepted as Parquet
writers make them: ``date32``, ``timestamp`` (naive = KST wall clock; with a zone = converted
to KST; all at midnight = daily), integers, floats and strings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, overload

from qts.core.errors import DataError
from qts.feeds.bars import BarSeries
from qts.feeds.csv_loader import CHUNK_ROWS
from qts.feeds.series_builder import REQUIRED, SeriesBuilder
from qts.model.instrument import Market


class RowLabels(Sequence[str]):
    """``row N`` for each data row (of a slice starting at ``start``), without building a
    million strings up front."""

    def __init__(self, n: int, start: int = 0) -> None:
        self._n, self._start = n, start

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [f"row {self._start + k + 1}" for k in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        return f"row {self._start + i % self._n + 1}"


def _date_texts(col: Any, pa: Any, pc: Any) -> Callable[[int, int], list[str]]:
    """The texts of rows [start, start + n) of a date column. Whether timestamps are written as
    dates (all at midnight) is decided once for the whole column, as for a whole file."""
    kind = col.type
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:
            col = pc.local_timestamp(col.cast(pa.timestamp(kind.unit, tz="Asia/Seoul")))
        per_day = 86_400 * {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[kind.unit]
        wall = pc.fill_null(pc.cast(col, pa.int64()), 0).to_numpy()
        fmt = "%Y-%m-%d" if bool((wall % per_day == 0).all()) else "%Y-%m-%d %H:%M:%S"
        del wall
        # whole seconds: bars are stamped to the second, and %S would print fractions
        seconds = col.cast(pa.timestamp("s"), safe=False)

        def stamps(start: int, n: int) -> list[str]:
            return _texts(pc.strftime(seconds.slice(start, n), format=fmt))

        return stamps
    if pa.types.is_date(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return lambda start, n: _texts(pc.cast(col.slice(start, n), pa.string()))
    raise TypeError(f"a {kind} column cannot hold dates (expected date, timestamp or text)")


def _texts(array: Any) -> list[str]:
    return [t if t is not None else "" for t in array.to_pylist()]


def _number_texts(col: Any, pa: Any, pc: Any) -> Callable[[int, int], list[str]]:
    kind = col.type
    if not (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
    ):
        raise TypeError(f"a {kind} column cannot hold numbers")
    return lambda start, n: _texts(pc.cast(col.slice(start, n), pa.string()))


def load_parquet(
    path: Path,
    price_scale: float | None = None,
    etf: bool = False,
    symbol: str | None = None,
    progress: Callable[[int], None] | None = None,
    market: Market = Market.KOSPI,
) -> BarSeries:
    """One symbol's bars from the Parquet file ``path`` (symbol: the file stem unless given);
    ``progress`` hears the share of the file's bytes converted so far."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    source = str(path)
    try:
        size = path.stat().st_size
        table = pq.read_table(path)
    except OSError as exc:
        raise DataError(source, None, f"cannot read the file as Parquet ({exc})") from None
    except pa.ArrowException as exc:
        raise DataError(source, None, f"not a usable Parquet file ({exc})") from None
    names = [n.strip().lower() for n in table.column_names]
    missing = [w for w in REQUIRED if w not in names]
    if missing:
        raise DataError(
            source,
            None,
            f"the file lacks column(s) {', '.join(missing)} (found: {', '.join(names)})",
        )
    dupes = sorted({w for w in REQUIRED if names.count(w) > 1})
    if dupes:
        raise DataError(source, None, f"the file repeats column(s) {', '.join(dupes)}")
    if table.num_rows == 0:
        raise DataError(source, None, "no data rows")
    texts: dict[str, Callable[[int, int], list[str]]] = {}
    for want in REQUIRED:
        col = table.column(names.index(want)).combine_chunks()
        try:
            texts[want] = _date_texts(col, pa, pc) if want == "date" else _number_texts(col, pa, pc)
        except TypeError as exc:
            raise DataError(source, want, str(exc)) from None
    # a slice of rows at a time: a million cells as Python strings would dwarf the table
    builder = SeriesBuilder(path, price_scale, etf, market)
    rows = table.num_rows
    builder.reserve(rows)
    for start in range(0, rows, CHUNK_ROWS):
        n = min(CHUNK_ROWS, rows - start)
        builder.add({w: texts[w](start, n) for w in REQUIRED}, RowLabels(n, start))
        if progress is not None:
            progress(size * (start + n) // rows)
    stem = symbol if symbol is not None else path.stem
    return builder.finish(stem, lambda row: texts["date"](row, 1)[0])
