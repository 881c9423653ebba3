"""Backups: backup → corrupt the live books → restore → the very same ledger (SQLite through the
CLI, PostgreSQL through pg_dump/pg_restore); retention; restore refused while a run writes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from qts.app.paper import run_paper
from qts.brokers.kis.orderstore import OrderRecord, OrderStore
from qts.config.loader import load_config
from qts.config.ops import DashboardSection
from qts.core.errors import StorageError
from qts.core.time import KST
from qts.data.postgres import PostgresStore
from qts.data.writer_lock import WriterLock
from qts.model.enums import OrderSide, OrderType
from qts.ops.backup import backup_postgres, backup_sqlite, list_backups, prune, restore_postgres

DSN = os.environ.get("QTS_TEST_PG_DSN") or "postgresql://postgres@127.0.0.1:5432/test"


def qts(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qts", *args], capture_output=True, text=True, check=False
    )


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def day_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("bk") / "books.sqlite"
    cfg = load_config(None, []).config
    run_paper(cfg, db, None, timedelta(hours=5)).engine.close()
    return db


def test_backup_corrupt_restore_gives_the_same_ledger(tmp_path: Path, day_db: Path) -> None:
    db = tmp_path / "live.sqlite"
    db.write_bytes(day_db.read_bytes())
    Path(f"{db}.venue").write_bytes(Path(f"{day_db}.venue").read_bytes())
    before = qts("ledger", "--db", str(db), "--format", "json")
    assert before.returncode == 0 and before.stdout.count("fill_id") > 2, before.stderr
    made = qts("backup", "create", "--db", str(db))
    assert made.returncode == 0, made.stderr
    listed = qts("backup", "list", "--db", str(db))
    assert "sqlite" in listed.stdout and "ledger rows" in listed.stdout
    venue_before = dump(Path(f"{db}.venue"))
    # corrupt the live books: garbage over the middle of the file, and the venue journal gone
    data = bytearray(db.read_bytes())
    data[4096:12288] = os.urandom(8192)
    db.write_bytes(bytes(data[: len(data) // 2]))
    Path(f"{db}.venue").unlink()
    broken = qts("ledger", "--db", str(db), "--format", "json")
    assert broken.returncode != 0 or broken.stdout != before.stdout
    restored = qts("backup", "restore", "--db", str(db))
    assert restored.returncode == 0, restored.stderr
    after = qts("ledger", "--db", str(db), "--format", "json")
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout
    assert dump(Path(f"{db}.venue")) == venue_before  # the venue's orders came back too


def test_a_live_adapters_order_map_is_backed_up_and_restored(tmp_path: Path, day_db: Path) -> None:
    """Books restored without the adapter's map (client ids <-> the broker's order numbers) could
    not match the broker's orders to their own: the map travels with them."""
    db = tmp_path / "live.sqlite"
    db.write_bytes(day_db.read_bytes())
    orders = OrderStore(Path(f"{db}.orders"))
    sent = datetime(2026, 12, 7, 9, 1, tzinfo=KST)
    record = OrderRecord("c-1", "005930", OrderSide.BUY, OrderType.LIMIT, 10, 70_000, sent,
                         sent.date(), "06010", "0000117057")  # fmt: skip
    orders.save(record)
    orders.close()
    made = qts("backup", "create", "--db", str(db), "--dir", str(tmp_path / "b"))
    assert made.returncode == 0, made.stderr
    later = OrderStore(Path(f"{db}.orders"))
    later.save(replace(record, client_order_id="c-2", odno="0000117058"))
    later.close()
    restored = qts("backup", "restore", "--db", str(db), "--dir", str(tmp_path / "b"))
    assert restored.returncode == 0, restored.stderr
    again = OrderStore(Path(f"{db}.orders"))
    try:
        assert set(again.orders) == {"c-1"} and again.orders["c-1"].odno == "0000117057"
    finally:
        again.close()


def test_a_tampered_backup_or_a_running_writer_refuses_restore(
    tmp_path: Path, day_db: Path
) -> None:
    db = tmp_path / "live.sqlite"
    db.write_bytes(day_db.read_bytes())
    backup = backup_sqlite(db, tmp_path / "b")
    with WriterLock(db):
        r = qts("backup", "restore", "--db", str(db), "--dir", str(tmp_path / "b"))
        assert r.returncode != 0 and "pid" in r.stderr, r.stderr
    with (backup.path / "books.sqlite").open("r+b") as f:
        f.seek(100)
        f.write(b"x")
    r = qts("backup", "restore", "--db", str(db), "--dir", str(tmp_path / "b"))
    assert r.returncode != 0 and "checksum" in r.stderr


def test_retention_keeps_the_newest(tmp_path: Path, day_db: Path) -> None:
    folder = tmp_path / "b"
    made = [backup_sqlite(day_db, folder).path for _ in range(4)]
    deleted = prune(folder, 2)
    assert deleted == made[:2]
    assert [b.path for b in list_backups(folder)] == made[2:]


@pytest.fixture
def pg_schema() -> Iterator[str]:
    name = f"qts_bk_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_postgres_dump_and_restore(tmp_path: Path, pg_schema: str) -> None:
    cfg = load_config(None, []).config
    data = cfg.data.model_copy(update={"backend": "postgres", "dsn": DSN, "pg_schema": pg_schema})
    cfg = cfg.model_copy(update={"data": data, "dashboard": DashboardSection(enabled=False)})
    run_paper(cfg, tmp_path / "pg.sqlite", None, timedelta(hours=5)).engine.close()
    store = PostgresStore(DSN, schema=pg_schema, migrate=False)
    try:
        ledger = store.load_ledger()
        positions = store.load_positions()
    finally:
        store.close()
    assert len(ledger) > 2
    backup = backup_postgres(DSN, pg_schema, tmp_path / "pgb")
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE {}.t_ledger CASCADE").format(sql.Identifier(pg_schema)))
    restore_postgres(backup, DSN)
    store = PostgresStore(DSN, schema=pg_schema, migrate=False)
    try:
        assert store.load_ledger() == ledger
        assert store.load_positions() == positions
    finally:
        store.close()
    with pytest.raises(StorageError, match="pg_dump"):
        backup_postgres("postgresql://postgres@127.0.0.1:1/none", pg_schema, tmp_path / "x")


def test_qts_run_takes_scheduled_backups_with_retention(tmp_path: Path) -> None:
    import time

    from qts.app.operator import OperatorSurface
    from qts.config.ops import BackupSection

    cfg = load_config(None, []).config
    folder = tmp_path / "scheduled"
    cfg = cfg.model_copy(
        update={
            "dashboard": DashboardSection(enabled=False),
            "backup": BackupSection(dir=str(folder), interval_min=0.005, keep=2),
        }
    )
    surface = OperatorSurface(cfg, echo=lambda _m: None)
    db = tmp_path / "run.sqlite"
    result = run_paper(cfg, db, None, timedelta(hours=2), on_ready=surface.attach)
    try:
        deadline = time.monotonic() + 30
        while len(list_backups(folder)) < 2:
            assert time.monotonic() < deadline, "no scheduled backups"
            time.sleep(0.1)
    finally:
        surface.close()
        result.engine.close()
    backups = list_backups(folder)
    assert 1 <= len(backups) <= 2  # retention keeps the newest two
    assert all(b.kind == "sqlite" and b.manifest["ledger_rows"] is not None for b in backups)
