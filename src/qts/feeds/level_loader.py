"""Load a date + level file (e.g. a volatility index) into a ``LevelSeries``.

Why a module of its own: a level file is not a bar file; it is read whole and checked with the
same date and number rules as bars, but it has its own column and its own refusals.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np

from qts.core.errors import DataError
from qts.feeds.bars import LevelSeries
from qts.feeds.cells import _Bad, _date_column, _decimal_column, _raise_first
from qts.feeds.csv_rows import _columns, _read_rows


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
