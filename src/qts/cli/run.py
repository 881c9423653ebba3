"""``qts run``: paper trading on the simulated KRX exchange with a live console, or trading
through a broker adapter (``--broker kis|kiwoom --account paper|real``, see qts.app.live)."""

from __future__ import annotations

import math
import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from qts.app.cache import print_cache_report
from qts.app.live import BROKERS, StoppedBeforeData, account_problems, run_broker
from qts.app.live_books import ACCOUNTS
from qts.app.logs import log_to_files
from qts.app.operator import OperatorSurface, validate
from qts.app.paper import run_paper
from qts.app.shutdown import StopWatchdog
from qts.app.wiring import Engine
from qts.cli.config_sheets import load_with_sheets
from qts.cli.paths import parent_dir, sqlite_file
from qts.cli.status import StatusConsole
from qts.cli.strategy_options import STRATEGY_HELP, parse_params
from qts.config.models import Mode, QtsConfig, StrategySection
from qts.core.errors import ConfigError, InputError
from qts.core.time import parse_duration
from qts.engines.strategy.registry import create, resolve

DEFAULT_DB = Path("var/paper.sqlite")


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InputError("--speed", text, "expected a positive number or 'max'")
    return value


def _duration(text: str | None) -> timedelta | None:
    if text is None:
        return None
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise InputError("--for", text, str(exc)) from None
    if value <= timedelta(0):
        raise InputError("--for", text, "the duration must be positive")
    return value


def with_strategy(cfg: QtsConfig, spec: str | None, pairs: list[str]) -> QtsConfig:
    """``--strategy SPEC [--param k=v]``: the run trades that strategy alone (checked here, so
    a bad spec or parameter is one line before anything starts)."""
    if spec is None:
        if pairs:
            raise InputError("--param", pairs[0], "--param sets the parameters of --strategy")
        return cfg
    kind = resolve(spec)
    params = parse_params(pairs)
    create(kind.spec, params, source="--param")
    section = StrategySection(params=params)
    return cfg.model_copy(update={"strategies": {kind.spec: section}})


