"""Entry point of the ``qts`` command."""

from __future__ import annotations

import gc
import importlib
import logging
import sys

import typer

from qts.core.errors import QtsError

# name -> (module under qts.cli, attribute, a group of subcommands?)
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "run": ("run", "run", False),
    "backtest": ("backtest", "backtest", False),
    "ledger": ("ledger", "ledger", False),
    "optimize": ("optimize", "optimize", False),
    "dashboard": ("dashboard", "dashboard", False),
    "config": ("config", "app", True),
    "safety": ("safety", "app", True),
    "sim": ("sim", "app", True),
    "db": ("db", "app", True),
    "backup": ("backup", "app", True),
    "capital": ("capital", "app", True),
    "state": ("state", "app", True),
}


LEAVE_TO_OS = frozenset({"backtest"})
"""Commands whose objects are only memory once they succeed (everything they write is closed):
the process leaves them to the OS instead of freeing them one by one at exit."""


def build_app(only: str | None = None) -> typer.Typer:
    """The ``qts`` command; with ``only``, just that subcommand, so ``qts backtest`` does not
    import the live brokers, PostgreSQL and the dashboard first (a second of start-up)."""
    app = typer.Typer(
        name="qts",
        help="QTS — automated trading for Korean equities (KOSPI/KOSDAQ).",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _root() -> None:
        """QTS — automated trading for Korean equities (KOSPI/KOSDAQ)."""

    for name, (module, attr, group) in COMMANDS.items():
        if only is not None and name != only:
            continue
        target = getattr(importlib.import_module(f"qts.cli.{module}"), attr)
        if group:
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)
    return app


def __getattr__(name: str) -> typer.Typer:
    """``qts.cli.main.app``: the whole command, built when first asked for."""
    if name == "app":
        return build_app()
    raise AttributeError(name)


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    first = sys.argv[1] if len(sys.argv) > 1 else None
    # importing a command builds ~100,000 objects that live as long as the process: collecting
    # while they pile up only scans them again and again (~50 ms of a backtest's start-up);
    # frozen once built, no collection of the run visits them again
    gc.disable()
    try:
        app = build_app(first if first in COMMANDS else None)
    finally:
        gc.freeze()
        gc.enable()
    try:
        app()
    except SystemExit as exc:
        if first in LEAVE_TO_OS and not exc.code:
            # a finished backtest's engine, books and cache are garbage cycles (~60,000
            # containers and all they hold) that the collection at exit would free one by one
            # (~0.3 s at 100 x 2,500 bars); frozen, they are never visited and the OS takes the
            # memory back with the process
            gc.freeze()
        raise
    except QtsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        # a path the user gave that the system refuses (under a file, no permission, disk full)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        sys.exit(2)
