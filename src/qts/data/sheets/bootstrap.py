"""Laying out a new spreadsheet with every sheet of the model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qts.data.sheets.a1 import a1
from qts.data.sheets.client import SheetsClient
from qts.data.sheets.model import (
    QTS_SCHEMA,
    REGISTRY,
    Layout,
    Registry,
)

GROW_ROWS = 1000


def bootstrap_spreadsheet(
    client: SheetsClient, registry: Registry = REGISTRY, rows: int = GROW_ROWS
) -> list[str]:
    """Lay out a new spreadsheet with every sheet of the model: the 9 user sheets, R_Dash and
    QTS's sheets, header rows (block titles for dashboards) and the schema version. Sheets that
    exist are left as they are. Returns the sheets it added."""
    present = client.metadata().by_title()
    missing = [s for s in registry.sheets.values() if s.name not in present]
    if missing:
        client.add_sheets([(s.name, rows, max(s.width, 26)) for s in missing])
    data: list[tuple[str, Sequence[Sequence[Any]]]] = []
    for spec in missing:
        if spec.layout is Layout.TABLE:
            data.append((a1(spec.name, spec.header_row, 1), [spec.headers]))
        else:
            for block in spec.blocks:
                data.append((f"{a1(spec.name)}!{block.title_cell}", [[block.name]]))
    if QTS_SCHEMA.name not in present:
        data.append(
            (
                a1(QTS_SCHEMA.name, QTS_SCHEMA.row_start, 1),
                [
                    ["schema_version", registry.version],
                    ["schema_hash", registry.content_hash()],
                ],
            )
        )
    client.batch_update(data)
    return [s.name for s in missing]
