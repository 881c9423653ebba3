"""Config_Scalp / Config_Swing read from the spreadsheet, row by row, for the config merge.

``read_strategy_sheets`` fetches the sheets' metadata and then every row of the requested
sheets in one ``values:batchGet``; the header rows are checked by the schema guard (FS001 on a
renamed, missing or moved column) before any row is used. Each sheet comes back as a
:class:`StrategySheet` whose ``csv_rows()`` are exactly what ``csv.reader`` yields for the
sheet's CSV export (the input of ``qts.config.loader.read_strategy_sheet``), and whose rows carry
their sheet row number so a problem names ``Config_Scalp!row 7``.

``sheet_values`` applies the loader's rules for a strategy sheet (KEY must name a parameter of the
sheet's own strategy, or be ``universe.symbols``: the codes it trades; VALUE is cast to bool / int
/ float / text) to those rows, and ``spreadsheet_configs`` reads both sheets for
``qts.config.loader.load_config(read_sheets=...)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from qts.config.loader import SHEET_HEADER, SHEET_STRATEGY, Problem, SheetConfig, sheet_config
from qts.data.sheets.a1 import a1
from qts.data.sheets.client import SheetsClient
from qts.data.sheets.guard import SchemaMismatchError, check
from qts.data.sheets.model import CONFIG_SCALP, CONFIG_SWING, REGISTRY, Registry

STRATEGY_SHEETS = (CONFIG_SCALP.name, CONFIG_SWING.name)


@dataclass(frozen=True, slots=True)
class SheetRow:
    """One row as Google returned it (formatted strings, trailing blanks trimmed)."""

    sheet: str
    row: int  # the sheet's own row number, 1-based
    cells: tuple[str, ...]

    @property
    def source(self) -> str:
        return f"{self.sheet}!row {self.row}"

    def cell(self, index: int) -> str:
        return self.cells[index] if index < len(self.cells) else ""


@dataclass(frozen=True)
class StrategySheet:
    name: str
    header: tuple[str, ...]
    rows: list[SheetRow] = field(default_factory=list)  # data rows, blank ones included

    @property
    def strategy(self) -> str:
        return SHEET_STRATEGY.get(self.name, "")

    def csv_rows(self) -> list[list[str]]:
        """The rows as ``csv.reader`` reads the sheet's CSV export, header first."""
        return [list(self.header), *(list(r.cells) for r in self.rows)]

    def records(self) -> list[dict[str, str]]:
        """Non-blank rows as {CATEGORY, SUB_CATEGORY, KEY, VALUE, DESCRIPTION, TAG}."""
        return [
            {h: r.cell(i).strip() for i, h in enumerate(SHEET_HEADER)}
            for r in self.rows
            if any(c.strip() for c in r.cells)
        ]


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def read_strategy_sheets(
    client: SheetsClient,
    names: Iterable[str] = STRATEGY_SHEETS,
    registry: Registry = REGISTRY,
) -> dict[str, StrategySheet]:
    """Read Config_Scalp / Config_Swing (two requests: metadata, one batchGet).

    Raises :class:`~qts.data.sheets.guard.SchemaMismatchError` (FS001) if a sheet is missing or
    its header row is not CATEGORY | SUB_CATEGORY | KEY | VALUE | DESCRIPTION | TAG.
    """
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        if name not in SHEET_STRATEGY:
            raise ValueError(f"{name} is not a strategy sheet (expected one of {STRATEGY_SHEETS})")
    present = {s.title for s in client.metadata().sheets}
    readable = [n for n in wanted if n in present]
    spec_width = {n: registry[n].width for n in readable}
    values = client.batch_get([a1(n, None, 1, None, spec_width[n]) for n in readable])
    content = dict(zip(readable, values, strict=True))
    found: dict[str, Sequence[Any] | None] = {
        n: (content[n][0] if content[n] else []) if n in content else None for n in wanted
    }
    problems = check(found, registry)
    if problems:
        raise SchemaMismatchError(problems, "strategy config sheets")
    out: dict[str, StrategySheet] = {}
    for name in readable:
        spec = registry[name]
        rows = content[name]
        data = [
            SheetRow(name, spec.row_start + i, tuple(_str(v) for v in row))
            for i, row in enumerate(rows[spec.row_start - 1 :])
        ]
        out[name] = StrategySheet(name, tuple(_str(v) for v in rows[0]), data)
    return out


def sheet_values(sheet: StrategySheet, problems: list[Problem]) -> SheetConfig:
    """The sheet's strategy, parameters and codes (``universe.symbols``), by the CSV loader's
    rules; each problem names its row as ``Config_Scalp!row 7``."""
    return sheet_config(
        sheet.name,
        sheet.header,
        ((r.source, r.cells) for r in sheet.rows),
        problems,
        where=sheet.name,
        header_at=f"{sheet.name}!row 1",
    )


def spreadsheet_configs(
    client: SheetsClient, problems: list[Problem], names: Iterable[str] = STRATEGY_SHEETS
) -> list[tuple[str, SheetConfig]]:
    """Config_Scalp / Config_Swing of the spreadsheet (those present), ready for
    ``load_config(read_sheets=...)``; a sheet missing from the spreadsheet is skipped, a renamed
    or moved header column refuses (FS001, :func:`read_strategy_sheets`)."""
    return [
        (f"spreadsheet {name}", sheet_values(sheet, problems))
        for name, sheet in read_strategy_sheets(client, names).items()
    ]
