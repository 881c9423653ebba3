"""Loading in chunks gives exactly what checking the whole file at once gives: the same series,
or the same refusal (line, column, words), whatever chunk a problem falls in and whichever
reader (plain split or the csv module) reads the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qts.feeds.csv_loader as loader
from qts.core.errors import DataError
from qts.feeds.bars import BarSeries

GOOD = [
    f"2024-01-{d:02d},{p},{p + 100},{p - 50},{p + 50},{100 * d}"
    for d, p in zip(range(2, 30), range(12_000, 20_000, 100), strict=False)
]
# cells that break one rule each, in the column they go to (date, open, high, low, close, volume)
BAD_CELLS = [
    (0, "2024/01/05"),
    (0, "2024-02-30"),
    (0, "2024-01-09 10:30"),
    (0, " 2024-01-09"),
    (0, "1988-05-10"),  # summer time: the zoneinfo path
    (0, "2024-01-02"),  # not after the previous row
    (1, "abc"),
    (1, "12050.5"),
    (2, ""),
    (3, "-100"),
    (4, "12345"),  # off the tick grid
    (5, "2.5"),
    (5, "-3"),
]


def whole_file(path: Path, price_scale: float | None) -> BarSeries:
    """The reference: every row read by the csv module, then every cell checked at once."""
    header, rows, lines = loader._read_rows(path)
    cols = loader._columns(path, header, rows, lines, loader.REQUIRED)
    return loader.series_from_cells(path, cols, lines, price_scale)


def outcome(load: object, *args: object) -> object:
    try:
        return load(*args)  # type: ignore[operator]
    except DataError as exc:
        return str(exc)


@st.composite
def files(draw: st.DrawFn) -> str:
    rows = [r.split(",") for r in draw(st.lists(st.sampled_from(GOOD), min_size=1, max_size=20))]
    rows.sort(key=lambda r: r[0])
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(rows) - 1))
        col, cell = draw(st.sampled_from(BAD_CELLS))
        rows[i][col] = cell
    lines = [",".join(r) for r in rows]
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), "")  # a blank line
    if draw(st.booleans()):
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = ",".join(f'"{c}"' for c in lines[i].split(","))  # quoted cells
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return end.join(["date,open,high,low,close,volume", *lines]) + end


@settings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files(), st.integers(1, 200), st.integers(1, 7), st.sampled_from([None, 1.0]))
def test_chunks_equal_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, chunk_bytes: int,
    chunk_rows: int, scale: float | None,
) -> None:  # fmt: skip
    path = tmp_path / "X.csv"
    path.write_bytes(text.encode())
    monkeypatch.setattr(loader, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(loader, "CHUNK_ROWS", chunk_rows)
    expected = outcome(whole_file, path, scale)
    assert outcome(loader.load_csv, path, scale) == expected


def test_progress_hears_the_bytes_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "X.csv"
    path.write_text("date,open,high,low,close,volume\n" + "\n".join(GOOD) + "\n")
    monkeypatch.setattr(loader, "CHUNK_BYTES", 100)
    heard: list[int] = []
    series = loader.load_csv(path, progress=heard.append)
    assert len(series) == len(GOOD)
    assert heard == sorted(heard) and len(heard) > 5
    assert heard[-1] == path.stat().st_size


def test_a_large_file_is_kept_as_int64_columns_only(tmp_path: Path) -> None:
    path = tmp_path / "X.csv"
    path.write_text("date,open,high,low,close,volume\n" + "\n".join(GOOD) + "\n")
    series = loader.load_csv(path)
    for name in ("ts", "open", "high", "low", "close", "volume"):
        col = getattr(series, name)
        assert col.dtype.name == "int64" and not col.flags.writeable


def _text(*rows: str) -> str:
    return "date,open,high,low,close,volume\n" + "".join(f"{r}\n" for r in rows)


ROW = "{},12000,12100,11950,12050,200"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        # a cell that is no date at all outranks an impossible date on an earlier row
        (_text(ROW.format("2024-02-30"), ROW.format("2024/01/05")), 3, "is not a date"),
        # a daily chunk, then two date-time chunks: the one daily row is the odd one out
        (_text(ROW.format("2024-01-02"), ROW.format("2024-01-03 09:00"),
               ROW.format("2024-01-03 09:01")), 2, "is a date but most rows have a date-time"),
        # a price problem on row 2 outranks a mixed date on row 3
        (_text("2024-01-02,x,12100,11950,12050,200", ROW.format("2024-01-03 09:00"),
               ROW.format("2024-01-04")), 2, "'x' is not a number"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("chunk", [1, 10_000])
def test_the_refusal_ranks_problems_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, line: int, reason: str, chunk: int
) -> None:
    path = tmp_path / "X.csv"
    path.write_text(text)
    monkeypatch.setattr(loader, "CHUNK_BYTES", chunk)
    with pytest.raises(DataError) as caught:
        loader.load_csv(path)
    assert caught.value.source == f"{path}:{line}"
    assert reason in caught.value.reason
    assert str(caught.value) == outcome(whole_file, path, None)
