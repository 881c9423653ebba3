"""The fake speaks Sheets API v4 as gspread 6.2.1 uses it: unchanged gspread against it, Google's
cell semantics (strings back, trimmed rows, quoted ranges), errors, auth."""

from __future__ import annotations

from pathlib import Path

import gspread
import pytest
import requests
from google.oauth2 import service_account
from gspread.utils import ValueInputOption

from qts.data.sheets.cells import parse_int
from qts.data.sheets.client import (
    SCOPES,
    SheetsAuthError,
    SheetsClient,
    SheetsError,
    SheetsPermissionError,
    routed_http_client,
)
from qts.data.sheets.fake import FakeSheetsServer


@pytest.fixture
def gc(fake: FakeSheetsServer, key_file: Path) -> gspread.Client:
    """Plain gspread, authorised by the service-account flow, its host pointed at the fake."""
    creds = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(key_file), scopes=list(SCOPES)
    )
    return gspread.Client(creds, http_client=routed_http_client(fake.base_url))


def test_unchanged_gspread_reads_and_writes_through_the_fake(
    gc: gspread.Client, fake: FakeSheetsServer, sheet_key: str
) -> None:
    sh = gc.open_by_key(sheet_key)
    assert sh.title == "QTS test"
    ws = sh.sheet1
    ws.update([["name", "qty"], ["samsung", 10]], "A1")
    ws.append_rows([["hynix", "1,000"]], value_input_option=ValueInputOption.user_entered)
    assert ws.get_all_values() == [["name", "qty"], ["samsung", "10"], ["hynix", "1,000"]]
    assert ws.get_all_records() == [{"name": "samsung", "qty": 10}, {"name": "hynix", "qty": 1000}]
    assert ws.batch_get(["A1:B1", "B3"]) == [[["name", "qty"]], [["1,000"]]]
    ws.batch_update([{"range": "C1:C2", "values": [["note"], ["x"]]}])
    assert ws.row_values(1) == ["name", "qty", "note"]
    added = sh.add_worksheet("Position", rows=10, cols=5)
    assert [w.title for w in sh.worksheets()] == ["Sheet1", "Position"]
    assert (added.row_count, added.col_count) == (10, 5)
    ws.clear()
    assert ws.get_all_values() == [[]]  # gspread spells an empty answer so
    assert fake.stats.writes == 5
    with pytest.raises(gspread.exceptions.SpreadsheetNotFound):
        gc.open_by_key("no-such-key")


def test_cells_keep_googles_string_semantics(client: SheetsClient) -> None:
    client.batch_update([("Sheet1!A1", [[1234567, "00593", 2.5, True, 2**60]])])
    client.batch_update(
        [("Sheet1!A2", [["1,234,567", "12.5%", "2024-01-02", "'007", "=1+1"]])], user_entered=True
    )
    formatted = client.batch_get(["Sheet1!A1:E2"])[0]
    assert formatted == [
        ["1234567", "00593", "2.5", "TRUE", "1.15292E+18"],
        ["1,234,567", "12.5%", "2024-01-02", "007", "=1+1"],
    ]
    # the adapter gets the exact integer back from either spelling
    assert parse_int(formatted[0][0]) == parse_int(formatted[1][0]) == 1_234_567
    with pytest.raises(ValueError, match="whole number"):
        parse_int(formatted[0][2])
    raw = client.batch_get(["Sheet1!A1:D2"], render="UNFORMATTED_VALUE")[0]
    assert raw == [[1234567, "00593", 2.5, True], [1234567, 0.125, 45293, "007"]]


def test_reads_trim_trailing_blanks_and_empty_ranges_have_no_values(
    client: SheetsClient, fake: FakeSheetsServer, sheet_key: str
) -> None:
    client.batch_update([("Sheet1!A1", [["a", "", "c", ""], ["", ""], ["x"]])])
    client.batch_update([("Sheet1!A3", [[None, "y"]])])  # null leaves A3 alone
    assert client.batch_get(["Sheet1!A1:Z10", "Sheet1!F1:G5"]) == [
        [["a", "", "c"], [], ["x", "y"]],
        [],
    ]
    client.batch_update([("Sheet1!A3:B3", [["", ""]])])  # "" clears
    assert client.batch_get(["Sheet1"]) == [[["a", "", "c"]]]
    answer = requests.get(
        f"{fake.base_url}/v4/spreadsheets/{sheet_key}/values/%27Sheet1%27%21F1%3AG5",
        headers={"Authorization": f"Bearer {fake.issue_token()}"},
        timeout=5,
    ).json()
    assert answer == {"range": "Sheet1!F1:G5", "majorDimension": "ROWS"}  # no "values" key


