"""Acceptance (issue 11): the S&P 500 over the years the bundled VIX covers, with VIX as the
operating state's volatility index. The state goes DEFENSIVE and comes back, the rebalancer moves
money, and on every trading day the three pools add up to that day's equity to the won."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parents[1] / "data"


def test_vix_drives_the_state_and_the_pools_follow_equity(tmp_path: Path) -> None:
    out = tmp_path / "out"
    db = tmp_path / "bt.sqlite"
    proc = subprocess.run(
        [
            sys.executable, "-m", "qts", "backtest",
            "--data", str(DATA / "sp500_daily_1999_2018.csv"),
            "--price-scale", "100",
            "--strategy", "sma_cross", "--qty", "10",
            "--index", str(DATA / "vix_daily_2014_2019.csv"),
            "--start", "2014-01-01", "--end", "2018-12-31",
            "--db", str(db),
            "--out", str(out),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    rows = summary["capital"]
    assert rows[0]["date"] == "2014-01-02" and rows[-1]["date"] == "2018-12-31"
    assert len(rows) == len({r["date"] for r in rows}) == 1_258  # one per trading day
    for r in rows:
        assert r["scalp"] + r["swing"] + r["portfolio"] == r["equity"], r
        assert min(r["scalp"], r["swing"], r["portfolio"]) >= 0
    # the pools' equity is the engine's own equity curve, day by day
    with_equity = _daily_equity(db)
    assert {r["date"]: r["equity"] for r in rows} == with_equity
    assert summary["final_equity"] == rows[-1]["equity"]
    moves = [(t["from"], t["to"]) for t in summary["state_transitions"]]
    assert ("BALANCED", "DEFENSIVE") in moves and ("DEFENSIVE", "BALANCED") in moves
    down = moves.index(("BALANCED", "DEFENSIVE"))
    assert ("DEFENSIVE", "BALANCED") in moves[down:]
    first = summary["state_transitions"][down]
    assert first["ts"].startswith("2015-08-25") and "VOL_INDEX" in first["reason"]
    # the states the rows show follow the transitions
    states = {r["date"]: r["state"] for r in rows}
    assert states["2015-08-24"] == "BALANCED" and states["2015-08-25"] == "DEFENSIVE"
    rebalances = [t for t in summary["transfers"] if t["kind"] == "REBALANCE"]
    assert rebalances and all(t["reason"] for t in summary["transfers"])
    day_total: dict[str, int] = {}
    for t in rebalances:
        day_total[t["ts"][:10]] = day_total.get(t["ts"][:10], 0) + t["amount"]
        assert t["amount"] >= 100_000
    for d, moved in day_total.items():
        assert moved <= with_equity[d] * 5 // 100  # ≤ 5 % of capital per day
    # while DEFENSIVE the portfolio pool grows toward 70 %
    later = next(r for r in rows if r["date"] == "2015-10-05")
    assert later["state"] == "DEFENSIVE" and later["portfolio"] > later["equity"] * 0.6
    html = (out / "report.html").read_text()
    assert "Capital pools and operating state" in html
    assert 'class="pool-portfolio"' in html and 'class="state-DEFENSIVE"' in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    # the history is in the run's store too
    hist = subprocess.run(
        [sys.executable, "-m", "qts", "state", "history", "--db", str(db)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert hist.returncode == 0, hist.stderr
    assert "BALANCED->DEFENSIVE" in hist.stdout and "DEFENSIVE->BALANCED" in hist.stdout


def _daily_equity(db: Path) -> dict[str, int]:
    from qts.data.sqlite import SqliteStore

    store = SqliteStore(str(db))
    try:
        return {p.ts.date().isoformat(): p.equity for p in store.load_equity()}
    finally:
        store.close()
