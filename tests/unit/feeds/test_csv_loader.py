"""CSV bar loading: real files under KRX rules, precise refusals, folders, and parser properties."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qts.core.errors import DataError
from qts.core.time import kst
from qts.feeds.bars import daily_epoch, to_epoch
from qts.feeds.csv_loader import load_csv, load_level_csv, load_paths
from qts.market.krx.tick_size import round_nearest, tick_table

DATA = Path(__file__).resolve().parents[2] / "data"
SP500 = DATA / "sp500_daily_1999_2018.csv"
MSFT = DATA / "msft_daily_1986_2017.csv"
VIX = DATA / "vix_daily_2014_2019.csv"

HEADER = "date,open,high,low,close,volume\n"
GOOD_ROWS = [
    "2024-01-02,12000,12100,11950,12050,1000\n",
    "2024-01-03,12050,12200,12000,12150,2000\n",
    "2024-01-04,12150,12150,11900,11950,1500\n",
]


def write(tmp_path: Path, text: str, name: str = "005930.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path, **kwargs: object) -> DataError:
    with pytest.raises(DataError) as info:
        load_csv(path, **kwargs)  # type: ignore[arg-type]
    return info.value


# --- the real files ----------------------------------------------------------------------------


def test_sp500_scaled_by_100_is_on_the_grid_of_each_date() -> None:
    s = load_csv(SP500, price_scale=100)
    assert len(s) == 5031 and s.symbol == "sp500_daily_1999_2018"
    for i in range(len(s)):
        grid = tick_table(s.time_at(i).date())
        assert all(grid.is_on_tick(int(c[i])) for c in (s.open, s.high, s.low, s.close))
    # first row 1999-01-04: open 1229.22998, close 1228.099976, volume 877000000; the 1999 KOSPI
    # table ticks 500 KRW from 100,000 (today's: 100), so 122,923 rounds to 123,000
    assert s.bar(0).ts == kst(1999, 1, 4, 9, 0)
    assert int(s.open[0]) == tick_table(date(1999, 1, 4)).round_nearest(1229.22998 * 100)
    assert int(s.open[0]) == 123_000
    assert int(s.close[0]) == 123_000  # 122,810 -> 123,000
    assert int(s.volume[0]) == 877_000_000
    assert s.bar(len(s) - 1).ts == kst(2018, 12, 31, 9, 0)
    assert np.all(np.diff(s.ts) > 0)
    s.validate()


def test_msft_scaled_by_1000_loads_including_korean_summer_time_days() -> None:
    s = load_csv(MSFT, price_scale=1000)
    assert len(s) == 7983
    # 1986: the KOSPI table ticked 5 KRW below 5,000 (67.2 -> 65, 75.33 -> 75)
    assert (int(s.open[0]), int(s.close[0])) == (65, 75)
    assert all(tick_table(s.time_at(i).date()).is_on_tick(int(s.close[i])) for i in range(len(s)))
    # 1987-07-01 fell in Korean summer time; a fixed +09:00 would put the bar at 08:00 KST
    july = int(np.searchsorted(s.ts, to_epoch(kst(1987, 7, 1, 9, 0))))
    assert s.bar(july).ts == kst(1987, 7, 1, 9, 0)
    s.validate()


def test_sp500_without_scale_is_refused_at_line_2() -> None:
    err = refusal(SP500)
    assert err.source == f"{SP500}:2"
    assert err.field == "open"
    assert "1229.22998 is not a whole number of KRW" in err.reason
    assert "sp500_daily_1999_2018.csv:2: open: 1229.22998" in str(err)


def test_vix_levels_with_fred_missing_markers() -> None:
    with pytest.raises(DataError) as info:
        load_level_csv(VIX)
    err = info.value
    assert (err.source, err.field) == (f"{VIX}:13", "vix")  # 2014-01-20 is "."
    v = load_level_csv(VIX, missing=(".",))
    assert len(v) == 1305 - 46 and v.name == "vix_daily_2014_2019"
    assert v.value[0] == 13.76 and v.time_at(0) == kst(2014, 1, 3, 9, 0)
    assert np.all(v.value > 0)


# --- accepted variations -----------------------------------------------------------------------


def test_whole_numbers_written_as_floats_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2024-01-02,12000.0,12100.00,11950.,12050,1000.0\n")
    s = load_csv(path)
    assert s.bar(0).open == 12000 and s.bar(0).high == 12100 and s.bar(0).low == 11950
    assert s.bar(0).volume == 1000


def test_header_any_case_order_and_extra_columns(tmp_path: Path) -> None:
    text = (
        "\ufeffVolume, Close ,adj_close,LOW,High,Open,DATE\r\n"
        "1000,12050,1.5,11950,12100,12000,2024-01-02\r\n"
        "\r\n"
        "2000,12150,x,12000,12200,12050,2024-01-03\r\n"
    )
    s = load_csv(write(tmp_path, text), symbol="ABC")
    assert s.symbol == "ABC"
    assert s.close.tolist() == [12050, 12150] and s.volume.tolist() == [1000, 2000]
    assert s.ts.tolist() == [daily_epoch(date(2024, 1, 2)), daily_epoch(date(2024, 1, 3))]


def test_intraday_times_are_kst(tmp_path: Path) -> None:
    text = (
        HEADER + "2024-01-02 09:00,12000,12100,11950,12050,1000\n"
        "2024-01-02T09:01:30,12050,12100,12000,12100,10\n"
    )
    s = load_csv(write(tmp_path, text))
    assert s.bar(0).ts == kst(2024, 1, 2, 9, 0)
    assert s.bar(1).ts == kst(2024, 1, 2, 9, 1, 30)


def test_etf_grid_is_five_won(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2024-01-02,12345,12350,12340,12345,10\n")
    assert "tick 10" in refusal(path).reason
    assert load_csv(path, etf=True).close.tolist() == [12345]
    bad = write(tmp_path, HEADER + "2024-01-02,12345,12350,12340,12343,10\n", "etf.csv")
    assert refusal(bad, etf=True).reason == (
        "12,343 is not on the KRX tick grid (tick 5 at this price in the ETF/ETN table)"
    )


def test_scaling_rounds_each_price_to_the_nearest_tick(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2024-01-02,1234.56,1250,1199.94,1234.44,7\n")
    s = load_csv(path, price_scale=10)
    assert s.bar(0).open == round_nearest(12345.6) == 12350
    assert s.bar(0).close == round_nearest(12344.4) == 12340
    assert s.bar(0).low == round_nearest(11999.4) == 12_000  # nearest tick of 10 above 11,990


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_scale_is_a_programming_error(tmp_path: Path, scale: float) -> None:
    with pytest.raises(ValueError, match="price_scale"):
        load_csv(write(tmp_path, HEADER + GOOD_ROWS[0]), price_scale=scale)


# --- refusals: line, column and reason ---------------------------------------------------------


def _with_row(i: int, row: str) -> str:
    rows = list(GOOD_ROWS)
    rows[i] = row
    return HEADER + "".join(rows)


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        (_with_row(1, "2024-01-03,12050,12200,12000,12345,2000\n"), 3, "close",
         "12,345 is not on the KRX tick grid (tick 10 at this price in the KOSPI/KOSDAQ/KONEX "
         "since 2023-01-25 table)"),
        (_with_row(1, "2024-01-03,12050.5,12200,12000,12150,2000\n"), 3, "open",
         "12050.5 is not a whole number of KRW"),
        (_with_row(2, "2024-01-04,12150,abc,11900,11950,1500\n"), 4, "high",
         "'abc' is not a number"),
        (_with_row(2, "2024-01-04,12150,12150,,11950,1500\n"), 4, "low", "is empty"),
        (_with_row(0, "2024-01-02,0,12100,11950,12050,1000\n"), 2, "open",
         "0 is not a positive price"),
        (_with_row(0, "2024-01-02,-12000,12100,11950,12050,1000\n"), 2, "open",
         "-12,000 is not a positive price"),
        (_with_row(1, "2024-01-03,12050,12100,12000,12150,2000\n"), 3, "high",
         "12,100 is below max(open, close) 12,150"),
        (_with_row(1, "2024-01-03,12050,12200,12100,12150,2000\n"), 3, "low",
         "12,100 is above min(open, close) 12,050"),
        (_with_row(1, "2024-01-03,12050,12200,12000,12150,-5\n"), 3, "volume", "-5 is negative"),
        (_with_row(1, "2024-01-03,12050,12200,12000,12150,2.5\n"), 3, "volume",
         "2.5 is not a whole number of shares"),
        (_with_row(1, "2024-01-02,12050,12200,12000,12150,2000\n"), 3, "date",
         "2024-01-02 is not after 2024-01-02 on the previous row"),
        (_with_row(2, "2024-01-01,12150,12150,11900,11950,1500\n"), 4, "date",
         "2024-01-01 is not after 2024-01-03 on the previous row"),
        (_with_row(1, "2024/01/03,12050,12200,12000,12150,2000\n"), 3, "date",
         "'2024/01/03' is not a date"),
        (_with_row(1, "2024-02-30,12050,12200,12000,12150,2000\n"), 3, "date",
         "2024-02-30 is not a valid date"),
        (_with_row(2, "2024-01-04 09:00,12150,12150,11900,11950,1500\n"), 4, "date",
         "2024-01-04 09:00 is a date-time but most rows have a date"),
        (_with_row(1, "2024-01-03,12050,12200,12000\n"), 3, None,
         "4 fields, the header has 6"),
    ],
)  # fmt: skip
def test_malformed_rows_name_line_column_and_reason(
    tmp_path: Path, text: str, line: int, field: str | None, reason: str
) -> None:
    path = write(tmp_path, text)
    err = refusal(path)
    assert err.source == f"{path}:{line}"
    assert err.field == field
    assert reason in err.reason, err.reason


def test_a_blank_line_does_not_shift_line_numbers(tmp_path: Path) -> None:
    text = HEADER + GOOD_ROWS[0] + "\n\n" + "2024-01-03,12050,12200,12000,12345,2000\n"
    path = write(tmp_path, text)
    assert refusal(path).source == f"{path}:5"


def test_the_first_problem_in_the_file_is_reported(tmp_path: Path) -> None:
    text = (
        HEADER
        + GOOD_ROWS[0]
        + "2024-01-03,12050,12200,12000,12150,x\n"  # volume garbage on line 3
        + "2024-01-04,y,12150,11900,11950,1500\n"  # open garbage on line 4
    )
    err = refusal(write(tmp_path, text))
    assert (err.source.rsplit(":", 1)[1], err.field) == ("3", "volume")


def test_scaled_ordering_and_positivity_refusals(tmp_path: Path) -> None:
    neg = write(tmp_path, _with_row(1, "2024-01-03,12050,12200,-0.5,12150,2000\n"))
    err = refusal(neg, price_scale=1.0)
    assert (err.source, err.field, err.reason) == (f"{neg}:3", "low", "-0.5 is not positive")
    low = write(tmp_path, HEADER + "2024-01-02,100.0,100.2,100.1,100.0,5\n", "low.csv")
    err = refusal(low, price_scale=100)
    assert (err.source, err.field) == (f"{low}:2", "low")
    assert err.reason == "10,010 is above min(open, close) 10,000 after scaling by 100"


@pytest.mark.parametrize(
    ("text", "source_line", "reason"),
    [
        ("", 1, "the file is empty"),
        (HEADER, 2, "no data rows after the header"),
        ("date,open,high,close\n2024-01-02,1,1,1\n", 1, "lacks column(s) low, volume"),
        ("date,open,high,low,close,volume,close\n2024-01-02,1,1,1,1,1,1\n", 1, "repeats"),
    ],
)
def test_file_level_refusals(tmp_path: Path, text: str, source_line: int, reason: str) -> None:
    path = write(tmp_path, text)
    err = refusal(path)
    assert err.source == f"{path}:{source_line}"
    assert reason in err.reason


def test_non_utf8_bytes_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes((HEADER + GOOD_ROWS[0]).encode() + b"2024-01-03,\xff\n")
    assert refusal(path).source == f"{path}:3"


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    err = refusal(tmp_path / "nope.csv")
    assert "cannot read" in err.reason


# --- folders -----------------------------------------------------------------------------------


def test_folder_loads_every_csv_sorted_with_stem_as_symbol(tmp_path: Path) -> None:
    folder = tmp_path / "bars"
    folder.mkdir()
    (folder / "sub").mkdir()
    write(folder, HEADER + GOOD_ROWS[0], "069500.csv")
    write(folder, HEADER + GOOD_ROWS[1], "005930.csv")
    write(folder, "not csv", "notes.txt")
    write(folder / "sub", HEADER + GOOD_ROWS[2], "000660.csv")  # not recursive
    extra = write(tmp_path, HEADER + GOOD_ROWS[2], "000270.csv")
    series = load_paths([folder, extra], etf={"069500"})
    assert [s.symbol for s in series] == ["005930", "069500", "000270"]
    assert [s.etf for s in series] == [False, True, False]


def test_folder_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"no \*\.csv or \*\.parquet files"):
        load_paths([empty])
    with pytest.raises(DataError, match="no such file or folder"):
        load_paths([tmp_path / "missing"])
    a = tmp_path / "a"
    a.mkdir()
    write(a, HEADER + GOOD_ROWS[0], "X.csv")
    dup = write(tmp_path, HEADER + GOOD_ROWS[0], "X.csv")
    with pytest.raises(DataError, match="symbol X is also loaded from"):
        load_paths([a, dup])
    bad = tmp_path / "b"
    bad.mkdir()
    broken = write(bad, HEADER + "2024-01-02,1,1,1,1,oops\n", "Y.csv")
    with pytest.raises(DataError) as info:
        load_paths([bad])
    assert info.value.source == f"{broken}:2"


# --- properties --------------------------------------------------------------------------------


@st.composite
def valid_rows(draw: st.DrawFn) -> list[tuple[date, int, int, int, int, int]]:
    n = draw(st.integers(1, 30))
    day = draw(st.dates(date(1990, 1, 1), date(2030, 1, 1)))
    rows = []
    for _ in range(n):
        day += timedelta(days=draw(st.integers(1, 5)))
        grid = tick_table(day)  # each row on its own date's grid (1990s rows: 5 KRW and up)
        o, c = (grid.round_up(draw(st.integers(1, 3_000_000))) for _ in range(2))
        h = grid.round_up(max(o, c) + draw(st.integers(0, 5_000)))
        low = grid.round_down(max(1, min(o, c) - draw(st.integers(0, 5_000))))
        low = max(low, grid.lowest)
        rows.append((day, o, h, low, c, draw(st.integers(0, 10**15))))
    return rows


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(valid_rows(), st.permutations(range(7)), st.booleans(), st.booleans())
def test_valid_rows_roundtrip_exactly(
    tmp_path: Path,
    rows: list[tuple[date, int, int, int, int, int]],
    order: list[int],
    as_float: bool,
    upper: bool,
) -> None:
    names = ["date", "open", "high", "low", "close", "volume", "note"]
    header = [names[i].upper() if upper else names[i] for i in order]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for d, *nums in rows:
        cells = [d.isoformat()] + [f"{v}.0" if as_float else str(v) for v in nums] + ["a,b"]
        w.writerow([cells[i] for i in order])
    s = load_csv(write(tmp_path, buf.getvalue(), "p.csv"))
    assert s.ts.tolist() == [daily_epoch(r[0]) for r in rows]
    for k, col in enumerate((s.open, s.high, s.low, s.close, s.volume), start=1):
        assert col.tolist() == [r[k] for r in rows]


garbage = st.text(st.characters(codec="utf-8"), max_size=12)


def _well_formed(text: str, column: str, scale: float | None) -> bool:
    """An independent statement of what a cell may hold."""
    t = text.strip()
    if column == "date":
        return re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", t) is not None
    m = re.fullmatch(r"[+-]?([0-9]*)(?:\.([0-9]*))?", t)
    if m is None or not (m[1] or m[2]):
        return False
    if column == "volume" or scale is None:
        return not (m[2] or "").strip("0")
    return True


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(
    st.integers(0, 2),
    st.sampled_from(["open", "high", "low", "close", "volume", "date"]),
    garbage,
    st.sampled_from([None, 100.0]),
)
def test_garbage_in_a_cell_is_a_data_error_naming_its_line(
    tmp_path: Path, row: int, column: str, text: str, scale: float | None
) -> None:
    cells = [next(csv.reader([r])) for r in GOOD_ROWS]
    cells[row][HEADER.strip().split(",").index(column)] = text
    buf = io.StringIO()
    w = csv.writer(buf)  # the default \r\n terminator makes it quote cells holding \r or \n
    w.writerow(HEADER.strip().split(","))
    w.writerows(cells)
    path = write(tmp_path, buf.getvalue(), "g.csv")
    ok = _well_formed(text, column, scale)
    try:
        load_csv(path, price_scale=scale)
    except DataError as err:
        lines = {row + 2}
        if ok and column == "date":
            lines.add(row + 3)  # a real date can be out of order with the next row
        assert err.source in {f"{path}:{n}" for n in lines}, (err, text)
        return
    assert ok, f"{text!r} was accepted"
