"""``qts backtest``: run a strategy over recorded daily bars and write a report."""

from __future__ import annotations

import time as timer
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from qts.backtest.books import check_books, file_sha, identity
from qts.backtest.engine import BacktestSpec, run_backtest
from qts.backtest.index import DailyIndex
from qts.backtest.output import check_out_dir
from qts.backtest.provenance import provenance
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
from qts.cli.paths import sqlite_database
from qts.cli.progress import ProgressReporter
from qts.cli.strategy_options import STRATEGY_HELP, parse_params
from qts.core.errors import InputError
from qts.engines.capital.config import CapitalConfig
from qts.engines.strategy.registry import create, resolve
from qts.feeds.bars import BarSeries
from qts.feeds.csv_loader import load_paths
from qts.feeds.symbols import DataSpecs, data_specs


class Fees(StrEnum):
    krx = "krx"
    none = "none"


def backtest(
    strategy: Annotated[str, typer.Option(help=STRATEGY_HELP)],
    out: Annotated[Path, typer.Option(help="Folder for report.html and summary.json.")],
    more_data: Annotated[list[Path] | None, typer.Argument(help="More data paths.")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Strategy parameter KEY=VALUE.")] = None,
    qty: Annotated[int | None, typer.Option(min=1, help="Shares per entry.")] = None,
    cash: Annotated[int, typer.Option(min=1, help="Starting cash in KRW.")] = 100_000_000,
    fees: Annotated[
        Fees, typer.Option(help="krx: commission and sell tax; none: free.")
    ] = Fees.krx,
    price_scale: PriceScaleOpt = None,
    market: MarketOpt = None,
    symbols: SymbolsOpt = None,
    db: Annotated[
        Path | None,
        typer.Option(
            help="Keep the run's books in this SQLite file: a new (or empty) one; a file that "
            "already holds a run is refused."
        ),
    ] = None,
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="Bar CSV file(s) or folder(s) of them.")
    ] = None,
    ticks: Annotated[
        Path | None,
        typer.Option(
            "--ticks",
            help="Tick CSV (time,symbol,price,volume,bid,ask,bid_qty,ask_qty): orders trade "
            "on the simulated order book; scalp orders go through the execution pipeline.",
        ),
    ] = None,
    index: IndexOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    no_capital: NoCapitalOpt = False,
) -> None:
    """Backtest on a simulated clock through the full ETEDA pipeline, as fast as possible."""
    console = Console(stderr=True)
    if ticks is not None:
        if data or more_data:
            raise InputError("--ticks", str(ticks), "use either --ticks or --data, not both")
        bar_only = {
            "--market": market,
            "--price-scale": price_scale,
            "--symbols": symbols,
            "--index": index,
            "--start": start,
            "--end": end,
            "--no-capital": no_capital or None,
        }
        for option, value in bar_only.items():
            if value:
                raise InputError(option, None, "applies to bar data (--data), not to --ticks")
        _tick_backtest(console, ticks, strategy, out, param, qty, cash, fees, db)
        return
    if db is not None:
        sqlite_database(db, "--db", must_exist=False)
    if not data and not more_data:
        raise InputError("--data", None, "give bar data (--data PATH) or tick data (--ticks PATH)")
    data = list(data or [])
    specs = data_specs(list(market or []), list(price_scale or []), symbols)
    kind = resolve(strategy)
    params = parse_params(list(param or []))
    if qty is not None:
        if "qty" not in kind.params.model_fields:
            raise InputError(
                "--qty", str(qty), f"strategy {strategy} sizes by weight, not quantity"
            )
        params["qty"] = qty
    create(kind.spec, params, source="--param")  # a bad parameter is refused before the load
    started = timer.perf_counter()
    paths = [*data, *(more_data or [])]
    record = None
    if db is not None:  # before the load: a file holding another run is refused at once
        options = {
            "market": list(market or []),
            "price_scale": list(price_scale or []),
            "symbols": file_sha(symbols),
            "start": start.date().isoformat() if start else None,
            "end": end.date().isoformat() if end else None,
            "capital": not no_capital,
            "index": file_sha(index),
        }
        record = identity(
            strategy=strategy,
            strategy_file=kind.path,
            params=params,
            cash=cash,
            fees=fees.value,
            data=paths,
            options=options,
        )
        check_books(db, record)
    check_out_dir(out)  # before the run: a report that cannot be written wastes it
    series = cut_period(load_with_progress(console, paths, specs), start, end)
    level = DailyIndex.load(index) if index is not None else None
    if record is not None:
        record["symbols"] = [s.symbol for s in series]
    spec = BacktestSpec(
        series,
        kind.spec,
        params,
        cash,
        fees.value,
        db=db,
        capital=None if no_capital else CapitalConfig(),
        index=level,
        record=record,
    )
    label = f"{kind.name} on {len(series)} symbol(s)"
    with ProgressReporter(label, unit="cycles", console=console) as bar:
        result = run_backtest(spec, bar.update)
    elapsed = timer.perf_counter() - started
    from qts.backtest.report import write_report

    try:
        summary = result.summary()
        summary["elapsed_s"] = round(elapsed, 3)
        summary["provenance"] = provenance(
            paths,
            strategy=strategy,
            strategy_file=kind.path,
            params=params,
            qty=qty,
            cash=cash,
            fees=fees.value,
            price_scale=specs.default.price_scale,
            start=start.date() if start else None,
            end=end.date() if end else None,
            index=index,
            capital=not no_capital,
        ) | files_record(paths, series, specs)
        summary_path, html = write_report(
            out,
            summary,
            result.engine.store.load_equity(),
            result.trades,
            result.performance,
            title=f"QTS backtest — {kind.name}",
        )
    finally:
        result.engine.close()
    perf = result.performance
    console.print(
        f"{result.table.symbol_bars:,} symbol-bars, {len(result.trades)} trades, "
        f"final equity {result.final_equity:,} KRW (return {perf.total_return:+.2%}, "
        f"max drawdown {perf.max_drawdown:.2%}, Sharpe {perf.sharpe:.2f}) in {elapsed:.2f}s"
    )
    if summary["safety_events"]:
        # codes (FS/GR/AN…) first, then the kinds without one (clean_cycle: back to NORMAL)
        events = sorted(summary["safety_events"].items(), key=lambda kv: not kv[0].isupper())
        listed = ", ".join(f"{name.replace('_', ' ')} ×{n}" for name, n in events)
        where = f"; each one: qts safety history --db {db}" if db is not None else ""
        console.print(
            f"safety events: {listed} (counts in summary.json's safety_events{where})",
            highlight=False,
        )
    typer.echo(f"{summary_path}\n{html}")


