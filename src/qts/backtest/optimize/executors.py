"""Where trials run: local worker processes (the default) or tasks on an existing Ray cluster.

Both hold the loaded data once per worker (sent when the worker starts, or put in Ray's object
store once) and take trials one by one, so the sweep can ask its sampler for the next point as
each result arrives.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import socket
import threading
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


# A Ray head answers a TCP connect at once; a firewall dropping packets is waited for this long.
RAY_CONNECT_TIMEOUT_S = 3.0
# Joining a reachable cluster takes a second or two; Ray gives up on some failures after ~20 s.
RAY_INIT_TIMEOUT_S = 30.0


def ray_endpoint(address: str) -> tuple[str, int] | None:
    """(host, port) of ``HOST:PORT``, ``ray://HOST:PORT`` or ``[IPv6]:PORT``; None for ``auto``
    (Ray finds the local cluster itself). ValueError for anything else."""
    if address == "auto":
        return None
    rest = address.removeprefix("ray://")
    host, sep, port_text = rest.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError("expected HOST:PORT of a Ray cluster (or auto)")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not in 1-65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def check_ray_reachable(address: str, timeout: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """Refuse, within ``timeout`` seconds, a Ray address nothing answers at: ``ray.init`` would
    retry it forever, deaf to SIGINT and SIGTERM. ValueError with the reason."""
    endpoint = ray_endpoint(address)
    if endpoint is None:
        return
    try:
        with socket.create_connection(endpoint, timeout=timeout):
            pass
    except TimeoutError:
        raise ValueError(f"cannot connect (no answer within {timeout:g} s)") from None
    except socket.gaierror as exc:
        raise ValueError(f"cannot connect (unknown host: {exc.strerror})") from None
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        raise ValueError(f"cannot connect ({reason})") from None


def _bounded_ray_init(ray: Any, address: str, timeout: float) -> None:
    """``ray.init`` in a daemon thread, waited for at most ``timeout`` seconds: when the address
    answers but no GCS is reachable behind it (Ray also swaps 127.0.0.1 for the node's address),
    ``ray.init`` retries forever inside C++, where SIGINT and SIGTERM cannot reach it. The main
    thread's wait stays interruptible; on a timeout the thread is abandoned to the process exit."""
    failure: list[BaseException] = []

    def init() -> None:
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        except BaseException as exc:  # handed to the waiting thread
            failure.append(exc)

    thread = threading.Thread(target=init, name="ray-init", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise InputError(
            "--ray",
            address,
            f"cannot connect (no Ray cluster answered within {timeout:g} s; is it the head's "
            "GCS port, and reachable at the address the head advertises?)",
        )
    if failure:
        exc = failure[0]
        if isinstance(exc, ConnectionError | RuntimeError | ValueError):
            raise InputError("--ray", address, f"cannot join the Ray cluster ({exc})") from None
        raise exc


class RayExecutor:
    """Trials as Ray tasks on an existing cluster (``ray start --head``); data put once."""

    def __init__(
        self,
        address: str,
        series: Sequence[BarSeries],
        setup: BacktestSetup,
        workers: int | None,
        init_timeout: float = RAY_INIT_TIMEOUT_S,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise InputError(
                "--ray", address, "Ray is not installed (pip install 'qts[ray]')"
            ) from None
        self._ray = ray
        _bounded_ray_init(ray, address, init_timeout)
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
