"""What only SheetsStore needs checked (the port's semantics are in the storage contract suite,
which runs against it too): one request per write, the views, 429/5xx without duplicates,
rollback on failure, grid growth, reopening."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sheets_kit import T0, Book

from qts.core.errors import StorageError
from qts.core.time import kst
from qts.data import AccountState, DecisionRecord, EquityPoint, RunMeta
from qts.data.sheets.cells import parse_int
from qts.data.sheets.client import RetryPolicy, SheetsClient
from qts.data.sheets.fake import FakeSheetsServer, Fault
from qts.data.sheets.store import SheetsStore

OpenStore = Callable[..., SheetsStore]
META = RunMeta("run-1", "paper", 100_000_000, T0, seed=7, config={"symbols": ["005930"]})


def snapshot(store: SheetsStore) -> tuple[object, ...]:
    return (
        store.run_meta(),
        store.load_orders(),
        store.load_fills(),
        store.load_ledger(),
        store.load_positions(),
        store.load_account(),
        store.load_decisions(),
        store.load_equity(),
        store.load_safety_events(),
    )


def test_a_fill_is_one_request_that_also_updates_the_position_and_ledger_views(
    fake: FakeSheetsServer, sheet_key: str, open_store: OpenStore
) -> None:
    store = open_store()
    store.init_run(META)
    book = Book()
    writes = fake.stats.writes
    assert store.record_fill(*book.buy_fill("005930", 10, 70_050))
    assert fake.stats.writes == writes + 1
    position = fake.get_values(sheet_key, "Position!A2:L2")[0]
    assert position[0] == "005930"
    assert position[2:10] == ["KOSPI", "10", "70050", "70050", "70050", "70050", "700500", "0"]
    assert position[10:] == ["0.00%", "swing_ma"]  # pct as legacy text, then Strategy
    ledger = fake.get_values(sheet_key, "T_Ledger!A2:U2")[0]
    assert ledger[:8] == [
        "2024-01-02 09:01:00",
        "005930",
        "KOSPI",
        "BUY",
        "10",
        "70050",
        "700500",
        "KRW",
    ]
    assert ledger[10:13] == ["105", "-700605", "Q0001"]
    # the exact record is text, and parses back to the same integers
    exact = fake.get_values(sheet_key, "_QTS_Ledger!A2:Q2")[0]
    assert [parse_int(v) for v in exact[5:11]] == [10, 70_050, 700_500, 105, 0, -700_605]
    # and the numbers of the views are numbers, for the operator's formulas
    raw = fake.get_values(sheet_key, "Position!D2", option="UNFORMATTED_VALUE")
    assert raw == [[10]]


def test_a_transaction_is_one_request_and_a_replayed_fill_none(
    fake: FakeSheetsServer, open_store: OpenStore
) -> None:
    store = open_store()
    book = Book()
    first = book.buy_fill()
    writes = fake.stats.writes
    with store.transaction():
        store.init_run(META)
        store.record_fill(*first)
        store.record_fill(*book.buy_fill("000660", 2, 180_000))
        store.record_decisions([DecisionRecord(T0, "c1", "005930", "BUY")])
        store.save_state("checkpoint", {"cycle": "c1"})
    assert fake.stats.writes == writes + 1
    assert store.record_fill(*first) is False
    assert fake.stats.writes == writes + 1


@pytest.mark.parametrize(
    "fault",
    [Fault(429, times=3, kind="write"), Fault(503, times=2, kind="write", after_apply=True)],
    ids=["429-burst", "503-after-apply"],
)
def test_throttled_or_ambiguous_writes_complete_once(
    fake: FakeSheetsServer, sheet_key: str, open_store: OpenStore, fault: Fault
) -> None:
    store = open_store()
    book = Book()
    store.record_fill(*book.buy_fill())
    times = fault.times
    fake.inject(fault)
    assert store.record_fill(*book.buy_fill("000660", 3, 180_000))
    assert len(fake.get_values(sheet_key, "_QTS_Ledger!A2:A")) == 2
    assert len(fake.get_values(sheet_key, "T_Ledger!A2:A")) == 2
    assert store._client.stats.retries == times
    reopened = open_store()
    assert snapshot(reopened) == snapshot(store)


def test_a_write_that_fails_for_good_changes_nothing_and_the_next_one_repairs_the_sheet(
    fake: FakeSheetsServer,
    sheet_key: str,
    open_store: OpenStore,
    connect: Callable[..., SheetsClient],
) -> None:
    client = connect(retry=RetryPolicy(attempts=2, base_delay_s=0.001, max_delay_s=0.001))
    store = open_store(client)
    book = Book()
    store.record_fill(*book.buy_fill())
    before = snapshot(store)
    second = book.buy_fill("000660", 3, 180_000)
    fake.inject(Fault(503, times=2, kind="write", after_apply=True))  # applied, yet reported lost
    with pytest.raises(StorageError, match="HTTP 503"):
        store.record_fill(*second)
    assert snapshot(store) == before  # the store says: not booked
    store.save_account(AccountState(5, {}))  # the next write brings the sheets back in line
    reopened = open_store()
    assert snapshot(reopened) == snapshot(store)
    assert len(reopened.load_ledger()) == 1
    assert store.record_fill(*second)  # and the fill can be booked for real
    assert len(open_store().load_ledger()) == 2


def test_sheets_grow_when_the_records_outgrow_the_grid(
    fake: FakeSheetsServer, sheet_key: str, open_store: OpenStore
) -> None:
    store = open_store(initial_rows=4)
    rows = [DecisionRecord(T0 + timedelta(seconds=i), "c1", "005930", "HOLD") for i in range(9)]
    store.record_decisions(rows[:2])
    store.record_decisions(rows[2:])
    with fake.book(sheet_key) as book:
        assert book.grid("_QTS_Decisions").rows >= 10
    assert open_store().load_decisions() == rows


def test_history_is_one_row_per_day_with_the_legacy_statistics(
    fake: FakeSheetsServer, sheet_key: str, open_store: OpenStore
) -> None:
    store = open_store()
    store.init_run(META)
    for day, equity in ((2, 101_000_000), (3, 99_990_000), (4, 102_000_000)):
        store.record_equity(EquityPoint(kst(2024, 1, day, 10), 0, 0, 1, 0, 0, 0))
        store.record_equity(EquityPoint(kst(2024, 1, day, 15, 30), 0, 0, equity, 0, 0, 0))
    history = fake.get_values(sheet_key, "History!A2:I4")
    assert [r[:3] for r in history] == [
        ["2024-01-02", "101000000", "1000000"],
        ["2024-01-03", "99990000", "-1010000"],
        ["2024-01-04", "102000000", "2010000"],
    ]
    assert history[0][3:5] == ["1.00%", "1.00%"]  # Daily_Return, Cumulative_Return
    assert history[1][6:9] == ["101000000", "-1.00%", "-1.00%"]  # HWM, Drawdown, MDD
    assert history[2][7:9] == ["0.00%", "-1.00%"]
    assert history[2][5] != ""  # Volatility_20D once there are two returns


def test_an_operator_edit_of_a_view_is_reported_and_replaced(
    fake: FakeSheetsServer, sheet_key: str, open_store: OpenStore
) -> None:
    store = open_store()
    book = Book()
    store.record_fill(*book.buy_fill())
    store.close()
    fake.set_values(sheet_key, "Position!D2", [["999"]], user_entered=True)
    store = open_store()
    assert store.view_drift == ["Position"]
    assert store.load_positions()["005930"].qty == 10  # the exact record wins
    store.save_positions([store.load_positions()["005930"]])
    assert fake.get_values(sheet_key, "Position!D2") == [["10"]]


def test_values_too_long_for_a_cell_are_refused_before_anything_is_sent(
    fake: FakeSheetsServer, open_store: OpenStore
) -> None:
    store = open_store()
    writes = fake.stats.writes
    with pytest.raises(StorageError, match="does not fit in one cell"):
        store.save_state("big", {"blob": "x" * 60_000})
    assert store.load_state("big") is None
    assert fake.stats.writes == writes


def test_refresh_reads_what_changed_on_the_sheet(
    fake: FakeSheetsServer, sheet_key: str, open_store: OpenStore
) -> None:
    store = open_store()
    other = open_store()
    other.save_state("k", {"by": "other"})
    assert store.load_state("k") is None
    reads = fake.stats.reads
    store.refresh()
    assert store.load_state("k") == {"by": "other"}
    assert fake.stats.reads == reads + 2  # metadata and one batchGet
