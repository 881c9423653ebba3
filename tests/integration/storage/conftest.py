"""Fixtures for the storage tests.

``store_factory`` (and ``store``, ``trader`` on top of it) runs a test once per adapter in
storage_helpers.STORE_KINDS; the ``sqlite_*`` fixtures are for SQLite-only tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from storage_helpers import STORE_KINDS, StoreFactory, Trader

from qts.data import SqliteStore, TradingStore


@pytest.fixture(params=STORE_KINDS, ids=lambda kind: kind.name)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    factory = StoreFactory(request.param, tmp_path)
    yield factory
    factory.close_all()


@pytest.fixture
def store(store_factory: StoreFactory) -> TradingStore:
    return store_factory()


@pytest.fixture
def trader(store: TradingStore) -> Trader:
    return Trader(store)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "qts.sqlite"


@pytest.fixture
def sqlite_store(db_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(db_path)
    yield s
    s.close()


@pytest.fixture
def sqlite_trader(sqlite_store: SqliteStore) -> Trader:
    return Trader(sqlite_store)