def test_ranges_come_back_with_sheet_names_quoted_as_google_quotes_them(
    client: SheetsClient,
) -> None:
    client.add_sheets([("My Sheet", 10, 5), ("It's", 10, 5), ("_QTS_Orders", 10, 5)])
    result = client.batch_update(
        [("'My Sheet'!A1", [["x"]]), ("'It''s'!B2", [["y"]]), ("_QTS_Orders!A1", [["z"]])]
    )
    assert [r["updatedRange"] for r in result["responses"]] == [
        "'My Sheet'!A1",
        "'It''s'!B2",
        "_QTS_Orders!A1",
    ]
    assert client.batch_get(["'It''s'!A1:C3"]) == [[[], ["", "y"]]]


def test_a_batch_update_with_one_bad_range_applies_nothing(
    client: SheetsClient, fake: FakeSheetsServer
) -> None:
    with pytest.raises(SheetsError, match="HTTP 400: Unable to parse range"):
        client.batch_update([("Sheet1!A1", [["kept?"]]), ("Nope!A1", [["x"]])])
    with pytest.raises(SheetsError, match="exceeds grid limits"):
        client.batch_update([("Sheet1!A1", [["kept?"]]), ("Sheet1!A1001", [["x"]])])
    assert client.batch_get(["Sheet1"]) == [[]]
    assert fake.stats.writes == 0
    assert client.stats.retries == 0  # a 400 is not retried


def test_metadata_honours_the_field_mask(client: SheetsClient, fake: FakeSheetsServer) -> None:
    meta = client.metadata()
    assert meta.title == "QTS test"
    assert [(s.title, s.rows, s.cols) for s in meta.sheets] == [("Sheet1", 1000, 26)]
    answer = requests.get(
        f"{fake.base_url}/v4/spreadsheets/{client.key}",
        params={"fields": "sheets(properties(title))"},
        headers={"Authorization": f"Bearer {fake.issue_token()}"},
        timeout=5,
    ).json()
    assert answer == {"sheets": [{"properties": {"title": "Sheet1"}}]}


def test_requests_need_a_valid_bearer_token(fake: FakeSheetsServer, sheet_key: str) -> None:
    url = f"{fake.base_url}/v4/spreadsheets/{sheet_key}"
    for headers in ({}, {"Authorization": "Bearer not-issued"}):
        answer = requests.get(url, headers=headers, timeout=5)
        assert answer.status_code == 401
        assert answer.json()["error"]["status"] == "UNAUTHENTICATED"


def test_a_key_the_token_endpoint_does_not_know_is_refused_without_leaking_it(
    fake: FakeSheetsServer, sheet_key: str, tmp_path: Path
) -> None:
    other = FakeSheetsServer().start()  # a key registered elsewhere: its signature is unknown here
    try:
        from qts.data.sheets.fake import service_account_info

        info = service_account_info(other, email="stranger@qts-test.iam.gserviceaccount.com")
    finally:
        other.stop()
    info["token_uri"] = fake.token_url
    path = tmp_path / "stranger.json"
    path.write_text(__import__("json").dumps(info))
    client = SheetsClient.from_service_account_file(path, sheet_key, api_base=fake.base_url)
    with pytest.raises(SheetsAuthError, match="token was refused") as err:
        client.metadata()
    text = str(err.value)
    assert "PRIVATE KEY" not in text and info["private_key"][40:80] not in text
    client.close()


def test_a_spreadsheet_not_shared_with_the_account_answers_403(
    fake: FakeSheetsServer, connect: object
) -> None:
    key = fake.create_spreadsheet(editors={"someone-else@example.com"})
    client = connect(key=key)  # type: ignore[operator]
    with pytest.raises(SheetsPermissionError, match="share the spreadsheet"):
        client.metadata()


def test_only_loopback_hosts_may_stand_in_for_google(key_file: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        SheetsClient.from_service_account_file(key_file, "k", api_base="http://10.0.0.1:80")
    with pytest.raises(ValueError, match="loopback"):
        routed_http_client("https://sheets.example.com")
