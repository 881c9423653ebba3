"""The schema guard: a renamed, missing or moved column is refused with FS001, naming sheet,
column, expected and found header, and nothing is written; the registry's versions and hashes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from sheets_kit import Book, set_header

from qts.core.errors import StorageError
from qts.data.sheets.bootstrap import bootstrap_spreadsheet
from qts.data.sheets.client import SheetsClient
from qts.data.sheets.fake import FakeSheetsServer
from qts.data.sheets.guard import SchemaMismatchError, guard
from qts.data.sheets.model import (
    POSITION,
    REGISTRY,
    SCHEMA_VERSION,
    Bump,
    Column,
    Registry,
    diff,
    next_version,
    required_bump,
)
from qts.data.sheets.store import SheetsStore
from qts.safety.codes import Severity

OpenStore = Callable[..., SheetsStore]


def test_a_new_spreadsheet_is_laid_out_with_headers_and_the_version(
    fake: FakeSheetsServer, sheet_key: str, open_store: OpenStore
) -> None:
    open_store().close()
    titles = fake.sheet_titles(sheet_key)
    assert {"Position", "T_Ledger", "History", "_QTS_Orders", "_QTS_Schema"} <= set(titles)
    assert fake.get_values(sheet_key, "Position!1:1") == [POSITION.headers]
    assert fake.get_values(sheet_key, "_QTS_Schema!A2:B3") == [
        ["schema_version", SCHEMA_VERSION],
        ["schema_hash", REGISTRY.content_hash()],
    ]
    writes = fake.stats.writes
    open_store().close()  # a second open reads only
    assert fake.stats.writes == writes


@pytest.mark.parametrize(
    ("sheet", "edit", "problem"),
    [
        (
            "Position",
            {"D": "Quantity"},
            "Position!D1: expected header 'Qty', found 'Quantity' (renamed)",
        ),
        (
            "T_Ledger",
            {"F": ""},
            "T_Ledger!F1: expected header 'Price', found an empty cell (missing)",
        ),
        (
            "Position",
            {"C": "Qty", "D": "Market"},
            "Position!C1: expected header 'Market', found 'Qty' (moved); 'Market' is now in "
            "column D",
        ),
        (
            "_QTS_Orders",
            {"E": "quantity"},
            "_QTS_Orders!E1: expected header 'qty', found 'quantity' (renamed)",
        ),
    ],
    ids=["renamed", "missing", "reordered", "qts-sheet"],
)
def test_a_changed_header_stops_the_store_from_opening_and_nothing_is_written(
    fake: FakeSheetsServer,
    sheet_key: str,
    open_store: OpenStore,
    sheet: str,
    edit: dict[str, str],
    problem: str,
) -> None:
    open_store().close()
    for column, text in edit.items():
        set_header(fake, sheet_key, sheet, column, text)
    writes = fake.stats.writes
    with pytest.raises(SchemaMismatchError) as err:
        open_store()
    assert err.value.code == "FS001"
    assert err.value.safety_code.severity is Severity.FAIL_SAFE
    assert problem in str(err.value)
    assert "FS001 schema mismatch" in str(err.value)
    assert isinstance(err.value, StorageError)
    assert fake.stats.writes == writes


def test_a_header_changed_while_running_refuses_the_next_write(
    fake: FakeSheetsServer, sheet_key: str, open_store: OpenStore
) -> None:
    store = open_store(recheck_s=0.0)  # check before every write
    book = Book()
    assert store.record_fill(*book.buy_fill())
    before = (store.load_ledger(), store.load_positions(), store.load_account())
    set_header(fake, sheet_key, "T_Ledger", "E", "Quantity")
    writes = fake.stats.writes
    second = book.buy_fill("000660", 3, 180_000)
    with pytest.raises(SchemaMismatchError, match="T_Ledger!E1: expected header 'Qty'"):
        store.record_fill(*second)
    assert fake.stats.writes == writes  # nothing written anywhere
    assert (store.load_ledger(), store.load_positions(), store.load_account()) == before
    set_header(fake, sheet_key, "T_Ledger", "E", "Qty")  # the operator puts it back
    assert store.record_fill(*second)
    assert len(store.load_ledger()) == 2


def test_headers_compare_without_case_or_padding_and_added_columns_are_allowed(
    fake: FakeSheetsServer, sheet_key: str, open_store: OpenStore, client: SheetsClient
) -> None:
    open_store().close()
    set_header(fake, sheet_key, "Position", "D", "  qty ")
    set_header(fake, sheet_key, "Position", "U", "My_Notes")  # a column added on the right
    report = guard(client, ["Position", "T_Ledger"])
    assert report.version == SCHEMA_VERSION
    assert report.extra_columns == {"Position": ["My_Notes"]}
    open_store().close()


@pytest.mark.parametrize(("recorded", "ok"), [("1.4.2", True), ("2.0.0", False), ("one", False)])
def test_the_recorded_schema_version_must_share_the_major(
    fake: FakeSheetsServer, sheet_key: str, open_store: OpenStore, recorded: str, ok: bool
) -> None:
    open_store().close()
    fake.set_values(sheet_key, "_QTS_Schema!B2", [[recorded]])
    if ok:
        open_store().close()
        return
    with pytest.raises(SchemaMismatchError, match=r"_QTS_Schema: .*schema"):
        open_store()


def test_a_missing_sheet_is_refused_once_the_spreadsheet_is_laid_out(
    fake: FakeSheetsServer, sheet_key: str, open_store: OpenStore
) -> None:
    open_store().close()
    with fake.book(sheet_key) as book:
        book.grids = [g for g in book.grids if g.title != "_QTS_Fills"]
    with pytest.raises(SchemaMismatchError, match="sheet '_QTS_Fills' is missing"):
        open_store()


def test_qts_data_without_a_recorded_version_is_not_overwritten(
    fake: FakeSheetsServer, sheet_key: str, open_store: OpenStore
) -> None:
    store = open_store()
    store.save_state("k", {"v": 1})
    store.close()
    fake.set_values(sheet_key, "_QTS_Schema!A2:B3", [["", ""], ["", ""]])
    writes = fake.stats.writes
    with pytest.raises(StorageError, match="_QTS_State holds data"):
        open_store()
    assert fake.stats.writes == writes


def test_the_guard_checks_the_operator_sheets_in_one_read(
    fake: FakeSheetsServer, client: SheetsClient
) -> None:
    added = bootstrap_spreadsheet(client)
    assert "Config_Scalp" in added and "R_Dash" in added
    assert fake.get_values(client.key, "R_Dash!A1") == [["global_risk_panel"]]
    reads = fake.stats.reads
    guard(client, ["Config_Scalp", "Config_Swing", "Dividend", "Strategy"], titles=added)
    assert fake.stats.reads == reads + 1
    fake.set_values(client.key, "Config_Swing!C1", [["NAME"]])
    with pytest.raises(SchemaMismatchError, match="Config_Swing!C1: expected header 'KEY'"):
        guard(client, ["Config_Scalp", "Config_Swing"])


# ---------------------------------------------------------------- versions and hashes


def _with_columns(columns: tuple[Column, ...]) -> Registry:
    spec = dataclasses.replace(POSITION, columns=columns)
    return Registry.of(
        REGISTRY.version, [*(s for s in REGISTRY.sheets.values() if s is not POSITION), spec]
    )


def test_removing_or_renaming_a_column_is_major_and_adding_one_is_minor() -> None:
    cols = POSITION.columns
    added = _with_columns((*cols, Column("broker", "Broker")))
    removed = _with_columns(cols[:-1])
    renamed = _with_columns((*cols[:3], Column("qty", "Quantity", True), *cols[4:]))
    moved = _with_columns((cols[1], cols[0], *cols[2:]))
    assert required_bump(diff(REGISTRY, added)) is Bump.MINOR
    assert required_bump(diff(REGISTRY, removed)) is Bump.MAJOR
    assert required_bump(diff(REGISTRY, renamed)) is Bump.MAJOR
    assert required_bump(diff(REGISTRY, moved)) is Bump.MAJOR
    assert required_bump(diff(REGISTRY, REGISTRY)) is None
    assert next_version(REGISTRY, added) == "1.1.0"
    assert next_version(REGISTRY, removed) == "2.0.0"
    assert [c.kind for c in diff(REGISTRY, renamed)] == ["FIELD_RENAMED"]


def test_the_hash_follows_the_layout_not_the_version() -> None:
    assert REGISTRY.content_hash() == Registry.of("9.9.9", REGISTRY.sheets.values()).content_hash()
    renamed = _with_columns((Column("symbol", "Ticker", True), *POSITION.columns[1:]))
    assert renamed.content_hash() != REGISTRY.content_hash()
    assert len(REGISTRY.content_hash()) == 64
    assert POSITION.content_hash() != REGISTRY["T_Ledger"].content_hash()
    assert '"schema_version": "1.0.0"' in REGISTRY.to_json()


def test_the_model_has_the_nine_user_sheets_and_r_dash() -> None:
    user = [n for n in REGISTRY.sheets if not n.startswith("_QTS_")]
    assert user == [
        "Config_Scalp",
        "Config_Swing",
        "Position",
        "T_Ledger",
        "History",
        "Strategy",
        "Portfolio",
        "Performance",
        "Dividend",
        "R_Dash",
    ]
    assert REGISTRY["Config_Scalp"].headers == [
        "CATEGORY",
        "SUB_CATEGORY",
        "KEY",
        "VALUE",
        "DESCRIPTION",
        "TAG",
    ]
    assert REGISTRY["T_Ledger"].letter("order_id") == "M"
    assert REGISTRY["Position"].letter("note") == "T"
    assert all(s.row_start == 2 for s in REGISTRY.sheets.values())


def test_a_legacy_ledger_is_not_overwritten_by_the_views(
    fake: FakeSheetsServer, sheet_key: str, open_store: OpenStore
) -> None:
    fake.add_sheet(sheet_key, "T_Ledger")
    fake.set_values(sheet_key, "T_Ledger!A1", [REGISTRY["T_Ledger"].headers, ["2023-12-28"]])
    with pytest.raises(StorageError, match=r"T_Ledger \(1 rows\) hold rows QTS did not write"):
        open_store()
    assert fake.stats.writes == 0
    assert fake.get_values(sheet_key, "T_Ledger!A2") == [["2023-12-28"]]
    open_store(views=False).close()  # the exact records alone leave T_Ledger as it is
    assert fake.get_values(sheet_key, "T_Ledger!A2") == [["2023-12-28"]]
