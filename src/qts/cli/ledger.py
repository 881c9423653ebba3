"""``qts ledger``: print the trade ledger of a run's database."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from qts.cli.paths import open_books
from qts.model.ledger import LedgerEntry


class Format(StrEnum):
    csv = "csv"
    json = "json"


def ledger(
    db: Annotated[Path, typer.Option(help="The run's SQLite database.")],
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.csv,
) -> None:
    """Print every ledger row (one per execution) in booking order (the file is only read)."""
    store = open_books(db)
    try:
        rows = [e.as_row() for e in store.load_ledger()]
    finally:
        store.close()
    if format is Format.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return
    fields = [f.name for f in dataclasses.fields(LedgerEntry)]  # the same header when empty
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
