"""``qts config check``: validate the configuration and name every problem."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qts.config.loader import load_config

app = typer.Typer(help="Inspect and validate the configuration.", no_args_is_help=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config_Local YAML file (qts.yaml).")
]
SheetOpt = Annotated[
    list[Path] | None,
    typer.Option("--sheet", help="Strategy sheet as CSV: Config_Scalp.csv or Config_Swing.csv."),
]


@app.command("check")
def check(config: ConfigOpt = None, sheet: SheetOpt = None) -> None:
    """Validate every scope; exit 1 and list each problem (source, key, reason) if any."""
    loaded = load_config(config, list(sheet or []))
    if loaded.problems:
        for p in loaded.problems:
            typer.echo(f"{p.source}: {p.key}: {p.reason}", err=True)
        typer.echo(f"{len(loaded.problems)} problem(s) found.", err=True)
        raise typer.Exit(1)
    typer.echo(f"configuration OK ({', '.join(loaded.sources)}); mode {loaded.config.mode.value}")
