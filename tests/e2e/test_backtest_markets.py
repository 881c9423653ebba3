"""Bring your own data through the real `qts backtest`: say which market each file is and its
price scale, on the command line or in a symbols file; the market decides ticks, limits and tax
(an ETF's sells pay none), and bad rows are refused with file:line, column and reason."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from cli_run import run_qts as qts

DATA = Path(__file__).parents[1] / "data"
STRATEGY = ["--strategy", "sma_cross", "--param", "fast=3", "--param", "slow=8", "--qty", "10"]


def series(path: Path, start: int, step: int, n: int = 80) -> Path:
    """A zig-zag that crosses its averages often; prices move by ``step`` (the file's tick)."""
    rows, day = ["date,open,high,low,close,volume"], date(2015, 3, 2)
    for i in range(n):
        while day.weekday() >= 5:
            day += timedelta(days=1)
        p = start + step * ((i * 7) % 11 - 5) * (1 + (i // 10) % 3)
        rows.append(f"{day},{p},{p + step},{p - step},{p},100000")
        day += timedelta(days=1)
    path.write_text("\n".join(rows) + "\n")
    return path


def test_symbols_file_marks_kosdaq_and_etf_and_the_etf_pays_no_tax(tmp_path: Path) -> None:
    kq = series(tmp_path / "kq.csv", 150_000, 100)  # KOSDAQ's 100-won grid, not KOSPI's 500
    etf = series(tmp_path / "069500.csv", 20_000, 5)  # the ETF's 5-won grid
    symbols = tmp_path / "symbols.csv"
    symbols.write_text("file,market,name\nkq.csv,KOSDAQ,Some biotech\n069500,ETF,KODEX 200\n")
    out, db = tmp_path / "out", tmp_path / "bt.sqlite"
    proc = qts(
        "backtest", "--data", kq, "--data", etf, "--symbols", symbols, *STRATEGY,
        "--out", out, "--db", db,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    files = {f["symbol"]: f for f in summary["provenance"]["files"]}
    assert (files["kq"]["market"], files["kq"]["name"]) == ("KOSDAQ", "Some biotech")
    assert files["069500"]["market"] == "ETF"
    assert summary["provenance"]["symbols_file"]["path"] == str(symbols)
    led = qts("ledger", "--db", db, "--format", "json")
    rows = json.loads(led.stdout)
    sells = {r["symbol"]: r for r in rows if r["side"] == "SELL"}
    assert set(sells) == {"kq", "069500"}
    assert sells["069500"]["tax"] == 0  # no securities transaction tax on ETFs
    # KOSDAQ in 2015 (settled by T+2 in 2015): 0.30 % sell tax, floored
    assert sells["kq"]["tax"] == sells["kq"]["amount"] * 30 // 10_000


def test_the_same_files_on_the_command_line(tmp_path: Path) -> None:
    kq = series(tmp_path / "kq.csv", 150_000, 100)
    spx = tmp_path / "spx.csv"
    spx.write_text((DATA / "sp500_daily_1999_2018.csv").read_text())
    out = tmp_path / "out"
    proc = qts(
        "backtest", "--data", kq, "--data", spx, "--market", "kq=KOSDAQ",
        "--price-scale", "spx=100", *STRATEGY, "--out", out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    files = json.loads((out / "summary.json").read_text())["provenance"]["files"]
    assert [(f["symbol"], f["market"], f["price_scale"]) for f in files] == [
        ("kq", "KOSDAQ", None),
        ("spx", "KOSPI", 100.0),
    ]


def test_unmarked_kosdaq_prices_are_refused_with_the_table_that_applies(tmp_path: Path) -> None:
    kq = series(tmp_path / "kq.csv", 150_000, 100)
    proc = qts("backtest", "--data", kq, *STRATEGY, "--out", tmp_path / "out")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "kq.csv:2" in proc.stderr and "tick 500" in proc.stderr


def test_a_bad_symbols_row_is_refused_naming_line_column_and_reason(tmp_path: Path) -> None:
    kq = series(tmp_path / "kq.csv", 150_000, 100)
    symbols = tmp_path / "symbols.csv"
    symbols.write_text("file,market,price_scale\nkq.csv,KOSDAQ,\nother.csv,NASDAQ,\n")
    proc = qts("backtest", "--data", kq, "--symbols", symbols, *STRATEGY, "--out", tmp_path / "o")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"{symbols}:3: market: 'NASDAQ' is not one of KOSPI, KOSDAQ, KONEX, ETF" in proc.stderr
