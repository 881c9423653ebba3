"""``--config-sheets``: read Config_Scalp / Config_Swing from the spreadsheet for the config merge.

The spreadsheet is the one ``GOOGLE_SHEET_KEY`` names, read with the service-account key of
``GOOGLE_CREDENTIALS_FILE`` (qts.data.sheets.client). The sheets are merged with the CSV exports'
rules (qts.config.loader): their strategies' parameters and their ``universe.symbols`` rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qts.config.loader import LoadedConfig, Problem, SheetConfig, load_config


def spreadsheet_sheets() -> tuple[list[tuple[str, SheetConfig]], list[Problem]]:
    """The strategy sheets of the configured spreadsheet, and the problems of their rows."""
    from qts.data.sheets.client import SheetsClient
    from qts.data.sheets.config import spreadsheet_configs

    problems: list[Problem] = []
    with SheetsClient.from_env() as client:
        return spreadsheet_configs(client, problems), problems


def load_with_sheets(
    local: Path | None, sheets: Sequence[Path], from_spreadsheet: bool
) -> LoadedConfig:
    """``load_config`` with the spreadsheet's strategy sheets too when ``from_spreadsheet``."""
    if not from_spreadsheet:
        return load_config(local, list(sheets))
    read, problems = spreadsheet_sheets()
    loaded = load_config(local, list(sheets), read_sheets=read)
    loaded.problems[:0] = problems
    return loaded


__all__ = ["load_with_sheets", "spreadsheet_sheets"]
