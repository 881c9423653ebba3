"""sma_cross through the whole pipeline equals an independent hand-written computation.

The reference below shares no code with QTS: it parses the CSV itself, scales S&P 500 points by
100 into won, rounds to the KRX tick in force on each row's date with its own copy of the KOSPI
band tables (until 2010-10-03, to 2023-01-24, since 2023-01-25: Hankyung 2000 and 2010-07-30,
KRX's 2023-01-25 revision), and runs the strategy as the issue defines it with exact fractions.
"""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import pytest
from cli_run import run_qts as qts

DATA = Path(__file__).parents[1] / "data"
# (from date, bands: (lower bound, tick), highest first; below the last bound: the last's floor)
ERAS = [
    (
        "2023-01-25",
        [(500_000, 1_000), (200_000, 500), (50_000, 100), (20_000, 50), (5_000, 10), (2_000, 5)],
        1,
    ),
    (
        "2010-10-04",
        [(500_000, 1_000), (100_000, 500), (50_000, 100), (10_000, 50), (5_000, 10), (1_000, 5)],
        1,
    ),
    ("0000-00-00", [(500_000, 1_000), (100_000, 500), (50_000, 100), (10_000, 50), (5_000, 10)], 5),
]


def tick(price: int, day: str) -> int:
    bands, floor = next((b, f) for start, b, f in ERAS if day >= start)
    return next((t for lo, t in bands if price >= lo), floor)


def to_grid(x: float, day: str) -> int:
    """Nearest grid price of ``day``, ties up: the rule --price-scale documents."""
    p = max(1, int(x + 0.5))
    down = p - p % tick(p, day)
    up = down if down == p else down + tick(down or 1, day)
    if up % tick(up, day):
        up += tick(up, day) - up % tick(up, day)
    if down == 0:  # below the lowest price on the grid (5 KRW before 2010-10-04)
        return up
    return up if up - x <= x - down else down


def reference(path: Path, scale: int, fast: int, slow: int, qty: int, cash: int):
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    dates = [r["date"] for r in rows]
    opens = [to_grid(float(r["open"]) * scale, r["date"]) for r in rows]
    closes = [to_grid(float(r["close"]) * scale, r["date"]) for r in rows]

    def sma(t: int, n: int) -> Fraction | None:
        return Fraction(sum(closes[t - n + 1 : t + 1]), n) if t >= n - 1 else None

    trades, holding, entry = [], False, None
    for t in range(1, len(rows) - 1):
        f0, s0, f1, s1 = sma(t - 1, fast), sma(t - 1, slow), sma(t, fast), sma(t, slow)
        if s0 is None:
            continue
        if f1 > s1 and f0 <= s0 and not holding:
            holding, entry = True, (dates[t + 1], opens[t + 1])
        elif f1 < s1 and f0 >= s0 and holding:
            holding = False
            trades.append((entry[0], entry[1], dates[t + 1], opens[t + 1]))
    equity = cash + sum((x - e) * qty for _, e, _, x in trades)
    if holding:
        equity += (closes[-1] - entry[1]) * qty
    return trades, equity


@pytest.mark.parametrize(
    ("name", "scale"), [("sp500_daily_1999_2018", 100), ("msft_daily_1986_2017", 1000)]
)
def test_sma_cross_matches_reference(tmp_path: Path, name: str, scale: int) -> None:
    src = DATA / f"{name}.csv"
    cash, qty = 1_000_000_000, 10
    proc = qts(
        "backtest",
        "--data",
        str(src),
        "--strategy",
        "sma_cross",
        "--param",
        "fast=10",
        "--param",
        "slow=30",
        "--qty",
        str(qty),
        "--cash",
        str(cash),
        "--fees",
        "none",
        "--price-scale",
        str(scale),
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    expected_trades, expected_equity = reference(src, scale, 10, 30, qty, cash)
    got = [
        (t["entry_time"][:10], t["entry_price"], t["exit_time"][:10], t["exit_price"])
        for t in summary["trades"]
    ]
    assert len(expected_trades) > 50
    assert got == expected_trades
    assert [t["pnl"] for t in summary["trades"]] == [
        (x - e) * qty for _, e, _, x in expected_trades
    ]
    assert all(t["symbol"] == name and t["qty"] == qty for t in summary["trades"])
    assert summary["final_equity"] == expected_equity
    assert summary["symbol_bars"] == sum(1 for _ in src.open()) - 1
    assert (tmp_path / "report.html").stat().st_size > 1000


def test_krx_fees_ledger_reconciles_to_the_won(tmp_path: Path) -> None:
    src = DATA / "sp500_daily_1999_2018.csv"
    db = tmp_path / "bt.sqlite"
    cash = 500_000_000
    proc = qts(
        "backtest",
        "--data",
        str(src),
        "--strategy",
        "sma_cross",
        "--qty",
        "7",
        "--cash",
        str(cash),
        "--fees",
        "krx",
        "--price-scale",
        "100",
        "--out",
        str(tmp_path),
        "--db",
        str(db),
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    led = qts("ledger", "--db", str(db), "--format", "json")
    assert led.returncode == 0, led.stderr
    rows = json.loads(led.stdout)
    assert rows and [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    rate = Fraction(140527, 1_000_000_000)  # KIS non-face-to-face 0.0140527 %
    held = 0
    for r in rows:
        assert r["amount"] == r["qty"] * r["price"]
        assert r["commission"] == int(r["amount"] * rate)
        if r["side"] == "BUY":
            assert r["tax"] == 0
            assert r["net_amount"] == -r["amount"] - r["commission"]
            held += r["qty"]
        else:
            assert r["tax"] > 0
            assert r["net_amount"] == r["amount"] - r["commission"] - r["tax"]
            held -= r["qty"]
        assert r["position_after"] == held
    final_cash = cash + sum(r["net_amount"] for r in rows)
    with src.open() as fh:
        last = list(csv.DictReader(fh))[-1]
    last_close = to_grid(float(last["close"]) * 100, last["date"])
    assert summary["final_equity"] == final_cash + held * last_close
    fees = sum(r["commission"] + r["tax"] for r in rows)
    assert summary["fees_paid"] == fees > 0
    trade_pnl = sum(t["pnl"] for t in summary["trades"])
    open_flow = sum(r["net_amount"] for r in rows[len(rows) - (1 if held else 0) :])
    assert trade_pnl + open_flow == final_cash - cash
