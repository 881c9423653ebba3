"""The spreadsheets.values writes: valueInputOption, batchUpdate, append, the ``updated*`` counts.

batchUpdate plans every range before applying any (one bad range changes nothing); append finds
the table's end and may grow the sheet or insert rows. Every write answers the counts Google
reports. Reads, clears and the single-range update are one call on the
:class:`~qts.data.sheets.fake.book.Book` each and stay in :mod:`qts.data.sheets.fake.routes`.
"""

from __future__ import annotations

from typing import Any

from qts.data.sheets.fake.book import Book, Bounds, bad_request


def input_option(value: str) -> bool:
    if value not in ("RAW", "USER_ENTERED"):
        raise bad_request("'valueInputOption' is required but not specified")
    return value == "USER_ENTERED"


def values_batch_update(book: Book, body: Any) -> Any:
    body = body or {}
    user = input_option(str(body.get("valueInputOption") or ""))
    plans = []
    for item in body.get("data") or []:
        plans.append(
            book.plan_write(
                str(item.get("range", "")),
                list(item.get("values") or []),
                item.get("majorDimension") or "ROWS",
                user,
            )
        )
    # every range checked first: one bad range applies nothing
    for bounds, changes in plans:
        book.apply(changes, bounds.grid)
    responses = [{"spreadsheetId": book.spreadsheet_id, **updated(b, c)} for b, c in plans]
    return {
        "spreadsheetId": book.spreadsheet_id,
        "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
        "totalUpdatedColumns": sum(r["updatedColumns"] for r in responses),
        "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
        "totalUpdatedSheets": len({b.grid.sheet_id for b, _ in plans}),
        "responses": responses,
    }


def append(book: Book, range_: str, values: list[list[Any]], user: bool, insert: str) -> Any:
    if insert not in ("OVERWRITE", "INSERT_ROWS"):
        raise bad_request(f"Invalid insertDataOption: {insert}")
    table = book.resolve(range_)
    end = book.table_end(table)
    start = end + 1
    grid = table.grid
    height = len(values)
    if insert == "INSERT_ROWS":
        moved = {(r + height if r >= start else r, c): v for (r, c), v in grid.cells.items()}
        grid.cells = moved
        grid.rows += height
    elif start + height - 1 > grid.rows:
        grid.rows = start + height - 1  # append grows the sheet
    width = max((len(r) for r in values), default=1)
    grid.cols = max(grid.cols, table.c0 + width - 1)
    target = Bounds(grid, start, table.c0, start + max(height, 1) - 1, table.c0 + width - 1)
    bounds, changes = book.plan_write(target.a1(), values, "ROWS", user)
    book.apply(changes, grid)
    first = table.r0 if end >= table.r0 else start
    table_range = Bounds(grid, first, table.c0, max(end, first), table.c1).a1()
    return {
        "spreadsheetId": book.spreadsheet_id,
        "tableRange": table_range,
        "updates": {"spreadsheetId": book.spreadsheet_id, **updated(bounds, changes)},
    }


def updated(bounds: Bounds, changes: list[Any]) -> dict[str, Any]:
    rows = bounds.r1 - bounds.r0 + 1
    cols = bounds.c1 - bounds.c0 + 1
    return {
        "updatedRange": bounds.a1(),
        "updatedRows": rows if changes else 0,
        "updatedColumns": cols if changes else 0,
        "updatedCells": len(changes),
    }
