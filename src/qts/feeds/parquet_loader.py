"""Load OHLCV bars from Parquet files, with exactly the checks and messages of the CSV loader.

Each column is turned into the text a CSV file would hold for it (dates as ``YYYY-MM-DD`` or
KST wall-clock ``YYYY-MM-DD HH:MM:SS``, numbers in plain notation, nulls as empty cells) and
handed to :func:`qts.feeds.csv_loader.series_from_cells`. One code path validates every format,
so the two can never drift apart; a row is named ``file.parquet:row N`` (N counts data rows
from 1). Typed columns are accepted as Parquet writers make them: ``date32``, ``timestamp``
(naive = KST wall clock; with a zone = converted to KST; all at midnight = daily), integers,
floats and strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

from qts.core.errors import DataError
from qts.feeds.bars import BarSeries
from qts.feeds.csv_loader import REQUIRED, series_from_cells


class RowLabels(Sequence[str]):
    """``row N`` for each data row, without building a million strings up front."""

    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [f"row {k + 1}" for k in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        return f"row {i % self._n + 1}"


def _date_texts(col: Any, pa: Any, pc: Any) -> list[str]:
    kind = col.type
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:
            col = pc.local_timestamp(col.cast(pa.timestamp(kind.unit, tz="Asia/Seoul")))
        per_day = 86_400 * {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[kind.unit]
        wall = pc.fill_null(pc.cast(col, pa.int64()), 0).to_numpy()
        fmt = "%Y-%m-%d" if bool((wall % per_day == 0).all()) else "%Y-%m-%d %H:%M:%S"
        # whole seconds: bars are stamped to the second, and %S would print fractions
        texts = pc.strftime(col.cast(pa.timestamp("s"), safe=False), format=fmt)
    elif pa.types.is_date(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
        texts = pc.cast(col, pa.string())
    else:
        raise TypeError(f"a {kind} column cannot hold dates (expected date, timestamp or text)")
    return [t if t is not None else "" for t in texts.to_pylist()]


def _number_texts(col: Any, pa: Any, pc: Any) -> list[str]:
    kind = col.type
    if not (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
    ):
        raise TypeError(f"a {kind} column cannot hold numbers")
    return [t if t is not None else "" for t in pc.cast(col, pa.string()).to_pylist()]


def load_parquet(
    path: Path, price_scale: float | None = None, etf: bool = False, symbol: str | None = None
) -> BarSeries:
    """One symbol's bars from the Parquet file ``path`` (symbol: the file stem unless given)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    source = str(path)
    try:
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
    cols: dict[str, list[str]] = {}
    for want in REQUIRED:
        col = table.column(names.index(want)).combine_chunks()
        try:
            cols[want] = _date_texts(col, pa, pc) if want == "date" else _number_texts(col, pa, pc)
        except TypeError as exc:
            raise DataError(source, want, str(exc)) from None
    return series_from_cells(path, cols, RowLabels(table.num_rows), price_scale, etf, symbol)
