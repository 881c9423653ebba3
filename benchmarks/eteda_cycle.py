"""One ETEDA cycle (extract → transform → evaluate → decide → act, plus the commit of decisions,
equity and checkpoint) over 100 symbols with all three strategies, on the simulated exchange.

Measured twice in one run: with a durable SQLite file (as `qts run` does) and with an in-memory
store (as backtests do). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from _data import daily_universe
from qts.app.wiring import build_engine
from qts.backtest.calendar import BarCalendar
from qts.engines.risk import RiskLimits
from qts.engines.strategy import create
from qts.feeds.bars import from_epoch
from qts.feeds.replay import FrameTable
from qts.model.instrument import Instrument
from qts.pipeline.runner import SessionView


def measure(table: FrameTable, db: Path | None, warm: int, cycles: int) -> np.ndarray:
    strategies = [
        create("sma_cross", {"fast": 10, "slow": 30, "qty": 10}),
        create("scalp_reversion", {"max_positions": 20, "position_weight": 0.02}),
        create("swing_breakout", {"max_positions": 20, "position_weight": 0.02}),
    ]
    engine = build_engine(
        run_id="bench",
        mode="paper",
        universe=table.universe,
        instruments={s: Instrument.custom(s) for s in table.universe.symbols},
        strategies=strategies,
        initial_cash=10_000_000_000,
        fees="krx",
        limits=RiskLimits(max_exposure=0.9, max_symbol_weight=0.05),
        start=table.start(0),
        db=db,
        durable=db is not None,
        participation=1.0,
        latency_ms=0,
        calendar=BarCalendar(from_epoch(int(t)).date() for t in table.ts),
    )
    session = SessionView(True, 200.0)
    times = []
    for i, frame in enumerate(table.frames()):
        if i >= warm + cycles:
            break
        engine.clock.advance_to(frame.end)
        engine.venue.on_frame(frame)
        engine.oms.process_events()
        t0 = time.perf_counter()
        engine.runner.run_cycle(frame, frame.end, session)
        if i >= warm:
            times.append(time.perf_counter() - t0)
    engine.close()
    return np.array(times) * 1000.0


def stats(ms: np.ndarray) -> dict[str, float]:
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--cycles", type=int, default=1000)
    args = ap.parse_args()
    warm = 100
    table = FrameTable(daily_universe(args.symbols, warm + args.cycles))
    with tempfile.TemporaryDirectory() as tmp:
        durable = stats(measure(table, Path(tmp) / "bench.sqlite", warm, args.cycles))
    memory = stats(measure(table, None, warm, args.cycles))
    for name, s in (("durable SQLite", durable), ("in-memory", memory)):
        print(
            f"{name:>15}: p50 {s['p50_ms']:.3f} ms  p99 {s['p99_ms']:.3f} ms  "
            f"max {s['max_ms']:.3f} ms  ({args.cycles} cycles, {args.symbols} symbols)"
        )
    print(
        json.dumps(
            {
                "symbols": args.symbols,
                "cycles": args.cycles,
                "cycle_p50_ms": durable["p50_ms"],
                "cycle_p99_ms": durable["p99_ms"],
                "cycle_max_ms": durable["max_ms"],
                "memory_cycle_p50_ms": memory["p50_ms"],
                "memory_cycle_p99_ms": memory["p99_ms"],
                "target_p99_ms": 20,
            }
        )
    )


if __name__ == "__main__":
    main()
