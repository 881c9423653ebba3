"""`qts backtest --ticks`: recorded quotes and prints drive the order book; scalp_reversion's
orders go through the execution pipeline and fill at the book's prices."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qts.backtest.ticks import load_ticks, run_tick_backtest
from qts.cli.main import app
from qts.core.errors import InputError
from qts.core.time import kst
from qts.execution.stages.state import ExecState
from qts.market.krx.tick_size import round_down, tick_size

SYM = "005930"
PARAMS = {"rsi_oversold": 55.0, "bb_k": 0.2, "rsi_exit": 60.0, "max_hold_minutes": 5}


def write_ticks(path: Path, minutes: int = 60, seed: int = 3) -> Path:
    """A seeded walk: a quote every 500 ms (ask one tick over the bid), a print every second."""
    rng = random.Random(seed)
    t = kst(2026, 3, 4, 10, 0)
    bid = 70_000
    lines = ["time,symbol,price,volume,bid,ask,bid_qty,ask_qty"]
    for k in range(minutes * 120):
        if k % 6 == 0:
            bid = round_down(max(60_000, bid + rng.choice([-1, -1, 0, 1, 1]) * tick_size(bid)))
        ask = bid + tick_size(bid)
        row = f"{t.isoformat()},{SYM},,,{bid},{ask},{rng.randint(50, 300)},{rng.randint(50, 300)}"
        if k % 2 == 0:
            px = rng.choice([bid, ask])
            row = f"{t.isoformat()},{SYM},{px},{rng.randint(1, 80)},{bid},{ask}," + ",".join(
                row.split(",")[6:]
            )
        lines.append(row)
        t += timedelta(milliseconds=500)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_scalp_orders_trade_on_the_book_through_the_pipeline(tmp_path: Path) -> None:
    ticks = load_ticks(write_ticks(tmp_path / "t.csv"))
    result = run_tick_backtest(ticks, "scalp_reversion", dict(PARAMS), 100_000_000)
    engine = result.engine
    try:
        scalp = engine.scalp
        assert scalp is not None
        done = scalp.pipeline.finished
        assert len(done) >= 4
        assert {e.state for e in done} <= {ExecState.COMPLETE, ExecState.ESCAPED}
        fills = engine.store.load_fills()
        assert fills and all("." in f.client_order_id for f in fills)  # slices, not whole orders
        bids = {t.bid for t in ticks if t.bid}
        asks = {t.ask for t in ticks if t.ask}
        for f in fills:  # every fill at a price the book showed (or a print reached)
            assert f.price in bids | asks
        s = result.summary()
        assert s["scalp_executions"] == len(done) and s["scalp_measured"] >= 1
        assert s["cycles"] >= 59
    finally:
        engine.close()


def test_cli_backtest_ticks_writes_the_report(tmp_path: Path) -> None:
    path = write_ticks(tmp_path / "t.csv", minutes=40)
    out = tmp_path / "out"
    args = ["backtest", "--ticks", str(path), "--strategy", "scalp_reversion", "--out", str(out)]
    for k, v in PARAMS.items():
        args += ["--param", f"{k}={v}"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ticks"] == 40 * 120 and "scalp_mean_slippage_bps" in summary


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("2026-03-04T10:00:00,005930,70000,1,,,,", "time"),
        ("2026-03-04T10:00:00+09:00,005930,70000,,,,,", "price/volume"),
        ("2026-03-04T10:00:00+09:00,005930,,,70100,70000,1,1", "bid/ask"),
        ("2026-03-04T10:00:00+09:00,005930,x,1,,,,", "price"),
    ],
)
def test_bad_tick_rows_name_line_and_field(tmp_path: Path, line: str, field: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("time,symbol,price,volume,bid,ask,bid_qty,ask_qty\n" + line + "\n")
    with pytest.raises(InputError) as err:
        load_ticks(p)
    assert err.value.field == field and err.value.source == f"{p}:2"
