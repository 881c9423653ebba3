"""Where trials run: local worker processes (the default) or tasks on an existing Ray cluster.

Both hold the loaded data once per worker (sent when the worker starts, or put in Ray's object
store once) and take trials one by one, so the sweep can ask its sampler for the next point as
each result arrives.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from qts.backtest.optimize.trial import BacktestSetup, TrialJob, TrialOutcome, evaluate
from qts.core.errors import InputError
from qts.feeds.bars import BarSeries


class TrialExecutor(Protocol):
    capacity: int

    def submit(self, job: TrialJob) -> None: ...

    def next_done(self) -> TrialOutcome:
        """Block until one submitted trial finishes and return it."""
        ...

    def close(self) -> None: ...


_worker_series: Sequence[BarSeries] = ()
_worker_setup: BacktestSetup | None = None


def _init_worker(series: Sequence[BarSeries], setup: BacktestSetup) -> None:
    global _worker_series, _worker_setup
    _worker_series, _worker_setup = series, setup


def _run_in_worker(job: TrialJob) -> TrialOutcome:
    assert _worker_setup is not None
    return evaluate(_worker_series, _worker_setup, job)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class InlineExecutor:
    """One trial at a time in this process: no start-up cost, for one worker."""

    capacity = 1

    def __init__(self, series: Sequence[BarSeries], setup: BacktestSetup) -> None:
        self._series, self._setup = series, setup
        self._queue: list[TrialJob] = []

    def submit(self, job: TrialJob) -> None:
        self._queue.append(job)

    def next_done(self) -> TrialOutcome:
        return evaluate(self._series, self._setup, self._queue.pop(0))

    def close(self) -> None:
        self._queue.clear()


def local_executor(
    series: Sequence[BarSeries], setup: BacktestSetup, workers: int
) -> InlineExecutor | LocalExecutor:
    return InlineExecutor(series, setup) if workers == 1 else LocalExecutor(series, setup, workers)


class LocalExecutor:
    """A pool of worker processes (spawned: no state leaks in from the parent)."""

    def __init__(self, series: Sequence[BarSeries], setup: BacktestSetup, workers: int) -> None:
        self.capacity = workers
        self._series, self._setup = series, setup
        self._pool = self._new_pool()
        self._running: dict[Future[TrialOutcome], TrialJob] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.capacity,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._series, self._setup),
        )

    def submit(self, job: TrialJob) -> None:
        self._running[self._pool.submit(_run_in_worker, job)] = job

    def next_done(self) -> TrialOutcome:
        done, _ = wait(self._running, return_when=FIRST_COMPLETED)
        future = next(iter(done))
        job = self._running.pop(future)
        try:
            return future.result()
        except BrokenProcessPool as exc:
            # a worker died (killed, out of memory): the trial failed, the sweep goes on
            self._replace_pool()
            return TrialOutcome(
                job.number, dict(job.params), job.window, error=f"worker died ({exc})"
            )

    def _replace_pool(self) -> None:
        lost = list(self._running.values())
        self._running.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        for job in lost:
            self.submit(job)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Trials as Ray tasks on an existing cluster (``ray start --head``); data put once."""

    def __init__(
        self, address: str, series: Sequence[BarSeries], setup: BacktestSetup, workers: int | None
    ) -> None:
        try:
            import ray
        except ImportError:
            raise InputError(
                "--ray", address, "Ray is not installed (pip install 'qts[ray]')"
            ) from None
        self._ray = ray
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InputError("--ray", address, f"cannot join the Ray cluster ({exc})") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        self.capacity = max(1, workers or cpus)
        self._data = ray.put((list(series), setup))
        self._task = ray.remote(num_cpus=1, max_retries=0)(_run_on_ray)
        self._running: dict[Any, TrialJob] = {}

    def submit(self, job: TrialJob) -> None:
        self._running[self._task.remote(self._data, job)] = job

    def next_done(self) -> TrialOutcome:
        ready, _ = self._ray.wait(list(self._running), num_returns=1)
        ref = ready[0]
        job = self._running.pop(ref)
        try:
            outcome: TrialOutcome = self._ray.get(ref)
            return outcome
        except Exception as exc:  # a lost node or worker fails this trial only
            return TrialOutcome(job.number, dict(job.params), job.window, error=f"ray: {exc}")

    def close(self) -> None:
        for ref in self._running:
            self._ray.cancel(ref, force=True)
        self._ray.shutdown()


def _run_on_ray(data: tuple[list[BarSeries], BacktestSetup], job: TrialJob) -> TrialOutcome:
    series, setup = data
    return evaluate(series, setup, job)
