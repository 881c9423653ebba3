"""``qts optimize``: sweep a strategy's parameters with Optuna, on local workers or on Ray."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console

from qts import __version__
from qts.backtest.index import DailyIndex
from qts.backtest.optimize.executors import (
    RayExecutor,
    TrialExecutor,
    check_ray_reachable,
    default_workers,
    local_executor,
)
from qts.backtest.optimize.output import write_outputs
from qts.backtest.optimize.space import SearchSpace
from qts.backtest.optimize.sweep import SweepResult, run_sweep
from qts.backtest.optimize.trial import OBJECTIVES, BacktestSetup
from qts.backtest.optimize.walk_forward import (
    WalkForward,
    make_windows,
    parse_spec,
    run_walk_forward,
)
from qts.backtest.output import check_out_dir
from qts.cli.backtest import Fees, load_with_progress
from qts.cli.data_options import (
    EndOpt,
    IndexOpt,
    MarketOpt,
    NoCapitalOpt,
    PriceScaleOpt,
    StartOpt,
    SymbolsOpt,
    cut_period,
    files_record,
)
from qts.cli.progress import ProgressReporter
from qts.cli.strategy_options import STRATEGY_HELP, parse_params
from qts.config.loader import load_config
from qts.core.errors import InputError
from qts.engines.strategy.registry import params_model, resolve
from qts.feeds.symbols import data_specs

# "auto", or host:port (optionally ray://host:port); the host may be a name or an IP address.
_RAY_ADDRESS = re.compile(r"auto|(?:ray://)?(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}")


def check_values(strategy: str, base: dict[str, Any], space: SearchSpace) -> None:
    """Each fixed parameter and each value of the space must suit its field on its own (a value
    refused in combination, like fast >= slow, is a failed trial, not a usage error)."""
    fields = params_model(strategy).model_fields
    for name, value in base.items():
        if name not in fields:
            raise InputError(
                "--param", name, f"not a parameter of {strategy} ({', '.join(fields)})"
            )
        _check_one("--param", f"{name}={value}", fields[name], value)
    for dim in space.dimensions:
        for value in dim.values:
            _check_one("--space", f"{dim.name}={value}", fields[dim.name], value)


def _check_one(option: str, shown: str, field: Any, value: Any) -> None:
    try:
        TypeAdapter(Annotated[field.annotation, *field.metadata]).validate_python(value)
    except ValidationError as exc:
        raise InputError(option, shown, exc.errors()[0]["msg"]) from None


class _TrialProgress:
    """Trials done (over every walk-forward window) with the best value so far."""

    def __init__(self, bar: ProgressReporter, windows: int) -> None:
        self._bar, self._windows_left = bar, windows
        self._offset = self._last_done = self._last_total = 0

    def __call__(self, done: int, total: int, best: float | None) -> None:
        if done <= self._last_done:  # the next walk-forward window started
            self._offset += self._last_total
            self._windows_left -= 1
        self._last_done, self._last_total = done, total
        self._bar.update(
            self._offset + done,
            self._offset + total * max(self._windows_left, 1),
            note=f"best {best:.6g}" if best is not None else None,
        )


def optimize(
    data: Annotated[list[Path], typer.Option("--data", help="CSV/Parquet file(s) or folder(s).")],
    strategy: Annotated[str, typer.Option(help=STRATEGY_HELP)],
    space: Annotated[
        list[str], typer.Option("--space", help="NAME=A:B[:STEP] (inclusive) or NAME=x,y,z.")
    ],
    out: Annotated[Path, typer.Option(help="Folder for trials.csv, best.json and report.html.")],
    trials: Annotated[
        int | None, typer.Option(min=1, help="Trial budget; the whole grid when it fits.")
    ] = None,
    objective: Annotated[
        str, typer.Option(help=f"What to maximise ({'|'.join(OBJECTIVES)}).")
    ] = "sharpe",
    walk_forward: Annotated[
        str | None, typer.Option(help="TRAIN:TEST bars: optimise, then trade the next window.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Parallel trials (default: all cores).")
    ] = None,
    ray: Annotated[
        str | None, typer.Option("--ray", help="Run trials on this Ray cluster (host:port).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Sampler seed (TPE).")] = 0,
    param: Annotated[list[str] | None, typer.Option(help="Fixed parameter KEY=VALUE.")] = None,
    qty: Annotated[int | None, typer.Option(min=1, help="Shares per entry.")] = None,
    cash: Annotated[int, typer.Option(min=1, help="Starting cash in KRW.")] = 100_000_000,
    fees: Annotated[
        Fees, typer.Option(help="krx: commission and sell tax; none: free.")
    ] = Fees.krx,
    price_scale: PriceScaleOpt = None,
    market: MarketOpt = None,
    symbols: SymbolsOpt = None,
    config: Annotated[
        Path | None, typer.Option(help="Config_Local YAML (optimize.ray_address, workers).")
    ] = None,
    index: IndexOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    no_capital: NoCapitalOpt = False,
) -> None:
    """Run many backtests over a parameter space; every trial equals a `qts backtest`."""
    console = Console(stderr=True)
    if objective not in OBJECTIVES:
        raise InputError("--objective", objective, f"expected one of {', '.join(OBJECTIVES)}")
    specs = data_specs(list(market or []), list(price_scale or []), symbols)
    kind = resolve(strategy)  # worker processes and Ray tasks get its absolute form
    settings = None
    if config is not None:
        loaded = load_config(config)
        loaded.raise_if_invalid()
        settings = loaded.config.optimize
    if ray is not None and not _RAY_ADDRESS.fullmatch(ray):
        raise InputError("--ray", repr(ray), "expected HOST:PORT of a Ray cluster (or auto)")
    ray_address = ray or (settings.ray_address if settings else None)
    workers = workers or (settings.workers if settings else None)
    search = SearchSpace.parse(space)
    fields = kind.params.model_fields
    unknown = [n for n in search.names if n not in fields]
    if unknown:
        raise InputError(
            "--space", ", ".join(unknown), f"not a parameter of {strategy} ({', '.join(fields)})"
        )
    base = parse_params(list(param or []))
    clash = [n for n in search.names if n in base]
    if clash:
        raise InputError("--param", ", ".join(clash), "also given as --space")
    if qty is not None and "qty" in search.names:
        raise InputError("--qty", str(qty), "qty is also given as --space; use one of them")
    check_values(strategy, base, search)
    if qty is not None:
        if "qty" not in fields:
            raise InputError(
                "--qty", str(qty), f"strategy {strategy} sizes by weight, not quantity"
            )
        base["qty"] = qty
    windows = None
    check_out_dir(out)  # before the sweep: results that cannot be written waste it
    if ray_address:
        try:
            check_ray_reachable(ray_address)
        except ValueError as exc:
            if ray:
                raise InputError("--ray", ray_address, str(exc)) from None
            where = f"optimize.ray_address {ray_address}"
            raise InputError(str(config), where, str(exc)) from None
    series = cut_period(load_with_progress(console, data, specs), start, end)
    level = DailyIndex.load(index) if index is not None else None
    if walk_forward is not None:
        windows = make_windows(series, *parse_spec(walk_forward))
    setup = BacktestSetup(kind.spec, base, cash, fees.value, objective, not no_capital, level)
    started = time.perf_counter()
    executor: TrialExecutor = (
        RayExecutor(ray_address, series, setup, workers)
        if ray_address
        else local_executor(series, setup, workers or default_workers())
    )
    sweep: SweepResult | None = None
    wf: WalkForward | None = None
    try:
        with ProgressReporter(f"{kind.name} sweep", unit="trials", console=console) as bar:
            progress = _TrialProgress(bar, len(windows) if windows is not None else 1)
            if windows is not None:
                wf = run_walk_forward(search, executor, windows, trials, seed, progress)
            else:
                sweep = run_sweep(search, executor, trials, seed, progress=progress)
    finally:
        executor.close()
    elapsed = time.perf_counter() - started
    meta = {
        "strategy": strategy,
        "space": list(space),
        "sampler": (
            sweep.sampler if sweep else wf.windows[0].sweep.sampler if wf and wf.windows else None
        ),
        "fixed_params": base,
        "cash": cash,
        "fees": fees.value,
        "price_scale": specs.default.price_scale,
        "start": start.date().isoformat() if start else None,
        "end": end.date().isoformat() if end else None,
        "index": str(index) if index is not None else None,
        "capital": not no_capital,
        "data": [str(p) for p in data],
        **files_record(data, series, specs),
        "workers": executor.capacity,
        "ray": ray_address,
        "seconds": round(elapsed, 3),
        "qts_version": __version__,
    }
    best = write_outputs(
        out, search, objective, sweep, wf, cash, meta, title=f"QTS optimize — {kind.name}"
    )
    outcomes = (
        sweep.outcomes if sweep else [o for w in wf.windows for o in w.sweep.outcomes] if wf else []
    )
    failed = sum(1 for o in outcomes if not o.ok)
    console.print(
        f"{len(outcomes)} trials ({failed} failed) in {elapsed:.1f}s on {executor.capacity} "
        f"worker(s); best {objective} {best['value']} with {best['params']}",
        highlight=False,
    )
    typer.echo(f"{out / 'best.json'}\n{out / 'trials.csv'}\n{out / 'report.html'}")
    if best["params"] is None:
        first = next((o.error for o in outcomes if o.error), "no trial ran")
        console.print(f"error: every trial failed; the first: {first}", highlight=False)
        sys.exit(1)
