"""Parameter sweep throughput: the same 32-trial grid (sma_cross fast × slow) with 1, 2 and all
workers, pool start-up included; every run must find the same best parameters.

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

from _data import daily_universe
from qts.backtest.optimize.executors import default_workers, local_executor
from qts.backtest.optimize.space import SearchSpace
from qts.backtest.optimize.sweep import run_sweep
from qts.backtest.optimize.trial import BacktestSetup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--symbols", type=int, default=10)
    ap.add_argument("--bars", type=int, default=1000)
    args = ap.parse_args()
    series = daily_universe(args.symbols, args.bars)
    setup = BacktestSetup("sma_cross", {"qty": 10}, 10**12, "krx", "sharpe")
    space = SearchSpace.parse(["fast=3:10", "slow=20:50:10"])
    assert space.grid_size == 32
    counts = sorted({1, 2, default_workers()})
    rates: dict[int, float] = {}
    bests = set()
    for n in counts:
        t0 = time.perf_counter()
        executor = local_executor(series, setup, n)
        try:
            result = run_sweep(space, executor)
        finally:
            executor.close()
        seconds = time.perf_counter() - t0
        rates[n] = len(result.outcomes) / seconds
        assert result.best is not None
        bests.add(tuple(result.best.params.items()))
        per_trial = sorted(o.seconds for o in result.outcomes)
        print(f"{n} worker(s): {seconds:.2f}s, {rates[n]:.2f} trials/s, trial p50 "
              f"{per_trial[len(per_trial) // 2]:.3f}s max {per_trial[-1]:.3f}s, "
              f"best {result.best.params}")  # fmt: skip
    top = max(counts)
    print(
        json.dumps(
            {
                "trials": 32,
                "symbol_bars_per_trial": args.symbols * args.bars,
                "workers_all": top,
                "trials_per_s_1": round(rates[1], 3),
                "trials_per_s_2": round(rates[2], 3),
                "trials_per_s_all": round(rates[top], 3),
                "speedup": round(rates[top] / rates[1], 2),
                "same_best": len(bests) == 1,
            }
        )
    )


if __name__ == "__main__":
    main()
