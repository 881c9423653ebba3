"""Drive an Optuna study over a search space: the whole grid when the budget covers it, TPE
otherwise. Trials are asked for one at a time as workers free up, so TPE learns from every
result that is in."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qts.backtest.optimize.executors import TrialExecutor
from qts.backtest.optimize.space import Dimension, SearchSpace
from qts.backtest.optimize.trial import TrialJob, TrialOutcome
from qts.core.errors import InputError

AUTO_GRID_LIMIT = 10_000
ProgressFn = Callable[[int, int, float | None], None]


@dataclass(frozen=True, slots=True)
class SweepResult:
    sampler: str
    outcomes: list[TrialOutcome]

    @property
    def best(self) -> TrialOutcome | None:
        """The highest objective; the earliest trial wins a tie."""
        ok = [o for o in self.outcomes if o.ok and o.value is not None and math.isfinite(o.value)]
        return max(ok, key=lambda o: (o.value, -o.number)) if ok else None


def plan(space: SearchSpace, trials: int | None) -> tuple[str, int]:
    """(sampler, number of trials) for a budget: grid if it fits, else TPE."""
    grid = space.grid_size
    if trials is None:
        if grid > AUTO_GRID_LIMIT:
            raise InputError(
                "--trials", "", f"the space has {grid:,} points; give --trials N to sample it"
            )
        return "grid", grid
    if trials >= grid:
        return "grid", grid
    return "tpe", trials


def _distribution(d: Dimension) -> Any:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if not d.is_range:
        return CategoricalDistribution(list(d.values))
    assert d.low is not None and d.high is not None and d.step is not None
    if d.is_int:
        return IntDistribution(int(d.low), int(d.high), step=int(d.step))
    return FloatDistribution(d.low, d.high, step=d.step)


def run_sweep(
    space: SearchSpace,
    executor: TrialExecutor,
    trials: int | None = None,
    seed: int = 0,
    start: int | None = None,
    end: int | None = None,
    window: int | None = None,
    first_number: int = 0,
    progress: ProgressFn | None = None,
) -> SweepResult:
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler_name, total = plan(space, trials)
    sampler = (
        optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        if sampler_name == "tpe"
        else optuna.samplers.RandomSampler(seed=seed)  # only ever serves enqueued grid points
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    if sampler_name == "grid":
        for point in space.grid():
            study.enqueue_trial(point)
    distributions = {d.name: _distribution(d) for d in space.dimensions}

    asked: dict[int, Any] = {}
    seen: dict[tuple[Any, ...], TrialOutcome] = {}
    outcomes: list[TrialOutcome] = []
    best: float | None = None

    def record(trial: Any, outcome: TrialOutcome) -> None:
        nonlocal best
        outcomes.append(outcome)
        if outcome.ok and outcome.value is not None and math.isfinite(outcome.value):
            study.tell(trial, outcome.value)
            best = outcome.value if best is None else max(best, outcome.value)
        else:
            study.tell(trial, state=TrialState.FAIL)
        if progress is not None:
            progress(len(outcomes), total, best)

    issued = 0
    while len(outcomes) < total:
        while issued < total and len(asked) < executor.capacity:
            trial = study.ask(distributions)
            number = first_number + issued
            issued += 1
            params = {name: trial.params[name] for name in space.names}
            key = tuple(params.values())
            if key in seen:  # TPE may propose a point again: its result is already known
                again = seen[key]
                record(
                    trial,
                    TrialOutcome(
                        number, params, window, again.value, again.final_equity,
                        again.total_return, again.sharpe, again.cagr, again.max_drawdown,
                        again.trades, 0.0, again.error,
                    ),
                )  # fmt: skip
                continue
            asked[number] = trial
            executor.submit(TrialJob(number, params, window, start, end))
        if not asked:
            continue
        outcome = executor.next_done()
        seen[tuple(outcome.params.values())] = outcome
        record(asked.pop(outcome.number), outcome)
    outcomes.sort(key=lambda o: o.number)
    return SweepResult(sampler_name, outcomes)
