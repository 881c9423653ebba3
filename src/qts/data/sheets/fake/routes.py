"""The API behind ``/v4/spreadsheets/{id}``: which method a path and HTTP method name, its answer.

The server has already checked the caller, the spreadsheet, the quota and the faults; this
maps what is left of the path (``""``, ``:batchUpdate``, ``/values/{range}:append`` ...) and the
query to the spreadsheet's model, raising :class:`~qts.data.sheets.fake.book.ApiError` for
what Google would refuse.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from qts.data.sheets.fake.batch_update import spreadsheet_batch_update
from qts.data.sheets.fake.book import ApiError, Book, bad_request
from qts.data.sheets.fake.field_mask import mask
from qts.data.sheets.fake.values import append, input_option, updated, values_batch_update


def route(book: Book, method: str, tail: str, query: list[tuple[str, str]], body: Any) -> Any:
    params: dict[str, list[str]] = {}
    for k, v in query:
        params.setdefault(k, []).append(v)

    def one(name: str, default: str) -> str:
        return params.get(name, [default])[-1]

    if tail == "" and method == "GET":
        meta = book.metadata()
        fields = one("fields", "")
        return mask(meta, fields) if fields else meta
    if tail == ":batchUpdate" and method == "POST":
        return spreadsheet_batch_update(book, body)
    if not tail.startswith("/values"):
        raise ApiError(404, "NOT_FOUND", "Requested entity was not found.")
    tail = tail[len("/values") :]
    option = one("valueRenderOption", "FORMATTED_VALUE")
    major = one("majorDimension", "ROWS")
    if option not in ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"):
        raise bad_request(f"Invalid valueRenderOption: {option}")
    if tail == ":batchGet" and method == "GET":
        ranges = params.get("ranges", [])
        return {
            "spreadsheetId": book.spreadsheet_id,
            "valueRanges": [book.read(r, option, major) for r in ranges],
        }
    if tail == ":batchUpdate" and method == "POST":
        return values_batch_update(book, body)
    if tail == ":batchClear" and method == "POST":
        ranges = list((body or {}).get("ranges") or [])
        for r in ranges:
            book.resolve(r)  # all or nothing
        return {
            "spreadsheetId": book.spreadsheet_id,
            "clearedRanges": [book.clear(r) for r in ranges],
        }
    if not tail.startswith("/"):
        raise ApiError(404, "NOT_FOUND", "Requested entity was not found.")
    encoded, _, action = tail[1:].partition(":")
    range_ = unquote(encoded)
    if action == "" and method == "GET":
        return book.read(range_, option, major)
    if action == "" and method == "PUT":
        user = input_option(one("valueInputOption", ""))
        data = body or {}
        bounds, changes = book.plan_write(
            range_, list(data.get("values") or []), data.get("majorDimension") or "ROWS", user
        )
        book.apply(changes, bounds.grid)
        return {"spreadsheetId": book.spreadsheet_id, **updated(bounds, changes)}
    if action == "append" and method == "POST":
        user = input_option(one("valueInputOption", ""))
        return append(
            book,
            range_,
            list((body or {}).get("values") or []),
            user,
            one("insertDataOption", "OVERWRITE"),
        )
    if action == "clear" and method == "POST":
        return {"spreadsheetId": book.spreadsheet_id, "clearedRange": book.clear(range_)}
    raise ApiError(404, "NOT_FOUND", "Requested entity was not found.")
