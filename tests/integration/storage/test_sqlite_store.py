"""What only SqliteStore has: a file, its schema and migrations, pragmas, SQL-level guards, other
connections, reopening, zones on reopen, and thread ownership of the connection.

The port's semantics are in test_store_contract.py, which runs against SQLite too.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from storage_helpers import META, T0, Trader, assert_store_matches, trade_some

from qts.core.errors import StorageError
from qts.core.time import KST
from qts.data import DecisionRecord, EquityPoint, SqliteStore
from qts.data.sqlite import SCHEMA_VERSION

# ---------------------------------------------------------------- opening and schema


def test_a_new_store_is_at_the_current_schema(sqlite_store: SqliteStore) -> None:
    assert sqlite_store.schema_version() == SCHEMA_VERSION


def test_opening_twice_applies_migrations_once(db_path: Path) -> None:
    SqliteStore(db_path).close()
    with SqliteStore(db_path) as again:
        assert again.schema_version() == SCHEMA_VERSION
    with closing(sqlite3.connect(db_path)) as raw, raw:
        versions = [v for (v,) in raw.execute("SELECT version FROM schema_version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_a_file_from_a_newer_schema_is_refused(db_path: Path) -> None:
    SqliteStore(db_path).close()
    with closing(sqlite3.connect(db_path)) as raw, raw:
        raw.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StorageError, match="newer"):
        SqliteStore(db_path)


def test_a_path_that_cannot_be_opened_raises_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="missing-dir"):
        SqliteStore(tmp_path / "missing-dir" / "qts.sqlite")


@pytest.mark.parametrize(("durable", "level"), [(True, 2), (False, 0)])
def test_durable_flag_sets_synchronous(db_path: Path, durable: bool, level: int) -> None:
    with SqliteStore(db_path, durable=durable) as s:
        # The pragma is the whole contract of the flag, so the test looks at the connection.
        assert s._conn.execute("PRAGMA synchronous").fetchone()[0] == level
        assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_memory_database_works() -> None:
    with SqliteStore(":memory:", durable=False) as s:
        trade_some(Trader(s))
        assert len(s.load_ledger()) == 3


# ---------------------------------------------------------------- guards in the database


def test_the_ledger_is_append_only_in_the_database(sqlite_trader: Trader, db_path: Path) -> None:
    trade_some(sqlite_trader)
    with closing(sqlite3.connect(db_path)) as raw, raw:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("UPDATE t_ledger SET net_amount = 0")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("DELETE FROM t_ledger")


def test_money_columns_are_strict_in_the_database(sqlite_store: SqliteStore, db_path: Path) -> None:
    with (
        closing(sqlite3.connect(db_path)) as raw,
        raw,
        pytest.raises(sqlite3.IntegrityError, match="REAL"),
    ):
        raw.execute("INSERT INTO account (id, cash) VALUES (1, 1.5)")


# ---------------------------------------------------------------- other connections, reopening


def test_uncommitted_writes_are_invisible_to_other_connections(
    sqlite_store: SqliteStore, db_path: Path
) -> None:
    with sqlite_store.transaction():
        sqlite_store.save_state("k", {"v": 1})
        with SqliteStore(db_path) as reader:
            assert reader.load_state("k") is None
    with SqliteStore(db_path) as reader:
        assert reader.load_state("k") == {"v": 1}


def test_reopening_restores_everything(db_path: Path) -> None:
    store = SqliteStore(db_path)
    store.init_run(META)
    trader = Trader(store)
    trade_some(trader)
    decision = DecisionRecord(T0, "c1", "005930", "BUY", metadata={"k": [1, 2]})
    store.record_decisions([decision])
    point = EquityPoint(T0, 1, 2, 3, 4, 5, 6)
    store.record_equity(point)
    store.save_state("failsafe", {"level": "WARNING", "codes": ["FS010"]})
    store.close()

    reopened = SqliteStore(db_path)
    assert reopened.run_meta() == META
    assert_store_matches(reopened, trader)
    assert reopened.load_decisions() == [decision]
    assert reopened.load_equity() == [point]
    assert reopened.load_state("failsafe") == {"level": "WARNING", "codes": ["FS010"]}
    reopened.close()


def test_closing_inside_a_transaction_rolls_it_back(db_path: Path) -> None:
    store = SqliteStore(db_path)
    store.save_state("k", {"v": 1})
    with store.transaction():
        store.save_state("k", {"v": 2})
        store.close()
    with SqliteStore(db_path) as reopened:
        assert reopened.load_state("k") == {"v": 1}


def test_restore_in_another_zone(db_path: Path) -> None:
    with SqliteStore(db_path) as s:
        s.record_equity(EquityPoint(T0, 0, 0, 0, 0, 0, 0))
    with SqliteStore(db_path, tz=UTC) as s:
        (point,) = s.load_equity()
    assert point.ts == T0
    assert point.ts.utcoffset() == timedelta(0)
    assert T0.tzinfo is KST


# ---------------------------------------------------------------- threads


def test_threads_share_the_store_and_wait_for_each_others_transactions(
    sqlite_store: SqliteStore,
) -> None:
    """A write from another thread waits until the open transaction commits; it never joins
    it (a rollback of the transaction must not take the other thread's write with it)."""
    asked = threading.Event()
    done = threading.Event()
    errors: list[BaseException] = []

    def other() -> None:
        asked.set()
        try:
            sqlite_store.save_state("k", {"by": "other"})
        except BaseException as exc:
            errors.append(exc)
        done.set()

    thread = threading.Thread(target=other)
    with pytest.raises(RuntimeError), sqlite_store.transaction():
        sqlite_store.save_state("k", {"by": "main"})
        thread.start()
        assert asked.wait(5)
        assert not done.is_set()  # blocked on the lock, not inside our transaction
        assert sqlite_store.load_state("k") == {"by": "main"}
        raise RuntimeError("roll back")
    thread.join(5)
    assert errors == [] and done.is_set()
    assert sqlite_store.load_state("k") == {"by": "other"}  # its write survived our rollback
