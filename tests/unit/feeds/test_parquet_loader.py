"""Parquet bar loading: the same series and the same refusals as the CSV holding the same data."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qts.core.errors import DataError
from qts.feeds.bars import BarSeries
from qts.feeds.csv_loader import load_csv, load_paths
from qts.feeds.parquet_loader import RowLabels, load_parquet

DATA = Path(__file__).resolve().parents[2] / "data"
SP500 = DATA / "sp500_daily_1999_2018.csv"
COLUMNS = ("date", "open", "high", "low", "close", "volume")


def same_series(a: BarSeries, b: BarSeries) -> None:
    assert a.symbol == b.symbol
    for name in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue()


def as_string_parquet(path: Path, rows: list[list[str]]) -> Path:
    table = pa.table(
        {c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(COLUMNS)}
    )
    pq.write_table(table, path)
    return path


def test_typed_columns_of_a_real_series_load_like_its_csv(tmp_path: Path) -> None:
    with SP500.open(newline="") as f:
        rows = list(csv.DictReader(f))
    table = pa.table(
        {
            "Date": pa.array([date.fromisoformat(r["date"]) for r in rows], pa.date32()),
            "Open": pa.array([float(r["open"]) for r in rows]),
            "High": pa.array([float(r["high"]) for r in rows]),
            "Low": pa.array([float(r["low"]) for r in rows]),
            "Close": pa.array([float(r["close"]) for r in rows]),
            "Volume": pa.array([int(float(r["volume"])) for r in rows], pa.int64()),
            "adj_close": pa.array([float(r["adj_close"]) for r in rows]),
        }
    )
    path = tmp_path / "sp500_daily_1999_2018.parquet"
    pq.write_table(table, path)
    same_series(load_parquet(path, price_scale=100), load_csv(SP500, price_scale=100))


def test_zoned_timestamps_become_kst_wall_clock_minutes(tmp_path: Path) -> None:
    seoul = ZoneInfo("Asia/Seoul")
    times = [datetime(2024, 1, 2, 9, m, tzinfo=seoul) for m in (0, 1, 2)]
    prices = [12000, 12050, 12100]
    table = pa.table(
        {
            "date": pa.array(times, pa.timestamp("us", tz="UTC")),
            "open": prices,
            "high": prices,
            "low": prices,
            "close": prices,
            "volume": [10, 20, 30],
        }
    )
    pq.write_table(table, tmp_path / "005930.parquet")
    text = "".join(
        f"2024-01-02 09:0{m},{p},{p},{p},{p},{v}\n"
        for m, p, v in zip((0, 1, 2), prices, (10, 20, 30), strict=True)
    )
    (tmp_path / "x.csv").write_text("date,open,high,low,close,volume\n" + text)
    parquet = load_parquet(tmp_path / "005930.parquet")
    expected = load_csv(tmp_path / "x.csv", symbol="005930")
    same_series(parquet, expected)


def test_midnight_timestamps_are_daily_bars(tmp_path: Path) -> None:
    days = [datetime(2024, 1, d) for d in (2, 3, 4)]
    prices = [12000, 12050, 12100]
    table = pa.table(
        {"date": pa.array(days, pa.timestamp("ns")), "open": prices, "high": prices,
         "low": prices, "close": prices, "volume": [1, 2, 3]}
    )  # fmt: skip
    pq.write_table(table, tmp_path / "A.parquet")
    rows = [[f"2024-01-0{d}", str(p), str(p), str(p), str(p), str(v)]
            for d, p, v in zip((2, 3, 4), prices, (1, 2, 3), strict=True)]  # fmt: skip
    (tmp_path / "A.csv").write_text(csv_text(rows))
    same_series(load_parquet(tmp_path / "A.parquet"), load_csv(tmp_path / "A.csv"))


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (["2024-01-03", "12050", "12200", "12000", "12345", "2000"], "close"),
        (["2024-01-03", "12050.5", "12200", "12000", "12150", "2000"], "open"),
        (["2024-01-03", "12050", "", "12000", "12150", "2000"], "high"),
        (["2024-01-03", "12050", "12200", "12000", "12150", "-5"], "volume"),
        (["2024-01-02", "12050", "12200", "12000", "12150", "2000"], "date"),
        (["2024/01/03", "12050", "12200", "12000", "12150", "2000"], "date"),
    ],
)
def test_refusals_match_the_csv_loader_word_for_word(
    tmp_path: Path, row: list[str], field: str
) -> None:
    rows = [
        ["2024-01-02", "12000", "12100", "11950", "12050", "1000"],
        row,
        ["2024-01-04", "12150", "12150", "11900", "11950", "1500"],
    ]
    (tmp_path / "X.csv").write_text(csv_text(rows))
    with pytest.raises(DataError) as from_csv:
        load_csv(tmp_path / "X.csv")
    with pytest.raises(DataError) as from_parquet:
        load_parquet(as_string_parquet(tmp_path / "X.parquet", rows))
    assert from_parquet.value.field == from_csv.value.field == field
    assert from_parquet.value.reason == from_csv.value.reason
    assert from_csv.value.source.endswith("X.csv:3")
    assert from_parquet.value.source == f"{tmp_path / 'X.parquet'}:row 2"


def test_file_level_refusals_name_the_file(tmp_path: Path) -> None:
    table = pa.table({"date": ["2024-01-02"], "open": [1], "high": [1], "low": [1], "close": [1]})
    pq.write_table(table, tmp_path / "A.parquet")
    with pytest.raises(DataError, match=r"lacks column\(s\) volume"):
        load_parquet(tmp_path / "A.parquet")
    (tmp_path / "B.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="Parquet") as info:
        load_parquet(tmp_path / "B.parquet")
    assert info.value.source == str(tmp_path / "B.parquet")
    nested = pa.table({c: pa.array([[1]]) for c in COLUMNS})
    pq.write_table(nested, tmp_path / "C.parquet")
    with pytest.raises(DataError) as bad_type:
        load_parquet(tmp_path / "C.parquet")
    assert bad_type.value.field == "date"


def test_a_folder_mixes_csv_and_parquet(tmp_path: Path) -> None:
    rows = [["2024-01-02", "12000", "12100", "11950", "12050", "1000"]]
    (tmp_path / "A.csv").write_text(csv_text(rows))
    as_string_parquet(tmp_path / "B.parquet", rows)
    (tmp_path / "notes.txt").write_text("ignored")
    series = load_paths([tmp_path])
    assert [s.symbol for s in series] == ["A", "B"]
    same_series(series[1], load_csv(tmp_path / "A.csv", symbol="B"))


def test_row_labels_behave_like_a_list() -> None:
    labels = RowLabels(3)
    assert list(labels) == ["row 1", "row 2", "row 3"]
    assert labels[-1] == "row 3" and labels[1:] == ["row 2", "row 3"]
    with pytest.raises(IndexError):
        labels[3]


cell = st.one_of(
    st.integers(-5, 200_000).map(str),
    st.sampled_from(["", "abc", "1.5", "12000.0", "2024-01-02", "2024-01-03 09:00"]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.lists(cell, min_size=6, max_size=6), min_size=1, max_size=4),
    st.sampled_from([None, 1.0, 100.0]),
)
def test_any_cells_give_the_csv_loaders_outcome(
    tmp_path: Path, rows: list[list[str]], scale: float | None
) -> None:
    """Property: for every table of cells, Parquet and CSV agree on the series or the refusal."""
    (tmp_path / "P.csv").write_text(csv_text(rows))
    as_string_parquet(tmp_path / "P.parquet", rows)
    try:
        expected: BarSeries | DataError = load_csv(tmp_path / "P.csv", price_scale=scale)
    except DataError as exc:
        expected = exc
    try:
        got: BarSeries | DataError = load_parquet(tmp_path / "P.parquet", price_scale=scale)
    except DataError as exc:
        got = exc
    if isinstance(expected, DataError):
        assert isinstance(got, DataError)
        assert (got.field, got.reason) == (expected.field, expected.reason)
        line = int(expected.source.rsplit(":", 1)[1])
        assert got.source.endswith(f":row {line - 1}")
    else:
        assert isinstance(got, BarSeries)
        same_series(got, expected)
