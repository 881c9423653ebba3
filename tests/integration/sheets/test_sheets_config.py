"""Config_Scalp / Config_Swing from the spreadsheet feed the same rows as their CSV exports."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qts.config.loader import Problem, SheetConfig, load_config, read_strategy_sheet
from qts.data.sheets.bootstrap import bootstrap_spreadsheet
from qts.data.sheets.client import SheetsClient
from qts.data.sheets.config import read_strategy_sheets, sheet_values, spreadsheet_configs
from qts.data.sheets.fake import FakeSheetsServer
from qts.data.sheets.guard import SchemaMismatchError

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
    via_sheet = sheet_values(scalp, problems)
    assert via_sheet == via_csv
    assert via_sheet == SheetConfig(
        "scalp_reversion",
        {"rsi_oversold": 30, "bb_k": 2.5, "max_loss_pct": 0.02, "max_positions": 3},
    )
    assert [(p.source, p.key) for p in problems] == [
        ("Config_Scalp!row 7", "kill_switch"),
        ("Config_Scalp!row 8", "KEY"),
    ]
    assert [p.key for p in csv_problems] == [p.key for p in problems]
    assert sheet_values(sheets["Config_Swing"], []) == SheetConfig(
        "swing_breakout", {"breakout_window": 20}
    )


def test_the_strategy_sheets_set_the_universe(
    laid_out: SheetsClient, fake: FakeSheetsServer, tmp_path: Path
) -> None:
    """A ``universe.symbols`` row (codes separated by commas or spaces) in Config_Scalp and
    Config_Swing: the run trades the codes of both; Config_Local's universe.symbols wins."""
    fake.set_values(
        laid_out.key,
        "Config_Scalp!A10",
        [["UNIVERSE", "", "universe.symbols", "005930, 000660", "what it trades", "STABLE"]],
        user_entered=True,
    )
    fake.set_values(
        laid_out.key,
        "Config_Swing!A3",
        [["UNIVERSE", "", "universe.symbols", "000660 035420", "", ""]],
        user_entered=True,
    )
    problems: list[Problem] = []
    read = spreadsheet_configs(laid_out, problems)
    assert [p.key for p in problems] == ["kill_switch", "KEY"]  # the laid-out rows' own
    assert [(source, c.symbols) for source, c in read] == [
        ("spreadsheet Config_Scalp", ["005930", "000660"]),
        ("spreadsheet Config_Swing", ["000660", "035420"]),
    ]
    loaded = load_config(None, [], {}, read_sheets=read)
    assert loaded.problems == []
    assert loaded.config.universe.symbols == ["005930", "000660", "035420"]
    assert loaded.config.strategies["swing_breakout"].params["breakout_window"] == 20
    assert loaded.origin["universe.symbols"] == (
        "spreadsheet Config_Scalp + spreadsheet Config_Swing"
    )

    local = tmp_path / "qts.yaml"
    local.write_text("universe:\n  symbols: ['069500']\n")
    assert load_config(local, [], {}, read_sheets=read).config.universe.symbols == ["069500"]

    # a bad code is named with the sheet that gave it
    fake.set_values(
        laid_out.key,
        "Config_Swing!A3",
        [["UNIVERSE", "", "universe.symbols", "A05930", "", ""]],
        user_entered=True,
    )
    bad = load_config(None, [], {}, read_sheets=spreadsheet_configs(laid_out, []))
    assert [(p.key, "A05930" in p.reason) for p in bad.problems] == [("universe.symbols", True)]
    assert "spreadsheet Config_Swing" in bad.problems[0].source


def test_a_sheets_csv_export_sets_the_universe_too(tmp_path: Path) -> None:
    export = tmp_path / "Config_Swing.csv"
    export.write_text(
        "CATEGORY,SUB_CATEGORY,KEY,VALUE,DESCRIPTION,TAG\n"
        'UNIVERSE,,universe.symbols,"005930,000660",,\n'
        "FILTER,TREND,breakout_window,20,days,STABLE\n",
        encoding="utf-8",
    )
    loaded = load_config(None, [export], {})
    assert loaded.problems == []
    assert loaded.config.universe.symbols == ["005930", "000660"]
    assert loaded.origin["universe.symbols"] == str(export)


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


def test_qts_config_check_reads_the_universe_from_the_spreadsheet(
    client: SheetsClient, fake: FakeSheetsServer, key_file: Path, tmp_path: Path
) -> None:
    """``--config-sheets``: the spreadsheet of GOOGLE_SHEET_KEY, as ``qts run`` reads it."""
    bootstrap_spreadsheet(client)
    fake.set_values(
        client.key,
        "Config_Swing!A2",
        [
            ["FILTER", "TREND", "breakout_window", "20", "days", "STABLE"],
            ["UNIVERSE", "", "universe.symbols", "005930, 000660", "", ""],
        ],
        user_entered=True,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOOGLE_")}
    env |= {
        "GOOGLE_SHEET_KEY": client.key,
        "GOOGLE_CREDENTIALS_FILE": str(key_file),
        "QTS_SHEETS_API_BASE": fake.base_url,
    }
    cmd = [sys.executable, "-m", "qts", "config", "check"]
    out = subprocess.run(
        [*cmd, "--config-sheets"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "spreadsheet Config_Swing" in out.stdout
    assert "universe: 005930, 000660 (spreadsheet Config_Swing)" in out.stdout
    plain = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
    assert plain.returncode == 0 and "universe:" not in plain.stdout  # not asked: not read
