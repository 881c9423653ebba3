"""HybridStore over two real stores: outages mid-burst, lost acknowledgements, fallback reads,
refusals, transactions whose host dies, restarts, modes and rollback."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from hybrid_helpers import Alerts, Clock, FlakyStore, Link, burst
from storage_helpers import META, T0, Trader, assert_store_matches

from qts.core.errors import StorageError
from qts.data import DecisionRecord, MemoryStore, SqliteStore
from qts.data.hybrid import (
    DB,
    MARKER_KEY,
    SHEETS,
    DataSourceMode,
    HybridStore,
    Outbox,
    compare_stores,
    migrate,
)
from qts.model import Order, OrderSide, OrderType

M = DataSourceMode


@dataclass
class Rig:
    """A hybrid store over two SQLite files behind flaky links, and everything to inspect it."""

    tmp: Path
    mode: DataSourceMode
    sheets_link: Link
    db_link: Link
    alerts: Alerts
    clock: Clock
    store: HybridStore

    @property
    def sheets(self) -> FlakyStore:
        return self.store.target(SHEETS)  # type: ignore[return-value]

    @property
    def db(self) -> FlakyStore:
        return self.store.target(DB)  # type: ignore[return-value]

    def link(self, name: str) -> Link:
        return self.sheets_link if name == SHEETS else self.db_link

    def reopen(self, mode: DataSourceMode | None = None) -> HybridStore:
        """A new process on the same files (the old store must be closed)."""
        self.store = open_store(self.tmp, mode or self.mode, self)
        return self.store

    def assert_both_equal(self, trader: Trader | None = None) -> None:
        """After recovery: nothing pending, the checker clean, each side equal to the model."""
        assert self.store.flush() == {name: 0 for name in self.store.mode.targets}
        keys = self.store.outbox.state_keys()
        report = compare_stores(self.sheets.inner, self.db.inner, state_keys=keys)
        assert report.differences == []
        if trader is not None:
            assert_store_matches(self.sheets.inner, trader)
            assert_store_matches(self.db.inner, trader)


def open_store(tmp: Path, mode: DataSourceMode, rig: Rig | None = None) -> HybridStore:
    sheets_link = rig.sheets_link if rig else Link(SHEETS)
    db_link = rig.db_link if rig else Link(DB)
    alerts = rig.alerts if rig else Alerts()
    clock = rig.clock if rig else Clock()
    return HybridStore(
        FlakyStore(SqliteStore(tmp / "sheets.sqlite"), sheets_link),
        FlakyStore(SqliteStore(tmp / "db.sqlite"), db_link),
        Outbox(tmp / "qts.outbox"),
        mode,
        on_alert=alerts,
        clock=clock,
    )


def make_rig(tmp: Path, mode: DataSourceMode = M.DUAL_WRITE) -> Rig:
    sheets_link, db_link, alerts, clock = Link(SHEETS), Link(DB), Alerts(), Clock()
    rig = Rig(tmp, mode, sheets_link, db_link, alerts, clock, None)  # type: ignore[arg-type]
    rig.store = open_store(tmp, mode, rig)
    return rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path)
    yield r
    r.store.close()


BOTH = [(M.DUAL_WRITE, SHEETS), (M.DUAL_WRITE, DB), (M.DB_PRIMARY, SHEETS), (M.DB_PRIMARY, DB)]


@pytest.mark.parametrize(("mode", "failing"), BOTH, ids=lambda v: str(v))
def test_an_outage_of_either_side_mid_burst_loses_nothing_and_doubles_nothing(
    tmp_path: Path, mode: DataSourceMode, failing: str
) -> None:
    rig = make_rig(tmp_path, mode)
    store = rig.store
    store.init_run(META)
    trader = Trader(store)
    link = rig.link(failing)
    link.fail_after_writes = 40  # the link drops by itself in the middle of a write burst

    def recover_later(i: int) -> None:
        if i == 25:
            assert link.down, "the outage must have started mid-burst"
            assert store.pending()[failing] > 0
            link.down = False
            rig.clock.advance(3_600)  # past any backoff: the next write retries it inline

    burst(trader, 40, after_each=recover_later)
    assert_store_matches(store, trader)  # the reads never lost a write
    rig.assert_both_equal(trader)
    decisions = rig.sheets.inner.load_decisions()
    assert len(decisions) == 40 and len({d.cycle_id for d in decisions}) == 40
    assert ("unavailable", failing) in rig.alerts.kinds()
    assert ("recovered", failing) in rig.alerts.kinds()
    store.close()


@pytest.mark.parametrize("failing", [SHEETS, DB])
def test_commits_whose_acknowledgement_was_lost_are_not_applied_twice(
    rig: Rig, failing: str
) -> None:
    """The connection dies after COMMIT: the outbox cannot know the op landed, the target's
    marker does, so even append-only logs are not doubled by the replay."""
    store = rig.store
    trader = Trader(store)
    link = rig.link(failing)

    def lose_acks(i: int) -> None:
        link.lose_acks = 1
        rig.clock.advance(3_600)

    burst(trader, 12, after_each=lose_acks)
    rig.assert_both_equal(trader)
    for side in (rig.sheets.inner, rig.db.inner):
        assert len(side.load_decisions()) == 12
        assert len(side.load_safety_events()) == 4
        assert len(side.load_equity()) == 12


def test_reads_fall_back_to_the_secondary_with_one_alert(rig: Rig) -> None:
    store = rig.store
    trader = Trader(store)
    burst(trader, 3)
    rig.sheets_link.down = True
    assert_store_matches(store, trader)  # every read now comes from the database
    assert rig.alerts.kinds().count(("fallback_read", SHEETS)) == 1
    burst(trader, 2)  # and writes go on, hosted by the database
    assert_store_matches(store, trader)
    assert store.pending()[SHEETS] > 0
    rig.sheets_link.down = False
    rig.clock.advance(3_600)
    assert_store_matches(store, trader)
    rig.assert_both_equal(trader)


def test_a_read_catches_a_lagging_secondary_up_before_answering(rig: Rig) -> None:
    store = rig.store
    trader = Trader(store)
    rig.db_link.down = True
    burst(trader, 3)  # the database misses these
    rig.db_link.down = False
    rig.sheets_link.down = True  # and now the primary goes
    assert_store_matches(store, trader)  # not the database's stale rows: it was caught up first
    assert store.pending()[DB] == 0


def test_a_read_never_returns_older_data_than_was_written(rig: Rig) -> None:
    store = rig.store
    store.save_state("checkpoint", {"cycle": 1})
    rig.db_link.down = True
    store.save_state("checkpoint", {"cycle": 2})  # only sheets has it
    rig.db_link.down = False
    rig.db_link.read_only = True  # the database answers reads but cannot catch up
    rig.sheets_link.down = True
    assert rig.db.inner.load_state("checkpoint") == {"cycle": 1}
    with pytest.raises(StorageError, match="no up-to-date store"):
        store.load_state("checkpoint")
    rig.sheets_link.down = False
    assert store.load_state("checkpoint") == {"cycle": 2}


def test_a_refused_write_is_written_nowhere(rig: Rig) -> None:
    store = rig.store
    store.save_state("a", {"v": 1})
    size = store.outbox.size()
    bad = Order("Q1", "005930", OrderSide.BUY, OrderType.MARKET, 10, T0)
    bad.qty = 0
    with pytest.raises(StorageError, match="save_order Q1"):
        store.save_order(bad)
    with pytest.raises(StorageError, match="reserved"):
        store.save_state(MARKER_KEY, {})
    assert store.outbox.size() == size and store.pending() == {SHEETS: 0, DB: 0}
    assert rig.sheets.inner.load_orders() == [] and rig.db.inner.load_orders() == []
    assert rig.alerts.seen == []  # a refusal is the caller's problem, not an outage


def test_a_write_fails_only_when_neither_side_can_take_it(rig: Rig) -> None:
    store = rig.store
    rig.sheets_link.down = True
    rig.db_link.down = True
    with pytest.raises(StorageError, match="no store could take the write"):
        store.save_state("a", {"v": 1})
    assert store.outbox.size() == 0
    rig.db_link.down = False
    store.save_state("a", {"v": 2})
    rig.sheets_link.down = False
    rig.clock.advance(3_600)
    assert store.load_state("a") == {"v": 2}
    rig.assert_both_equal()


def test_a_transaction_whose_host_dies_writes_nothing_anywhere(rig: Rig) -> None:
    store = rig.store
    with pytest.raises(StorageError), store.transaction():
        store.save_state("a", {"v": 1})
        assert store.load_state("a") == {"v": 1}
        rig.sheets_link.down = True
        store.save_state("b", {"v": 2})
    assert store.outbox.size() == 0
    assert store.load_state("a") is None  # from the database, which never saw the block
    rig.sheets_link.down = False
    rig.clock.advance(3_600)
    assert store.load_state("a") is None and store.load_state("b") is None
    rig.assert_both_equal()


def test_a_transaction_that_saw_its_host_die_keeps_what_it_did_before(rig: Rig) -> None:
    """The port's rule: a store error inside a block does not abort it. What the block wrote
    before the host died is in the outbox at the end, so it lands on both sides."""
    store = rig.store
    with store.transaction():
        store.save_state("a", {"v": 1})
        rig.sheets_link.down = True
        with pytest.raises(StorageError):
            store.save_state("b", {"v": 2})
    assert store.load_state("a") == {"v": 1} and store.load_state("b") is None
    rig.sheets_link.down = False
    rig.clock.advance(3_600)
    rig.assert_both_equal()
    assert rig.sheets.inner.load_state("a") == {"v": 1}


def test_a_transaction_replays_as_one_transaction_on_the_other_side(rig: Rig) -> None:
    store = rig.store
    trader = Trader(store)
    rig.db_link.down = True
    with store.transaction():
        burst(trader, 2)
        with pytest.raises(RuntimeError), store.transaction():
            store.save_state("undone", {"v": 1})
            raise RuntimeError
    assert store.outbox.pending(DB)[0].batch == store.outbox.pending(DB)[-1].batch
    rig.db_link.down = False
    rig.assert_both_equal(trader)
    assert rig.db.inner.load_state("undone") is None


def test_pending_writes_survive_a_restart_and_land_exactly_once(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    trader = Trader(rig.store)
    rig.store.init_run(META)
    rig.db_link.down = True
    burst(trader, 5)
    rig.sheets_link.lose_acks = 1  # the last commit's answer is lost, then the process stops
    rig.store.save_state("checkpoint", {"last": True})
    assert rig.store.pending()[DB] > 0
    rig.store.close()
    rig.db_link.down = False
    store = rig.reopen()
    assert store.load_state("checkpoint") == {"last": True}
    rig.assert_both_equal(trader)
    assert len(rig.db.inner.load_decisions()) == 5
    store.close()


def test_the_other_side_stores_the_first_run_meta_not_a_later_start(rig: Rig) -> None:
    store = rig.store
    rig.sheets.inner.init_run(META)  # sheets started this run before dual-write began
    later = dataclasses.replace(META, started_at=T0 + timedelta(days=3), config={"new": 1})
    assert store.init_run(later) == META
    rig.assert_both_equal()
    assert rig.db.inner.run_meta() == META


def test_modes_decide_where_writes_go_and_reads_come_from(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, M.DB_PRIMARY)
    store = rig.store
    store.save_state("k", {"v": 1})
    rig.db.inner.save_state("k", {"v": "db"})  # behind the hybrid store's back
    assert store.load_state("k") == {"v": "db"}  # DB_PRIMARY reads the database
    store.set_mode(M.DUAL_WRITE)
    assert store.load_state("k") == {"v": 1}  # DUAL_WRITE reads sheets
    store.set_mode(M.DB_ONLY)
    store.save_state("only-db", {"v": 1})
    assert rig.sheets.inner.load_state("only-db") is None
    assert store.outbox.detached(SHEETS)
    with pytest.raises(StorageError, match="missed writes"):
        store.set_mode(M.DUAL_WRITE)
    store.close()
    with pytest.raises(StorageError, match="missed writes"):
        rig.reopen(M.DB_PRIMARY)
    rig.reopen(M.DB_ONLY).close()


def test_rollback_to_sheets_only_loses_nothing(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, M.DB_PRIMARY)
    store = rig.store
    store.init_run(META)
    trader = Trader(store)
    burst(trader, 3)
    rig.sheets_link.down = True  # sheets is out while the database is primary
    burst(trader, 3)
    assert store.pending()[SHEETS] > 0
    store.set_mode(M.SHEETS_ONLY)  # the operator rolls back
    rig.sheets_link.down = False
    rig.db_link.down = True  # and stops database traffic: none is needed from here on
    rig.clock.advance(3_600)
    assert store.flush() == {SHEETS: 0}  # the pending sheets writes were flushed
    burst(trader, 2)
    assert_store_matches(store, trader)
    assert_store_matches(rig.sheets.inner, trader)  # nothing lost
    assert len(rig.sheets.inner.load_decisions()) == 8
    # Back to dual-write only after the database was re-synced from sheets.
    with pytest.raises(StorageError, match="missed writes"):
        store.set_mode(M.DUAL_WRITE)
    rig.db_link.down = False
    report = migrate(rig.sheets.inner, rig.db.inner, state_keys=store.outbox.state_keys())
    assert report.total_copied > 0
    store.outbox.reattach(DB)
    store.set_mode(M.DUAL_WRITE)
    burst(trader, 1)
    rig.assert_both_equal(trader)
    store.close()


def test_backoff_keeps_a_failing_target_out_of_the_write_path(rig: Rig) -> None:
    store = rig.store
    rig.db_link.down = True
    store.save_state("a", {"v": 1})
    attempts = rig.db_link.commits
    rig.db_link.down = False
    rig.db_link.read_only = True  # it answers, but cannot take the replay yet
    for i in range(5):
        store.save_state("a", {"v": i})
    assert rig.db_link.commits == attempts  # no retry before the backoff passed
    rig.db_link.read_only = False
    rig.clock.advance(3_600)
    store.save_state("a", {"v": "done"})
    assert store.pending()[DB] == 0
    assert rig.db.inner.load_state("a") == {"v": "done"}
    assert rig.alerts.kinds() == [("unavailable", DB), ("recovered", DB)]


def test_memory_and_sqlite_sides_agree_after_a_burst(tmp_path: Path) -> None:
    """The contract suite's pairing (SQLite read first, memory replayed from the outbox)."""
    sheets, db = SqliteStore(tmp_path / "s.sqlite"), MemoryStore()
    store = HybridStore(sheets, db, Outbox(tmp_path / "o"), M.DUAL_WRITE)
    trader = Trader(store)
    store.init_run(META)
    burst(trader, 10)
    store.record_decisions([DecisionRecord(T0, "c", "005930", "BUY", metadata={"x": [1.5]})])
    assert compare_stores(sheets, db, state_keys=["checkpoint"]).differences == []
    assert_store_matches(db, trader)
    store.close()