def run(
    seed: Annotated[
        int | None, typer.Option(min=0, help="Seed of the synthetic market (>= 0).")
    ] = None,
    speed: Annotated[str, typer.Option(help="Simulated seconds per real second, or 'max'.")] = "60",
    for_: Annotated[
        str | None, typer.Option("--for", help="Stop after this much simulated time (e.g. 1d).")
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(
            help="SQLite database of the run (resumed if it exists); default var/paper.sqlite, "
            "or var/live-<broker>-<account>-<hash>.sqlite with --broker."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config_Local YAML.")
    ] = None,
    sheet: Annotated[list[Path] | None, typer.Option(help="Config_Scalp/Config_Swing CSV.")] = None,
    config_sheets: Annotated[
        bool,
        typer.Option(
            "--config-sheets",
            help="Also read Config_Scalp/Config_Swing from the spreadsheet (GOOGLE_SHEET_KEY, "
            "GOOGLE_CREDENTIALS_FILE): parameters and universe.symbols.",
        ),
    ] = False,
    broker: Annotated[
        str,
        typer.Option(
            help="sim: the simulated exchange; kis / kiwoom: the broker through its "
            "KisConfig / KiwoomConfig.from_env."
        ),
    ] = "sim",
    account: Annotated[
        str,
        typer.Option(
            help="With --broker kis|kiwoom: paper (VTS / mock) or real (needs the live switches)."
        ),
    ] = "paper",
    strategy: Annotated[
        str | None,
        typer.Option(help=STRATEGY_HELP + " Trades it alone instead of the config's strategies."),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="Parameter KEY=VALUE of --strategy.")
    ] = None,
) -> None:
    """Paper-trade the synthetic KRX market on the simulated exchange, or trade through KIS or
    Kiwoom."""
    if broker not in BROKERS:
        raise InputError("--broker", broker, f"expected one of {', '.join(BROKERS)}")
    if account not in ACCOUNTS:
        raise InputError("--account", account, "expected paper or real")
    pace = _speed(speed)
    duration = _duration(for_)
    loaded = load_with_sheets(config, list(sheet or []), config_sheets)
    loaded.raise_if_invalid()
    cfg = with_strategy(loaded.config, strategy, list(param or []))
    validate(cfg)
    if db is not None:
        sqlite_file(db, "--db")
    if broker != "sim":
        if seed is not None:
            cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"seed": seed})})
        _run_broker(cfg, broker, account, duration, db)
        return
    if account != "paper":
        raise InputError("--account", account, "the simulated exchange has only a paper account")
    if cfg.mode is Mode.LIVE:
        raise ConfigError(
            "Config_Local",
            "mode",
            "live trading needs a broker adapter (KIS/Kiwoom) "
            "that this build does not include; use mode paper",
        )
    if seed is not None:
        cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"seed": seed})})
    db = db or DEFAULT_DB
    parent_dir(db, "--db")
    log_to_files(db.parent / "log")
    console = Console()
    status = StatusConsole(console)
    stop = threading.Event()
    watchdog = StopWatchdog(stop).install()  # a stuck thread cannot keep the process alive
    console.print(
        f"QTS paper run: seed {cfg.run.seed}, start {cfg.run.start}, speed {speed}, "
        f"db {db}; Ctrl-C stops cleanly"
    )
    ops = OperatorSurface(cfg, console.print)

    def ready(engine: Engine) -> None:
        status.attach(engine)
        ops.attach(engine)

    try:
        result = run_paper(cfg, db, pace, duration, status.on_cycle, stop, ready)
    except BaseException:
        ops.close()
        raise
    try:
        status.close()
        engine = result.engine
        if engine.resumed:
            console.print(
                f"resumed from {db} (reconciliation: {engine.reconcile.fills_booked} "
                f"fill(s) booked, {len(engine.reconcile.problems)} problem(s))"
            )
        console.print(
            f"stopped: {result.loop.stopped}; {result.loop.cycles} cycles, "
            f"{len(engine.oms.account.ledger)} ledger rows; `qts ledger --db {db}` prints them"
        )
        if engine.resumed and result.loop.cycles == 0 and result.until is not None:
            # --for counts from the run's start, so the same command again has nothing left
            console.print(
                f"--for ends at {result.until.isoformat()} (from the run's start, "
                f"{result.start.isoformat()}), which these books had reached: give a longer "
                "--for to go on"
            )
        if engine.scalp is not None:
            engine.scalp.feedback.flush(engine.clock.now())
            console.print(engine.scalp.day_report())
        print_cache_report(engine.cache)
    finally:
        ops.close()
        result.engine.close()
        watchdog.finished()


def _run_broker(
    cfg: QtsConfig, broker: str, account: str, duration: timedelta | None, db: Path | None
) -> None:
    """``--broker kis|kiwoom``: market data and orders through the adapter; ``--for`` is wall
    time."""
    console = Console()
    status = StatusConsole(console)
    stop = threading.Event()
    watchdog = StopWatchdog(stop).install()  # a stuck thread cannot keep the process alive
    problems = account_problems(cfg, account, os.environ)
    if problems:  # every missing switch at once, and nothing said about the account before
        raise ConfigError("command line", "--account " + account, "\n  " + "\n  ".join(problems))
    logs = log_to_files((db.parent if db else Path("var")) / "log")
    console.print(f"QTS {broker} run on the {account} account; Ctrl-C stops cleanly; log {logs}")
    ops = OperatorSurface(cfg, console.print)

    def ready(engine: Engine) -> None:
        status.attach(engine)
        ops.attach(engine)

    try:
        result = run_broker(
            cfg,
            broker=broker,
            account=account,
            duration=duration,
            stop=stop,
            on_cycle=status.on_cycle,
            on_ready=ready,
            echo=console.print,
            db=db,
        )
    except StoppedBeforeData as exc:
        ops.close()
        console.print(f"stopped: {exc}")
        watchdog.finished()
        return
    except BaseException:
        ops.close()
        raise
    try:
        status.close()
        engine = result.engine
        feed = result.feed
        console.print(
            f"stopped: {result.stopped}; {feed.prints} trade prints -> {feed.frames} bars, "
            f"{result.loop.cycles} cycles, {len(engine.oms.orders)} orders, "
            f"{len(engine.oms.account.ledger)} ledger rows"
        )
        if engine.scalp is not None:
            console.print(engine.scalp.day_report())
        print_cache_report(engine.cache)
    finally:
        ops.close()
        result.engine.close()
        watchdog.finished()
