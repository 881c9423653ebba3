"""``qts config check``: validate the configuration and name every problem."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qts.cli.config_sheets import load_with_sheets

app = typer.Typer(help="Inspect and validate the configuration.", no_args_is_help=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config_Local YAML file (qts.yaml).")
]
SheetOpt = Annotated[
    list[Path] | None,
    typer.Option("--sheet", help="Strategy sheet as CSV: Config_Scalp.csv or Config_Swing.csv."),
]


ConfigSheetsOpt = Annotated[
    bool,
    typer.Option(
        "--config-sheets",
        help="Also read Config_Scalp/Config_Swing from the spreadsheet (GOOGLE_SHEET_KEY, "
        "GOOGLE_CREDENTIALS_FILE).",
    ),
]


@app.command("check")
def check(
    config: ConfigOpt = None, sheet: SheetOpt = None, config_sheets: ConfigSheetsOpt = False
) -> None:
    """Validate every scope; exit 1 and list each problem (source, key, reason) if any."""
    loaded = load_with_sheets(config, list(sheet or []), config_sheets)
    problems = [f"{p.source}: {p.key}: {p.reason}" for p in loaded.problems]
    if not problems:
        # what ``qts run`` refuses at start (the environment included) is a problem here too
        from qts.app.operator import start_problems

        problems = [str(e) for e in start_problems(loaded.config)]
    if problems:
        for line in problems:
            typer.echo(line, err=True)
        typer.echo(f"{len(problems)} problem(s) found.", err=True)
        raise typer.Exit(1)
    typer.echo(f"configuration OK ({', '.join(loaded.sources)}); mode {loaded.config.mode.value}")
    symbols = loaded.config.universe.symbols
    if symbols:
        where = loaded.origin.get("universe.symbols", "defaults")
        typer.echo(f"universe: {', '.join(symbols)} ({where})")
