"""Fixtures: a Sheets API fake on an ephemeral loopback port, a service-account key for it,
spreadsheets, clients and stores. Quotas are off unless a test sets them (``fake_options``);
the fake's loop runs in a background thread and tests never sleep."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sheets_kit import FAST

from qts.data.sheets.client import SheetsClient
from qts.data.sheets.fake import FakeSheetsOptions, FakeSheetsServer, write_service_account_file
from qts.data.sheets.store import SheetsStore


@pytest.fixture
def fake_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Per-test options: ``parametrize("fake_options", [{...}], indirect=True)``."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def fake(fake_options: dict[str, Any]) -> Iterator[FakeSheetsServer]:
    values: dict[str, Any] = {"read_quota": None, "write_quota": None}
    values.update(fake_options)
    server = FakeSheetsServer(FakeSheetsOptions(**values)).start()
    yield server
    server.stop()


@pytest.fixture
def key_file(fake: FakeSheetsServer, tmp_path: Path) -> Path:
    return write_service_account_file(fake, tmp_path / "service-account.json")


@pytest.fixture
def sheet_key(fake: FakeSheetsServer) -> str:
    """An empty spreadsheet (one blank sheet), as Google creates it."""
    return fake.create_spreadsheet(title="QTS test")


@pytest.fixture
def connect(
    fake: FakeSheetsServer, key_file: Path, sheet_key: str
) -> Iterator[Callable[..., SheetsClient]]:
    made: list[SheetsClient] = []

    def make(**overrides: Any) -> SheetsClient:
        options: dict[str, Any] = {
            "api_base": fake.base_url,
            "retry": FAST,
            "reads_per_minute": None,
            "writes_per_minute": None,
        }
        options.update(overrides)
        key = options.pop("key", sheet_key)
        client = SheetsClient.from_service_account_file(key_file, key, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(connect: Callable[..., SheetsClient]) -> SheetsClient:
    return connect()


@pytest.fixture
def open_store(connect: Callable[..., SheetsClient]) -> Iterator[Callable[..., SheetsStore]]:
    made: list[SheetsStore] = []

    def make(client: SheetsClient | None = None, **options: Any) -> SheetsStore:
        store = SheetsStore(client or connect(), **options)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()
