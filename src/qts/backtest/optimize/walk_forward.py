"""Walk-forward: optimise on TRAIN bars, trade the best parameters on the next TEST bars, roll
forward by TEST, and chain the out-of-sample results into one equity curve.

Each test window is a fresh backtest on that window's bars alone (starting cash, no positions,
indicators warming up inside the window), so nothing seen in training leaks into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from qts.backtest.optimize.executors import TrialExecutor
from qts.backtest.optimize.space import SearchSpace
from qts.backtest.optimize.sweep import ProgressFn, SweepResult, run_sweep
from qts.backtest.optimize.trial import TrialJob, TrialOutcome
from qts.core.errors import InputError
from qts.feeds.bars import BarSeries


@dataclass(frozen=True, slots=True)
class Window:
    index: int
    train_start: int
    test_start: int
    test_end: int | None  # None: to the end of the data


@dataclass(slots=True)
class WindowResult:
    window: Window
    sweep: SweepResult
    test: TrialOutcome | None = None


@dataclass(slots=True)
class WalkForward:
    windows: list[WindowResult] = field(default_factory=list)

    def equity(self, cash: int) -> list[tuple[int, int]]:
        """Out-of-sample equity, each window's curve re-based on where the last one ended."""
        out: list[tuple[int, int]] = []
        level = cash
        for w in self.windows:
            if w.test is None or not w.test.ok or not w.test.equity:
                continue
            for ts, eq in w.test.equity:
                out.append((ts, eq * level // cash))
            level = out[-1][1]
        return out


def parse_spec(text: str) -> tuple[int, int]:
    train, sep, test = text.partition(":")
    try:
        a, b = int(train), int(test)
    except ValueError:
        raise InputError(
            "--walk-forward", text, "expected TRAIN:TEST in bars, e.g. 500:125"
        ) from None
    if not sep or a < 2 or b < 1:
        raise InputError("--walk-forward", text, "TRAIN must be ≥ 2 bars and TEST ≥ 1")
    return a, b


def make_windows(series: Sequence[BarSeries], train: int, test: int) -> list[Window]:
    ts = np.unique(np.concatenate([s.ts for s in series])) if series else np.array([], np.int64)
    if len(ts) < train + 1:
        raise InputError(
            "--walk-forward",
            f"{train}:{test}",
            f"the data has {len(ts)} bars; need more than {train}",
        )
    out = []
    k = 0
    while k * test + train < len(ts):
        a, b, c = k * test, k * test + train, k * test + train + test
        out.append(Window(k, int(ts[a]), int(ts[b]), int(ts[c]) if c < len(ts) else None))
        k += 1
    return out


def run_walk_forward(
    space: SearchSpace,
    executor: TrialExecutor,
    windows: Sequence[Window],
    trials: int | None,
    seed: int,
    progress: ProgressFn | None = None,
) -> WalkForward:
    result = WalkForward()
    number = 0
    for w in windows:
        sweep = run_sweep(
            space, executor, trials, seed, w.train_start, w.test_start, w.index, number, progress
        )
        number += len(sweep.outcomes)
        wr = WindowResult(w, sweep)
        best = sweep.best
        if best is not None:
            executor.submit(
                TrialJob(number, best.params, w.index, w.test_start, w.test_end, keep_equity=True)
            )
            number += 1
            wr.test = executor.next_done()
        result.windows.append(wr)
    return result
