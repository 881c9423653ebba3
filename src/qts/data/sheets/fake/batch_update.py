"""spreadsheets.batchUpdate: the sheet requests the fake serves (add, delete, resize, rename).

Requests are tried on a copy of the spreadsheet and the copy swapped in at the end, so one bad
request applies nothing, as Google's batchUpdate is all or nothing.
"""

from __future__ import annotations

import copy
from typing import Any

from qts.data.sheets.fake.book import Book, bad_request


def spreadsheet_batch_update(book: Book, body: Any) -> Any:
    requests = list((body or {}).get("requests") or [])
    # Validate on a copy, then swap it in: one bad request applies nothing.
    trial = copy.deepcopy(book)
    replies: list[dict[str, Any]] = []
    for i, req in enumerate(requests):
        if not isinstance(req, dict) or len(req) != 1:
            raise bad_request(f"Invalid requests[{i}]: exactly one kind of request expected")
        ((name, spec),) = req.items()
        spec = spec or {}
        if name == "addSheet":
            props = spec.get("properties") or {}
            grid_props = props.get("gridProperties") or {}
            g = trial.add_grid(
                str(props.get("title") or f"Sheet{len(trial.grids) + 1}"),
                int(grid_props.get("rowCount", 1000)),
                int(grid_props.get("columnCount", 26)),
                props.get("index"),
            )
            replies.append({"addSheet": {"properties": g.properties()}})
        elif name == "deleteSheet":
            trial.delete_grid(int(spec.get("sheetId", -1)))
            replies.append({})
        elif name == "updateSheetProperties":
            props = spec.get("properties") or {}
            g = trial.grid_by_id(int(props.get("sheetId", 0)))
            fields = str(spec.get("fields") or "")
            if not fields:
                raise bad_request(f"Invalid requests[{i}].updateSheetProperties: No 'fields'")
            grid_props = props.get("gridProperties") or {}
            if "title" in props and ("title" in fields or fields == "*"):
                g.title = str(props["title"])
            if "rowCount" in grid_props:
                g.rows = int(grid_props["rowCount"])
            if "columnCount" in grid_props:
                g.cols = int(grid_props["columnCount"])
            if g.rows < 1 or g.cols < 1:
                raise bad_request(f"Invalid requests[{i}]: grid size must be positive")
            for r, c in list(g.cells):
                if r > g.rows or c > g.cols:
                    del g.cells[(r, c)]
            replies.append({})
        elif name == "appendDimension":
            g = trial.grid_by_id(int(spec.get("sheetId", 0)))
            length = int(spec.get("length", 0))
            if length < 1:
                raise bad_request(f"Invalid requests[{i}].appendDimension: length must be > 0")
            if spec.get("dimension") == "COLUMNS":
                g.cols += length
            else:
                g.rows += length
            replies.append({})
        else:
            raise bad_request(f"Invalid requests[{i}]: the fake does not serve '{name}'")
    book.grids = trial.grids
    book._next_id = trial._next_id
    return {"spreadsheetId": book.spreadsheet_id, "replies": replies}
