"""Entry point of the ``qts`` command."""

from __future__ import annotations

import logging
import sys

import typer

from qts.cli import (
    backtest,
    backup,
    capital,
    config,
    dashboard,
    db,
    ledger,
    optimize,
    run,
    safety,
    sim,
    state,
)
from qts.core.errors import QtsError

app = typer.Typer(
    name="qts",
    help="QTS — automated trading for Korean equities (KOSPI/KOSDAQ).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("run")(run.run)
app.command("backtest")(backtest.backtest)
app.command("ledger")(ledger.ledger)
app.command("optimize")(optimize.optimize)
app.command("dashboard")(dashboard.dashboard)
app.add_typer(config.app, name="config")
app.add_typer(safety.app, name="safety")
app.add_typer(sim.app, name="sim")
app.add_typer(db.app, name="db")
app.add_typer(backup.app, name="backup")
app.add_typer(capital.app, name="capital")
app.add_typer(state.app, name="state")


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        app()
    except QtsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        # a path the user gave that the system refuses (under a file, no permission, disk full)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        sys.exit(2)
