"""What each data file is: symbols files, --market / --price-scale entries, and how they combine.

Every bad row is refused naming the file and line, the column and the reason; the market picks
the dated tick table (a 2015 KOSDAQ price of 150,100 is on KOSDAQ's 100-won grid, not on KOSPI's
500-won one; an ETF ticks 5 won).
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qts.core.errors import DataError, InputError
from qts.feeds.csv_loader import load_paths
from qts.feeds.symbols import FileSpec, data_specs, load_symbols
from qts.model.instrument import Market

HEADER = "date,open,high,low,close,volume\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    # 150,100 in 2015: on KOSDAQ's grid (100 above 50,000), off KOSPI's (500 from 100,000)
    kq = write(tmp_path / "kq.csv", HEADER + "2015-03-02,150100,150300,150000,150200,10\n")
    # 20,005: on the ETF grid (5), off every stock grid at that price (50)
    etf = write(tmp_path / "069500.csv", HEADER + "2015-03-02,20005,20010,20000,20005,10\n")
    # index points, to be scaled
    spx = write(tmp_path / "spx.csv", HEADER + "2015-03-02,2104.5,2107.6,2098.3,2105.1,10\n")
    return {"kq": kq, "etf": etf, "spx": spx}


def symbols(tmp_path: Path, text: str) -> Path:
    return write(tmp_path / "symbols.csv", text)


def test_a_symbols_file_marks_market_etf_scale_and_name(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    s = symbols(
        tmp_path,
        "file,market,price_scale,name\n"
        "kq.csv,KOSDAQ,,A KOSDAQ stock\n"
        "069500,etf,,KODEX 200\n"
        "spx.csv,KOSPI,100,S&P 500 x100\n",
    )
    series = load_paths(list(files.values()), specs=data_specs(symbols=s))
    got = {x.symbol: (x.market, x.etf, x.name, int(x.close[0])) for x in series}
    assert got == {
        "kq": (Market.KOSDAQ, False, "A KOSDAQ stock", 150_200),
        "069500": (Market.KOSPI, True, "KODEX 200", 20_005),
        # 210,510 on the 2015 KOSPI grid (500 from 100,000): 210,500
        "spx": (Market.KOSPI, False, "S&P 500 x100", 210_500),
    }


def test_without_marks_the_kosdaq_and_etf_prices_are_refused(files: dict[str, Path]) -> None:
    with pytest.raises(DataError) as info:
        load_paths([files["kq"]])
    assert "tick 500" in info.value.reason and info.value.field == "open"
    with pytest.raises(DataError):
        load_paths([files["etf"]])


def test_command_line_entries_default_and_per_file(files: dict[str, Path]) -> None:
    specs = data_specs(["KOSDAQ", "069500=ETF", "spx.csv=KOSPI"], ["spx=100"], None)
    series = {s.symbol: s for s in load_paths(list(files.values()), specs=specs)}
    assert (series["kq"].market, series["kq"].etf) == (Market.KOSDAQ, False)
    assert series["069500"].etf
    assert series["spx"].market is Market.KOSPI and int(series["spx"].open[0]) == 210_500


def test_per_file_options_win_over_the_symbols_file(tmp_path: Path, files: dict[str, Path]) -> None:
    s = symbols(tmp_path, "symbol,market,price_scale\nkq,KOSPI,\nspx,KOSPI,1000\n069500,ETF,\n")
    specs = data_specs(["kq=KOSDAQ"], ["spx=100"], s)
    assert specs.for_file(files["kq"]).market is Market.KOSDAQ
    assert specs.for_file(files["spx"]).price_scale == 100
    assert specs.for_file(files["etf"]) == FileSpec(Market.KOSPI, True)


def test_the_symbol_column_renames_a_file(tmp_path: Path, files: dict[str, Path]) -> None:
    s = symbols(tmp_path, "file,symbol,market\nkq.csv,247540,KOSDAQ\n")
    (series,) = load_paths([files["kq"]], specs=data_specs(symbols=s))
    assert series.symbol == "247540"


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        (
            "file,market\nkq.csv,NYSE\n",
            2,
            "market",
            "'NYSE' is not one of KOSPI, KOSDAQ, KONEX, ETF",
        ),
        ("file,market\nkq.csv,\n", 2, "market", "empty is not one of"),
        ("file,market,price_scale\nkq.csv,KOSDAQ,abc\n", 2, "price_scale", "'abc' is not a number"),
        ("file,market,price_scale\nkq.csv,KOSDAQ,-2\n", 2, "price_scale", "not a positive number"),
        ("file,market,price_scale\nkq.csv,KOSDAQ,nan\n", 2, "price_scale", "not a positive number"),
        ("file,market\nkq.csv,KOSDAQ\nkq.csv,KOSPI\n", 3, "file", "kq.csv is also on line 2"),
        ("file,market\n,KOSDAQ\n", 2, "file", "is empty"),
        ("file,market\nkq.csv,KOSDAQ,x\n", 2, None, "has 3 cells, the header 2"),
        ("file,markt\nkq.csv,KOSDAQ\n", 1, "markt", "unknown column"),
        ("market,name\nKOSDAQ,x\n", 1, "file", "needs a file or a symbol column"),
        ("file,name\nkq.csv,x\n", 1, "market", "needs a market column"),
    ],
)
def test_bad_rows_name_line_field_and_reason(
    tmp_path: Path, text: str, line: int, field: str | None, reason: str
) -> None:
    path = symbols(tmp_path, text)
    with pytest.raises(DataError) as info:
        load_symbols(path)
    assert info.value.source == f"{path}:{line}"
    assert info.value.field == field
    assert reason in info.value.reason


def test_every_data_file_needs_a_row(tmp_path: Path, files: dict[str, Path]) -> None:
    s = symbols(tmp_path, "file,market\nkq.csv,KOSDAQ\nother.csv,KOSPI\n")  # extra rows are fine
    with pytest.raises(DataError) as info:
        load_paths([files["kq"], files["spx"]], specs=data_specs([], ["100"], s))
    assert info.value.source == str(files["spx"])
    assert "no row in the symbols file" in info.value.reason


@pytest.mark.parametrize(
    ("markets", "scales", "option", "needle"),
    [
        (["NYSE"], [], "--market", "'NYSE' is not one of"),
        (["kq=nyse"], [], "--market", "'nyse' is not one of"),
        (["KOSDAQ", "KOSPI"], [], "--market", "a default was already given"),
        (["=KOSDAQ"], [], "--market", "expected FILE=VALUE"),
        (["kq=KOSDAQ", "kq=ETF"], [], "--market", "kq was already given"),
        ([], ["0"], "--price-scale", "0 is not a positive number"),
        ([], ["spx=x"], "--price-scale", "'x' is not a number"),
        ([], [""], "--price-scale", "empty is not a number"),
    ],
)
def test_bad_command_line_entries(
    markets: list[str], scales: list[str], option: str, needle: str
) -> None:
    with pytest.raises(InputError) as info:
        data_specs(markets, scales, None)
    assert info.value.source == option and needle in str(info.value)


def test_an_entry_for_a_file_not_loaded_is_refused(files: dict[str, Path]) -> None:
    with pytest.raises(InputError) as info:
        load_paths([files["kq"]], specs=data_specs(["kqq=KOSDAQ"], [], None))
    assert (info.value.source, info.value.field) == ("--market", "kqq")


@given(st.text(max_size=30))
def test_any_symbols_file_text_loads_or_is_refused_as_data(text: str) -> None:
    """No other exception escapes the parser, whatever the file holds."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.csv"
        path.write_text(text, encoding="utf-8")
        with contextlib.suppress(DataError):
            load_symbols(path)
