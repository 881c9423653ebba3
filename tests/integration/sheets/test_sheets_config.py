"""Config_Scalp / Config_Swing from the spreadsheet feed the same rows as their CSV exports."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from qts.config.loader import Problem, read_strategy_sheet
from qts.data.sheets.client import SheetsClient
from qts.data.sheets.config import read_strategy_sheets, strategy_params
from qts.data.sheets.fake import FakeSheetsServer
from qts.data.sheets.guard import SchemaMismatchError
from qts.data.sheets.store import bootstrap_spreadsheet

SCALP_ROWS = [
    ["STRATEGY", "ENTRY", "rsi_oversold", "30", "RSI buy level", "TUNABLE"],
    ["STRATEGY", "ENTRY", "bb_k", "2.5", "Bollinger width", "TUNABLE"],
    [],
    ["RISK", "EXIT", "max_loss_pct", "0.02", "", "DANGER"],
    ["RISK", "POSITION", "max_positions", "3"],
    ["RISK", "POSITION", "kill_switch", "TRUE", "not a scalp parameter", ""],
    ["RISK", "", "", "", "a note without a key"],
]


@pytest.fixture
def laid_out(client: SheetsClient, fake: FakeSheetsServer) -> SheetsClient:
    bootstrap_spreadsheet(client)
    # the operator types the rows in the UI (USER_ENTERED: "30" becomes a number)
    fake.set_values(client.key, "Config_Scalp!A2", SCALP_ROWS, user_entered=True)
    fake.set_values(
        client.key,
        "Config_Swing!A2",
        [["FILTER", "TREND", "breakout_window", "20", "days", "STABLE"]],
        user_entered=True,
    )
    return client


def test_config_sheets_come_back_as_their_csv_exports_read(
    laid_out: SheetsClient, fake: FakeSheetsServer, tmp_path: Path
) -> None:
    reads = fake.stats.reads
    sheets = read_strategy_sheets(laid_out)
    assert fake.stats.reads == reads + 2  # metadata and one batchGet, headers checked on it
    scalp = sheets["Config_Scalp"]
    assert scalp.strategy == "scalp_reversion"
    assert scalp.csv_rows()[0] == ["CATEGORY", "SUB_CATEGORY", "KEY", "VALUE", "DESCRIPTION", "TAG"]
    assert scalp.rows[0].source == "Config_Scalp!row 2"
    assert scalp.rows[0].cells == (
        "STRATEGY",
        "ENTRY",
        "rsi_oversold",
        "30",
        "RSI buy level",
        "TUNABLE",
    )
    assert scalp.rows[2].cells == ()  # the blank row keeps the numbering
    assert scalp.records()[2]["KEY"] == "max_loss_pct"
    # The same rows through the CSV path of the loader give the same parameters.
    export = tmp_path / "Config_Scalp.csv"
    with export.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(scalp.csv_rows())
    csv_problems: list[Problem] = []
    via_csv = read_strategy_sheet(export, csv_problems)
    problems: list[Problem] = []
    via_sheet = strategy_params(scalp, problems)
    assert via_sheet == via_csv
    assert via_sheet == (
        "scalp_reversion",
        {"rsi_oversold": 30, "bb_k": 2.5, "max_loss_pct": 0.02, "max_positions": 3},
    )
    assert [(p.source, p.key) for p in problems] == [
        ("Config_Scalp!row 7", "kill_switch"),
        ("Config_Scalp!row 8", "KEY"),
    ]
    assert [p.key for p in csv_problems] == [p.key for p in problems]
    assert strategy_params(sheets["Config_Swing"], []) == (
        "swing_breakout",
        {"breakout_window": 20},
    )


def test_a_renamed_config_header_is_refused_before_any_row_is_used(
    laid_out: SheetsClient, fake: FakeSheetsServer
) -> None:
    fake.set_values(laid_out.key, "Config_Scalp!D1", [["VAL"]])
    with pytest.raises(
        SchemaMismatchError,
        match="Config_Scalp!D1: expected header 'VALUE', found 'VAL' \\(renamed\\)",
    ):
        read_strategy_sheets(laid_out)
    # only the sheet asked for is checked
    assert list(read_strategy_sheets(laid_out, ["Config_Swing"])) == ["Config_Swing"]


def test_a_missing_config_sheet_is_refused(client: SheetsClient) -> None:
    with pytest.raises(SchemaMismatchError, match="sheet 'Config_Scalp' is missing"):
        read_strategy_sheets(client, ["Config_Scalp"])
    with pytest.raises(ValueError, match="not a strategy sheet"):
        read_strategy_sheets(client, ["Position"])