def load_with_progress(console: Console, paths: list[Path], specs: DataSpecs) -> list[BarSeries]:
    """``load_paths`` with a progress report in MB read (a large file takes seconds)."""
    with ProgressReporter("loading data", scale="bytes", console=console) as bar:
        return load_paths(paths, progress=bar.update, specs=specs)


def _tick_backtest(
    console: Console,
    ticks: Path,
    strategy: str,
    out: Path,
    param: list[str] | None,
    qty: int | None,
    cash: int,
    fees: Fees,
    db: Path | None,
) -> None:
    """``--ticks``: the order book and the scalp execution pipeline, on recorded ticks."""
    from qts.backtest.report import write_report
    from qts.backtest.ticks import load_ticks, run_tick_backtest

    kind = resolve(strategy)
    params = parse_params(list(param or []))
    if qty is not None:
        params["qty"] = qty
    check_out_dir(out)  # before the run: a report that cannot be written wastes it
    started = timer.perf_counter()
    record = None
    if db is not None:
        sqlite_database(db, "--db", must_exist=False)
        record = identity(
            strategy=strategy,
            strategy_file=kind.path,
            params=params,
            cash=cash,
            fees=fees.value,
            data=[ticks],
            options={"ticks": True},
        )
        check_books(db, record)
    rows = load_ticks(ticks)
    if record is not None:
        record["symbols"] = list(dict.fromkeys(r.symbol for r in rows))
    with ProgressReporter(f"{kind.name} on {ticks.name}", unit="ticks", console=console) as bar:
        result = run_tick_backtest(
            rows,
            kind.spec,
            params,
            cash,
            fees.value,
            db=db,
            progress=bar.update,
            record=record,
        )
        bar.update(len(rows), len(rows))
    try:
        summary = result.summary()
        summary["elapsed_s"] = round(timer.perf_counter() - started, 3)
        summary_path, html = write_report(
            out,
            summary,
            result.engine.store.load_equity(),
            result.trades,
            result.performance,
            title=f"QTS tick backtest — {kind.name}",
        )
        scalp_line = result.engine.scalp.day_report() if result.engine.scalp else ""
    finally:
        result.engine.close()
    console.print(
        f"{result.ticks:,} ticks, {result.cycles} one-minute cycles, {len(result.trades)} "
        f"trades, final equity {result.final_equity:,} KRW"
    )
    if scalp_line:
        console.print(scalp_line)
    typer.echo(f"{summary_path}\n{html}")
