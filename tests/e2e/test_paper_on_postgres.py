"""The same seeded paper day with its books in PostgreSQL ends with the ledger the SQLite run has:
the store is a configuration choice, not a different engine."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cli_run import run_qts as qts
from psycopg import sql

from qts.data.postgres import PostgresStore
from qts.data.sqlite import SqliteStore

DSN = os.environ.get("QTS_TEST_PG_DSN") or "postgresql://postgres@127.0.0.1:5432/test"
RUN = ["run", "--seed", "7", "--speed", "max", "--for", "1d"]


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"qts_e2e_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_postgres_books_equal_sqlite_books(tmp_path: Path, schema: str) -> None:
    config = tmp_path / "qts.yaml"
    config.write_text(f"data:\n  backend: postgres\n  dsn: {DSN}\n  pg_schema: {schema}\n")
    on_pg = qts(*RUN, "--config", str(config), "--db", str(tmp_path / "pg.sqlite"))
    assert on_pg.returncode == 0, on_pg.stderr
    on_sqlite = qts(*RUN, "--db", str(tmp_path / "lite.sqlite"))
    assert on_sqlite.returncode == 0, on_sqlite.stderr
    pg = PostgresStore(DSN, schema=schema, migrate=False)
    lite = SqliteStore(tmp_path / "lite.sqlite")
    try:
        ledger = lite.load_ledger()
        assert len(ledger) > 20
        assert pg.load_ledger() == ledger
        assert pg.load_account() == lite.load_account()
        assert pg.load_positions() == lite.load_positions()
        assert [o.client_order_id for o in pg.load_orders()] == [
            o.client_order_id for o in lite.load_orders()
        ]
    finally:
        pg.close()
        lite.close()
