"""The consistency checker: every difference named by table, key and field; the clean-day streak
and the 14-day cut-over rule."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from storage_helpers import META, T0, Trader, trade_some

from qts.core.errors import StorageError
from qts.core.time import kst
from qts.data import AccountState, DecisionRecord, EquityPoint, MemoryStore, SqliteStore
from qts.data.hybrid import ConsistencyChecker, Difference, Outbox, compare_stores
from qts.data.hybrid.checker import ROW
from qts.data.ports import SafetyEventRecord
from qts.model import OrderSide, Position


def twins() -> tuple[SqliteStore, MemoryStore]:
    """The same trading day written to two kinds of store."""
    left, right = SqliteStore(":memory:"), MemoryStore()
    for store in (left, right):
        store.init_run(META)
        trade_some(Trader(store))
        store.record_decisions([DecisionRecord(T0, "c1", "005930", "BUY", metadata={"x": 1})])
        store.record_equity(EquityPoint(T0, 1, 2, 3, 4, 5, 6))
        store.record_safety_event(SafetyEventRecord(T0, "report", "FS1", "m", "NORMAL", "FAIL"))
        store.save_state("checkpoint", {"cycle": 1})
    return left, right


def test_equal_stores_have_no_difference() -> None:
    left, right = twins()
    report = compare_stores(left, right, state_keys=["checkpoint", "missing"])
    assert report.differences == [] and report.clean
    assert report.rows == {
        "run_meta": 1, "orders": 3, "fills": 3, "ledger": 3, "positions": 1, "account": 2,
        "decisions": 1, "equity": 1, "safety_events": 1, "state": 1,
    }  # fmt: skip


def test_each_difference_names_the_table_key_field_and_both_values() -> None:
    left, right = twins()
    order = right.get_order("Q00003")
    assert order is not None
    right.save_order(dataclasses.replace(order, reason="changed"))
    position = right.load_positions()["005930"]
    right.save_positions([dataclasses.replace(position, last_price=1)])
    right.save_positions([Position("000660", 1, 1)])
    account = right.load_account()
    assert account is not None
    right.save_account(AccountState(account.cash + 1, {**account.pending, date(2030, 1, 1): 5}))
    right.record_decisions([DecisionRecord(T0, "c2", "005930", "SELL")])
    right.record_equity(EquityPoint(T0, 1, 2, 3, 4, 5, 7))
    right.save_state("checkpoint", {"cycle": 2})
    left.record_safety_event(SafetyEventRecord(T0, "report", "FS2", "m", "FAIL", "FAIL"))
    found = {(d.table, d.key, d.field): (d.left, d.right) for d in
             compare_stores(left, right, state_keys=["checkpoint"]).differences}  # fmt: skip
    assert found[("orders", "Q00003", "reason")] == ("", "changed")
    assert found[("positions", "005930", "last_price")] == (position.last_price, 1)
    assert found[("positions", "000660", ROW)] == (None, Position("000660", 1, 1))
    assert found[("account", "cash", "value")] == (account.cash, account.cash + 1)
    assert found[("account", "pending 2030-01-01", ROW)] == (None, 5)
    assert found[("decisions", "2", ROW)][0] is None
    assert found[("equity", T0.astimezone(UTC).isoformat(), "fees")] == (6, 7)
    assert found[("state", "checkpoint", "value")] == ({"cycle": 1}, {"cycle": 2})
    assert found[("safety_events", "2", ROW)][1] is None
    assert len(found) == 9
    text = str(Difference("orders", "Q1", "reason", "", "x"))
    assert text == "orders[Q1].reason: '' != 'x'"


def test_a_missing_fill_and_ledger_row_are_reported_by_their_keys() -> None:
    left, right = SqliteStore(":memory:"), MemoryStore()
    trade_some(Trader(left))
    trader = Trader(right)
    trade_some(trader)
    extra = trader.new_order("035420", OrderSide.BUY, 1)
    trader.submit(extra)
    trader.fill(extra, 1, 1_000)
    keys = {(d.table, d.key) for d in compare_stores(left, right).differences if d.field == ROW}
    assert ("fills", "F-Q00004-1") in keys and ("ledger", "4") in keys
    assert ("orders", "Q00004") in keys and ("positions", "035420") in keys


@pytest.fixture
def checker(tmp_path: Path) -> Iterator[ConsistencyChecker]:
    left, right = twins()
    outbox = Outbox(tmp_path / "qts.outbox")
    outbox.register(["sheets", "db"])
    yield ConsistencyChecker(left, right, outbox, state_keys=["checkpoint"])
    outbox.close()


def day(n: int) -> datetime:
    """18:00 KST on the n-th day after 2024-01-01."""
    return kst(2024, 1, 1, 18) + timedelta(days=n)


def test_fourteen_clean_days_in_a_row_allow_the_cut_over(checker: ConsistencyChecker) -> None:
    for n in range(13):
        assert checker.run(day(n)).clean
        assert not checker.can_cut_over(day(n))
    checker.run(day(13))
    assert checker.streak(day(13)) == 14
    assert checker.can_cut_over(day(13))
    # Today's check has not run yet at 09:00 of the next day: yesterday still counts.
    assert checker.can_cut_over(day(14) - timedelta(hours=9))
    # A day without any check breaks the streak.
    assert not checker.can_cut_over(day(15))
    assert checker.can_cut_over(day(13), required_days=3)
    with pytest.raises(StorageError, match="required_days"):
        checker.can_cut_over(day(13), required_days=0)


def test_one_difference_resets_the_streak_for_the_whole_day(checker: ConsistencyChecker) -> None:
    for n in range(10):
        checker.run(day(n))
    checker.right.save_state("checkpoint", {"cycle": "diverged"})
    report = checker.run(day(10))
    assert not report.clean and report.differences
    checker.right.save_state("checkpoint", {"cycle": 1})
    assert checker.run(day(10) + timedelta(hours=1)).clean  # fixed the same day: still unclean
    assert checker.streak(day(10)) == 0
    for n in range(11, 25):
        checker.run(day(n))
    assert checker.streak(day(24)) == 14 and checker.can_cut_over(day(24))


def test_pending_outbox_ops_make_a_check_unclean(checker: ConsistencyChecker) -> None:
    from qts.data.hybrid.codec import encode_op

    checker.outbox.append([encode_op("save_state", {"key": "k", "value": {}})], ["sheets", "db"])
    report = checker.run(day(0))
    assert report.differences == [] and report.pending == 2 and not report.clean
    assert checker.streak(day(0)) == 0


def test_state_keys_written_through_the_outbox_are_compared(checker: ConsistencyChecker) -> None:
    from qts.data.hybrid.codec import encode_op

    payload = encode_op("save_state", {"key": "written", "value": {}})
    checker.outbox.append([payload], ["sheets", "db"], state_keys=["written"])
    checker.outbox.advance("sheets", 1)
    checker.outbox.advance("db", 1)
    checker.left.save_state("written", {"v": 1})
    assert [(d.table, d.key) for d in checker.check().differences] == [("state", "written")]


def test_check_days_are_kst_calendar_days(checker: ConsistencyChecker) -> None:
    late = datetime(2024, 1, 1, 16, 0, tzinfo=UTC)  # 01:00 KST on 2 January
    checker.run(late)
    assert [d.day for d in checker.outbox.check_days()] == [date(2024, 1, 2)]
    with pytest.raises(ValueError, match="timezone-aware"):
        checker.run(datetime(2024, 1, 3, 9))
