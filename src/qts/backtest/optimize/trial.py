"""One trial: a plain backtest on (a time window of) the loaded data, reduced to its figures."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qts.backtest.engine import BacktestSpec, run_backtest
from qts.backtest.index import DailyIndex
from qts.engines.capital.config import CapitalConfig
from qts.feeds.bars import BarSeries

OBJECTIVES = ("sharpe", "cagr", "final_equity")


@dataclass(frozen=True, slots=True)
class BacktestSetup:
    """What every trial of a sweep shares: everything ``qts backtest`` takes but the parameters."""

    strategy: str
    base_params: dict[str, Any]
    cash: int
    fees: str
    objective: str
    capital: bool = True  # the pools (``--no-capital``: sized from the whole account)
    index: DailyIndex | None = None  # the operating state's volatility index (``--index``)


@dataclass(frozen=True, slots=True)
class TrialJob:
    number: int
    params: dict[str, Any]
    window: int | None = None
    start: int | None = None  # POSIX seconds, inclusive
    end: int | None = None  # POSIX seconds, exclusive
    keep_equity: bool = False


@dataclass(slots=True)
class TrialOutcome:
    number: int
    params: dict[str, Any]
    window: int | None
    value: float | None = None
    final_equity: int | None = None
    total_return: float | None = None
    sharpe: float | None = None
    cagr: float | None = None
    max_drawdown: float | None = None
    trades: int | None = None
    seconds: float = 0.0
    error: str | None = None
    equity: list[tuple[int, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def window(series: Sequence[BarSeries], start: int | None, end: int | None) -> list[BarSeries]:
    """The bars with ``start <= ts < end`` of every series that has any."""
    if start is None and end is None:
        return list(series)
    out = []
    for s in series:
        lo = 0 if start is None else int(np.searchsorted(s.ts, start, "left"))
        hi = len(s) if end is None else int(np.searchsorted(s.ts, end, "left"))
        if hi > lo:
            out.append(s[lo:hi])
    return out


def evaluate(series: Sequence[BarSeries], setup: BacktestSetup, job: TrialJob) -> TrialOutcome:
    """Run the trial; any failure is recorded in the outcome, never raised."""
    started = time.perf_counter()
    outcome = TrialOutcome(job.number, dict(job.params), job.window)
    try:
        data = window(series, job.start, job.end)
        if not data:
            raise ValueError("no bars in the trial's time window")
        params = {**setup.base_params, **job.params}
        spec = BacktestSpec(
            data,
            setup.strategy,
            params,
            setup.cash,
            setup.fees,
            capital=CapitalConfig() if setup.capital else None,
            index=setup.index,
        )
        result = run_backtest(spec)
        try:
            perf = result.performance
            outcome.final_equity = result.final_equity
            outcome.total_return = perf.total_return
            outcome.sharpe = perf.sharpe
            outcome.cagr = perf.cagr
            outcome.max_drawdown = perf.max_drawdown
            outcome.trades = len(result.trades)
            outcome.value = float(
                result.final_equity
                if setup.objective == "final_equity"
                else getattr(perf, setup.objective)
            )
            if job.keep_equity:
                outcome.equity = [
                    (int(p.ts.timestamp()), p.equity) for p in result.engine.store.load_equity()
                ]
        finally:
            result.engine.close()
    except Exception as exc:  # a failing trial is data for the sweep, not the end of it
        outcome.error = f"{type(exc).__name__}: {exc}"
    outcome.seconds = time.perf_counter() - started
    return outcome