def test_a_closed_store_closes_its_targets_and_outbox(rig: Rig) -> None:
    store = rig.store
    store.close()
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.pending()
    with pytest.raises(StorageError, match="closed"):
        rig.sheets.inner.load_orders()


def test_a_write_the_other_side_can_never_take_is_skipped_by_the_operator(rig: Rig) -> None:
    """Stores that validate differently: the write lands where it was hosted, the other side
    stops at it (alert, pending grows) until an operator skips it; the checker shows it."""
    store = rig.store
    store.save_state("a", {"v": 1})
    rig.db_link.read_only = True  # stands in for "the database refuses this value"
    store.save_state("a", {"v": 2})
    seq = store.outbox.pending(DB)[0].seq
    rig.db_link.read_only = False
    rig.db_link.down = True
    store.save_state("b", {"v": 3})
    rig.db_link.down = False
    store.outbox.skip(DB, seq)
    with pytest.raises(StorageError, match="not the next pending"):
        store.outbox.skip(DB, seq)
    assert store.flush() == {SHEETS: 0, DB: 0}
    diffs = compare_stores(rig.sheets.inner, rig.db.inner, state_keys=["a", "b"]).differences
    assert [(d.table, d.key, d.left, d.right) for d in diffs] == [
        ("state", "a", {"v": 2}, {"v": 1})
    ]
    assert ("unavailable", DB) in rig.alerts.kinds()
