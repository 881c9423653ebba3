"""Migration (``qts db migrate-from-sheets``): copies everything, is idempotent, finishes what an
interrupted run started, refuses contradictions, and lands in a real PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from hybrid_helpers import FlakyStore, Link, burst
from pg_helpers import PG_DSN, SCHEMAS
from storage_helpers import META, T0, Trader, assert_store_matches, trade_some

from qts.core.errors import StorageError
from qts.data import AccountState, DecisionRecord, MemoryStore, SqliteStore, TradingStore
from qts.data.hybrid import (
    MigrationConflict,
    MigrationProgress,
    compare_stores,
    migrate,
)
from qts.data.ports import SafetyEventRecord
from qts.data.postgres import PostgresStore

KEYS = ["checkpoint", "failsafe", "never-written"]


def history(store: TradingStore) -> Trader:
    """A run's worth of everything the port stores."""
    store.init_run(META)
    trader = Trader(store)
    trade_some(trader)
    burst(trader, 12)
    pos = trader.account.positions["005930"]
    pos.mark(80_000)
    store.save_positions([pos])
    trader.account.settle(date(2024, 1, 3))
    store.save_account(AccountState(trader.account.cash, trader.account.pending))
    store.save_state("checkpoint", {"cycle": "c11", "done": ["Q1"]})
    store.save_state("failsafe", {"state": "NORMAL"})
    return trader


def test_migrate_copies_everything_and_a_second_run_copies_nothing(tmp_path: Path) -> None:
    source = SqliteStore(tmp_path / "sheets.sqlite")
    trader = history(source)
    dest = MemoryStore()
    seen: list[MigrationProgress] = []
    report = migrate(source, dest, state_keys=KEYS, progress=seen.append, batch_size=7)
    assert compare_stores(source, dest, state_keys=KEYS).differences == []
    assert_store_matches(dest, trader)
    assert report.copied["fills"] == len(trader.fills) == report.seen["fills"]
    assert report.copied["orders"] == len(trader.orders)
    assert report.copied["decisions"] == 12 and report.copied["state"] == 2
    assert report.copied["run_meta"] == 1
    assert report.copied["account"] == 0  # the fills already carried the final account
    # progress: per committed batch, counting up to each table's total
    fills = [p for p in seen if p.table == "fills"]
    assert [p.done for p in fills] == sorted(p.done for p in fills)
    assert len(fills) == -(-len(trader.fills) // 7)
    assert fills[-1].done == fills[-1].total == fills[-1].copied == len(trader.fills)
    assert {p.table for p in seen} >= {"orders", "fills", "positions", "decisions", "state"}

    again = migrate(source, dest, state_keys=KEYS)
    assert again.total_copied == 0
    assert again.seen == report.seen
    assert compare_stores(source, dest, state_keys=KEYS).differences == []


def test_a_second_run_copies_only_what_changed_since(tmp_path: Path) -> None:
    source = SqliteStore(tmp_path / "sheets.sqlite")
    trader = history(source)
    dest = SqliteStore(tmp_path / "db.sqlite")
    migrate(source, dest, state_keys=KEYS)
    open_order = next(o for o in trader.orders.values() if o.status.is_open or o.remaining)
    burst(trader, 2)  # 2 new round trips: orders, fills, a decision and an equity point each
    source.save_state("checkpoint", {"cycle": "next"})
    report = migrate(source, dest, state_keys=KEYS)
    assert report.copied["decisions"] == 2 and report.copied["equity"] == 2
    assert report.copied["fills"] == 4 and report.copied["state"] == 1
    assert report.copied["safety_events"] == 0
    assert compare_stores(source, dest, state_keys=KEYS).differences == []
    assert dest.get_order(open_order.client_order_id) == source.get_order(
        open_order.client_order_id
    )


def test_an_interrupted_migration_is_finished_by_the_next_run(tmp_path: Path) -> None:
    source = SqliteStore(tmp_path / "sheets.sqlite")
    trader = history(source)
    link = Link("db")
    dest = FlakyStore(SqliteStore(tmp_path / "db.sqlite"), link)
    link.fail_after_writes = 4  # the database goes away after four committed batches
    with pytest.raises(StorageError, match="connection lost"):
        migrate(source, dest, state_keys=KEYS, batch_size=5)  # type: ignore[arg-type]
    link.down = False
    report = migrate(source, dest, state_keys=KEYS, batch_size=5)  # type: ignore[arg-type]
    assert report.total_copied > 0
    assert compare_stores(source, dest.inner, state_keys=KEYS).differences == []
    assert_store_matches(dest.inner, trader)
    assert len(dest.inner.load_decisions()) == 12


def test_contradictions_are_refused_before_anything_of_the_table_is_written() -> None:
    source = MemoryStore()
    history(source)

    other_run = MemoryStore()
    other_run.init_run(dataclasses.replace(META, run_id="run-2"))
    with pytest.raises(MigrationConflict, match="run_meta"):
        migrate(source, other_run)

    extra_decision = MemoryStore()
    extra_decision.record_decisions([DecisionRecord(T0, "x", "005930", "BUY")])
    with pytest.raises(MigrationConflict, match="decisions"):
        migrate(source, extra_decision)
    assert extra_decision.load_decisions() == [DecisionRecord(T0, "x", "005930", "BUY")]

    extra_event = MemoryStore()
    extra_event.record_safety_event(SafetyEventRecord(T0, "r", "FS1", "m", "A", "B"))
    with pytest.raises(MigrationConflict, match="safety_events"):
        migrate(source, extra_event)

    longer = MemoryStore()
    longer_trader = history(longer)
    burst(longer_trader, 1)
    with pytest.raises(MigrationConflict, match="ledger seqs only in the destination"):
        migrate(source, longer)

    diverged = MemoryStore()
    trader = Trader(diverged)
    trader.now = lambda: T0 + timedelta(days=9)  # type: ignore[method-assign]
    trade_some(trader)
    before = diverged.load_orders()
    with pytest.raises(MigrationConflict, match="name different orders"):
        migrate(source, diverged)
    assert diverged.load_orders() == before


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[PostgresStore]:
    with SCHEMAS.scratch() as schema:
        store = PostgresStore(PG_DSN, schema=schema, min_size=1, max_size=2)
        yield store
        store.close()


def test_migrating_into_postgresql_copies_everything_once(
    tmp_path: Path, pg: PostgresStore
) -> None:
    source = SqliteStore(tmp_path / "sheets.sqlite")
    trader = history(source)
    report = migrate(source, pg, state_keys=KEYS, batch_size=50)
    assert report.total_copied > 0
    assert compare_stores(source, pg, state_keys=KEYS).differences == []
    assert_store_matches(pg, trader)
    assert migrate(source, pg, state_keys=KEYS).total_copied == 0
