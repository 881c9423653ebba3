"""``qts db migrate-from-sheets``: the history kept in a Google spreadsheet (the local Sheets API
fake, over real HTTP) is copied into PostgreSQL; the copy compares clean, and a second run copies
nothing new."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_helpers import PG_DSN, drop_schema
from storage_helpers import T0, Trader

from qts.data import RunMeta
from qts.data.postgres import PostgresStore
from qts.data.sheets.fake.testing import client_for, shared_fake
from qts.data.sheets.store import SheetsStore
from qts.model import OrderSide


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"qts_mig_{uuid.uuid4().hex[:8]}"
    yield name
    drop_schema(name)


def qts(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qts", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )


def test_history_moves_from_sheets_to_postgres(schema: str, tmp_path: Path) -> None:
    fake, key_file = shared_fake()
    key = f"qts-migrate-{uuid.uuid4().hex[:12]}"
    fake.create_spreadsheet(key, title="QTS migration")
    sheets = SheetsStore(client_for(fake, key_file, key), close_client=True)
    sheets.init_run(RunMeta("sheets-run", "paper", 100_000_000, T0, 7))
    trader = Trader(sheets)
    for symbol, price in (("005930", 70_000), ("000660", 180_000)):
        order = trader.new_order(symbol, OrderSide.BUY, 10)
        trader.submit(order)
        trader.fill(order, 4, price)
        trader.fill(order, 6, price + 100)
    sell = trader.new_order("005930", OrderSide.SELL, 5)
    trader.submit(sell)
    trader.fill(sell, 5, 71_000)
    sheets.close()

    env = {
        "GOOGLE_SHEET_KEY": key,
        "GOOGLE_CREDENTIALS_FILE": str(key_file),
        "QTS_SHEETS_API_BASE": fake.base_url,
    }
    args = ("db", "migrate-from-sheets", "--dsn", PG_DSN, "--schema", schema)
    first = qts(env, *args)
    assert first.returncode == 0, first.stderr
    assert "0 difference(s)" in first.stdout and "copied 0 row(s)" not in first.stdout
    again = qts(env, *args)
    assert again.returncode == 0, again.stderr
    assert "copied 0 row(s); 0 difference(s)" in again.stdout

    store = PostgresStore(PG_DSN, schema=schema, migrate=False)
    try:
        assert store.load_ledger() == trader.account.ledger.entries
        assert store.load_fills() == trader.fills
        assert store.load_positions() == trader.account.positions
    finally:
        store.close()
    for text in (first.stdout, first.stderr):
        assert "BEGIN PRIVATE KEY" not in text


def test_unconfigured_sheets_are_refused_in_one_line(schema: str) -> None:
    env = {"GOOGLE_SHEET_KEY": "", "GOOGLE_CREDENTIALS_FILE": ""}
    proc = qts(env, "db", "migrate-from-sheets", "--dsn", PG_DSN, "--schema", schema)
    assert proc.returncode == 1
    assert "GOOGLE_SHEET_KEY" in proc.stderr and "Traceback" not in proc.stderr
