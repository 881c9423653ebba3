"""SqliteStore against real SQLite files: round trips, idempotency, atomicity, reopening."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from storage_helpers import T0, Trader, assert_store_matches

from qts.core.errors import StorageError
from qts.core.time import KST, kst
from qts.data import (
    AccountState,
    DecisionRecord,
    EquityPoint,
    RunMeta,
    SqliteStore,
    TradingStore,
)
from qts.data.sqlite import SCHEMA_VERSION
from qts.model import Fill, Order, OrderSide, OrderStatus, OrderType, Position, Track

META = RunMeta(
    run_id="run-1",
    mode="paper",
    initial_cash=100_000_000,
    started_at=T0,
    seed=42,
    config={"risk": {"max_positions": 5}, "symbols": ["005930"]},
)


def assert_kst(ts: datetime | None) -> None:
    assert ts is not None
    assert ts.utcoffset() == timedelta(hours=9)


def money_fields_are_int(obj: Any, names: tuple[str, ...]) -> None:
    for name in names:
        assert type(getattr(obj, name)) is int, name


def trade_some(trader: Trader) -> None:
    """A buy in two partial fills, a partial sell, and an order left open."""
    buy = trader.new_order("005930", OrderSide.BUY, 10, limit_price=70_000)
    trader.submit(buy)
    trader.fill(buy, 4, 70_000)
    trader.fill(buy, 6, 69_900)
    sell = trader.new_order("005930", OrderSide.SELL, 5)
    trader.submit(sell)
    trader.fill(sell, 5, 71_300)
    trader.new_order("000660", OrderSide.BUY, 3, limit_price=130_000)


# ---------------------------------------------------------------- opening and run metadata


def test_a_new_store_is_empty_and_at_the_current_schema(store: SqliteStore) -> None:
    assert isinstance(store, TradingStore)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.run_meta() is None
    assert store.load_account() is None
    assert store.load_orders() == []
    assert store.load_fills() == []
    assert store.load_ledger() == []
    assert store.load_positions() == {}
    assert store.load_equity() == []
    assert store.load_decisions() == []
    assert store.load_state("checkpoint") is None


def test_init_run_stores_the_first_meta_and_opens_the_account(store: SqliteStore) -> None:
    assert store.init_run(META) == META
    assert store.run_meta() == META
    assert store.load_account() == AccountState(cash=100_000_000, pending={})
    restarted = dataclasses.replace(META, started_at=T0 + timedelta(days=1), config={"x": 1})
    assert store.init_run(restarted) == META  # the first start and config are kept


@pytest.mark.parametrize(
    "change",
    [{"initial_cash": 50_000_000}, {"run_id": "run-2"}, {"mode": "live"}, {"seed": 7}],
)
def test_init_run_refuses_a_different_run(store: SqliteStore, change: dict[str, Any]) -> None:
    store.init_run(META)
    with pytest.raises(StorageError, match=next(iter(change))):
        store.init_run(dataclasses.replace(META, **change))
    assert store.run_meta() == META


def test_init_run_keeps_cash_already_booked(store: SqliteStore) -> None:
    store.save_account(AccountState(cash=123, pending={}))
    store.init_run(META)
    assert store.load_account() == AccountState(cash=123, pending={})


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


def test_memory_store_works() -> None:
    with SqliteStore(":memory:", durable=False) as s:
        trade_some(Trader(s))
        assert len(s.load_ledger()) == 3


# ---------------------------------------------------------------- orders


def test_order_round_trip_keeps_every_field(store: SqliteStore) -> None:
    order = Order(
        client_order_id="Qabc",
        symbol="005930",
        side=OrderSide.SELL,
        order_type=OrderType.LIMIT,
        qty=10,
        created_at=kst(2024, 1, 2, 9, 0, 1),
        limit_price=71_000,
        strategy="scalp_vwap",
        track=Track.SCALP,
    )
    store.save_order(order)
    assert store.get_order("Qabc") == order
    order.submit("V-1", kst(2024, 1, 2, 9, 0, 2))
    order.apply_fill("F-1", 3, 71_000, kst(2024, 1, 2, 9, 0, 3))
    order.apply_fill("F-2", 2, 71_100, kst(2024, 1, 2, 9, 0, 4))
    order.cancel("user", kst(2024, 1, 2, 9, 0, 5))
    store.save_order(order)
    loaded = store.get_order("Qabc")
    assert loaded == order
    assert loaded is not None
    assert loaded.fill_ids == {"F-1", "F-2"}
    assert loaded.status is OrderStatus.CANCELED
    assert loaded.track is Track.SCALP
    money_fields_are_int(loaded, ("qty", "limit_price", "filled_qty", "filled_amount"))
    assert_kst(loaded.created_at)
    assert_kst(loaded.updated_at)
    assert store.get_order("missing") is None


def test_load_orders_keeps_first_save_order_and_open_only_includes_new(trader: Trader) -> None:
    a = trader.new_order("A00001", OrderSide.BUY, 1)  # stays NEW
    b = trader.new_order("A00002", OrderSide.BUY, 1)
    trader.submit(b)
    c = trader.new_order("A00003", OrderSide.BUY, 2)
    trader.submit(c)
    trader.fill(c, 1, 1_000)  # partially filled
    d = trader.new_order("A00004", OrderSide.BUY, 1)
    d.reject("no cash", trader.now())
    trader.store.save_order(d)
    trader.store.save_order(a)  # re-saving does not move it to the end
    ids = [o.client_order_id for o in trader.store.load_orders()]
    assert ids == [a.client_order_id, b.client_order_id, c.client_order_id, d.client_order_id]
    open_ids = [o.client_order_id for o in trader.store.load_orders(open_only=True)]
    assert open_ids == [a.client_order_id, b.client_order_id, c.client_order_id]


def test_a_client_order_id_cannot_name_two_orders(store: SqliteStore) -> None:
    order = Order("Q1", "005930", OrderSide.BUY, OrderType.MARKET, 10, T0)
    store.save_order(order)
    other = Order("Q1", "000660", OrderSide.BUY, OrderType.MARKET, 10, T0)
    with pytest.raises(StorageError, match="different order"):
        store.save_order(other)
    assert store.get_order("Q1") == order


# ---------------------------------------------------------------- fills, ledger, positions


def test_fills_ledger_positions_and_account_round_trip(trader: Trader) -> None:
    trade_some(trader)
    store = trader.store
    assert_store_matches(store, trader)
    for fill in store.load_fills():
        assert_kst(fill.ts)
        money_fields_are_int(fill, ("qty", "price", "commission", "tax"))
    for entry in store.load_ledger():
        assert_kst(entry.ts)
        money_fields_are_int(
            entry,
            ("qty", "price", "amount", "commission", "tax", "net_amount", "position_after", "pnl"),
        )
    pos = store.load_positions()["005930"]
    assert pos.qty == 5
    assert_kst(pos.opened_at)
    money_fields_are_int(pos, ("cost_basis", "realized_pnl", "last_price", "high_since_open"))
    account = store.load_account()
    assert account is not None
    assert type(account.cash) is int
    assert all(type(v) is int and type(k) is date for k, v in account.pending.items())


def test_record_fill_is_idempotent(trader: Trader) -> None:
    order = trader.new_order("005930", OrderSide.BUY, 10)
    trader.submit(order)
    fill = trader.fill(order, 10, 70_000)
    store = trader.store
    entry = store.load_ledger()[0]
    position = trader.account.positions["005930"]
    replay = store.record_fill(fill, entry, order, position, 1, {})
    assert replay is False
    assert store.load_ledger() == [entry]
    assert store.load_fills() == [fill]
    assert_store_matches(store, trader)  # the replay's cash and pending were not applied


@pytest.mark.parametrize("bad_seq", [1, 3], ids=["duplicate-seq", "gap-in-seq"])
def test_a_failing_fill_stores_nothing(trader: Trader, bad_seq: int) -> None:
    buy = trader.new_order("005930", OrderSide.BUY, 10)
    trader.submit(buy)
    trader.fill(buy, 4, 70_000)
    store = trader.store
    before = (
        store.load_orders(),
        store.load_fills(),
        store.load_ledger(),
        store.load_positions(),
        store.load_account(),
    )
    order = store.get_order(buy.client_order_id)
    assert order is not None
    fill_id = "F-bad"
    order.apply_fill(fill_id, 6, 70_000, T0 + timedelta(hours=1))
    entry = dataclasses.replace(store.load_ledger()[0], seq=bad_seq, fill_id=fill_id)
    fill = Fill(fill_id, order.client_order_id, "005930", OrderSide.BUY, 6, 70_000, T0)
    position = Position("005930", qty=10, cost_basis=700_000)
    with pytest.raises(StorageError, match="seq"):
        store.record_fill(fill, entry, order, position, 0, {date(2024, 1, 4): -1})
    after = (
        store.load_orders(),
        store.load_fills(),
        store.load_ledger(),
        store.load_positions(),
        store.load_account(),
    )
    assert after == before
    # The store is still usable and the same fill can be booked properly afterwards.
    assert store.record_fill(fill, dataclasses.replace(entry, seq=2), order, position, 0, {})


def test_a_failing_fill_inside_a_caller_transaction_undoes_only_itself(trader: Trader) -> None:
    buy = trader.new_order("005930", OrderSide.BUY, 10)
    trader.submit(buy)
    trader.fill(buy, 10, 70_000)
    store = trader.store
    entry = store.load_ledger()[0]
    other = Order("Q-other", "000660", OrderSide.BUY, OrderType.MARKET, 1, T0)
    other.submit("V", T0)
    other.apply_fill("F-x", 1, 1_000, T0)
    fill = Fill("F-x", "Q-other", "000660", OrderSide.BUY, 1, 1_000, T0)
    with store.transaction():
        store.save_state("checkpoint", {"cycle": 1})
        with pytest.raises(StorageError):
            store.record_fill(
                fill,
                dataclasses.replace(
                    entry, fill_id="F-x", client_order_id="Q-other", symbol="000660"
                ),
                other,
                Position("000660", 1, 1_000),
                0,
                {},
            )
        store.save_state("checkpoint", {"cycle": 2})
    assert store.load_state("checkpoint") == {"cycle": 2}
    assert store.get_order("Q-other") is None
    assert [f.fill_id for f in store.load_fills()] == [trader.fills[0].fill_id]


def test_record_fill_refuses_records_of_different_executions(trader: Trader) -> None:
    order = trader.new_order("005930", OrderSide.BUY, 10)
    trader.submit(order)
    fill = trader.fill(order, 5, 70_000)
    entry = trader.store.load_ledger()[0]
    position = trader.account.positions["005930"]
    second = dataclasses.replace(fill, fill_id="F-second")
    with pytest.raises(StorageError, match="ledger entry is for fill"):
        trader.store.record_fill(second, entry, order, position, 0, {})
    with pytest.raises(StorageError, match="not the fill's order"):
        other = Order("Q-other", "005930", OrderSide.BUY, OrderType.MARKET, 1, T0)
        trader.store.record_fill(fill, entry, other, position, 0, {})
    with pytest.raises(StorageError, match="has not applied"):
        trader.store.record_fill(
            second, dataclasses.replace(entry, fill_id="F-second"), order, position, 0, {}
        )
    assert trader.store.load_fills() == [fill]


def test_save_positions_and_account_without_a_fill(trader: Trader) -> None:
    trade_some(trader)
    pos = trader.account.positions["005930"]
    pos.mark(75_000)
    pos.mark(68_000)
    trader.store.save_positions([pos])
    trader.account.settle(date(2030, 1, 1))
    trader.store.save_account(AccountState(trader.account.cash, trader.account.pending))
    assert_store_matches(trader.store, trader)
    assert trader.store.load_account() == AccountState(trader.account.cash, {})


def test_the_ledger_is_append_only_in_the_database(trader: Trader, db_path: Path) -> None:
    trade_some(trader)
    with closing(sqlite3.connect(db_path)) as raw, raw:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("UPDATE t_ledger SET net_amount = 0")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("DELETE FROM t_ledger")


def test_money_must_be_integer(store: SqliteStore) -> None:
    bad = Position("005930", qty=1, cost_basis=70_000.5)  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="save_positions"):
        store.save_positions([bad])
    assert store.load_positions() == {}


def test_money_beyond_64_bits_is_refused(store: SqliteStore) -> None:
    with pytest.raises(StorageError, match="record_equity"):
        store.record_equity(EquityPoint(T0, 2**63, 0, 2**63, 0, 0, 0))
    assert store.load_equity() == []


def test_naive_timestamps_are_refused(store: SqliteStore) -> None:
    naive = datetime(2024, 1, 2, 9, 0)
    with pytest.raises(StorageError, match="timezone-aware"):
        store.save_order(Order("Q1", "005930", OrderSide.BUY, OrderType.MARKET, 1, naive))


# ---------------------------------------------------------------- decisions, PnL, state


def test_decisions_round_trip_and_filter_by_cycle(store: SqliteStore) -> None:
    rows = [
        DecisionRecord(
            ts=kst(2024, 1, 2, 9, 1),
            cycle_id="c1",
            symbol="005930",
            action="BUY",
            strategy="swing_ma",
            price=70_000,
            qty=10,
            approved=True,
            reason="cross up",
            act_status="SENT",
            metadata={"confidence": 0.8, "gates": ["cash", "exposure"]},
        ),
        DecisionRecord(kst(2024, 1, 2, 9, 1), "c1", "000660", "HOLD"),
        DecisionRecord(
            kst(2024, 1, 2, 9, 2),
            "c2",
            "005930",
            "SELL",
            approved=False,
            reason="GR012 daily limit",
        ),
    ]
    store.record_decisions(rows)
    store.record_decisions([])
    assert store.load_decisions() == rows
    assert store.load_decisions("c1") == rows[:2]
    assert store.load_decisions("none") == []
    loaded = store.load_decisions()[0]
    assert_kst(loaded.ts)
    assert type(loaded.price) is int and type(loaded.approved) is bool


def test_equity_round_trip_in_time_order_and_one_point_per_instant(store: SqliteStore) -> None:
    later = EquityPoint(kst(2024, 1, 2, 15, 30), 90_000_000, 10_500_000, 100_500_000, 300, 200, 50)
    earlier = EquityPoint(kst(2024, 1, 2, 9, 0), 100_000_000, 0, 100_000_000, 0, 0, 0)
    store.record_equity(later)
    store.record_equity(earlier)
    assert store.load_equity() == [earlier, later]
    # The same instant written in UTC replaces the KST point.
    same = dataclasses.replace(later, ts=later.ts.astimezone(UTC), cash=1)
    store.record_equity(same)
    assert store.load_equity() == [earlier, same]
    for point in store.load_equity():
        assert_kst(point.ts)
        money_fields_are_int(
            point, ("cash", "market_value", "equity", "realized", "unrealized", "fees")
        )


def test_state_documents_round_trip_and_must_be_strict_json(store: SqliteStore) -> None:
    doc = {"cycle_id": "2024-01-02T09:01", "done": ["Q1"], "level": {"code": "FS010"}}
    store.save_state("checkpoint", doc)
    assert store.load_state("checkpoint") == doc
    store.save_state("checkpoint", {"cycle_id": "next"})
    assert store.load_state("checkpoint") == {"cycle_id": "next"}
    with pytest.raises(StorageError, match="save_state"):
        store.save_state("bad", {"when": T0})
    with pytest.raises(StorageError, match="save_state"):
        store.save_state("bad", {"ratio": float("nan")})
    assert store.load_state("bad") is None


# ---------------------------------------------------------------- transactions and lifecycle


def test_a_transaction_commits_all_or_nothing(store: SqliteStore) -> None:
    order = Order("Q1", "005930", OrderSide.BUY, OrderType.MARKET, 1, T0)
    decision = DecisionRecord(T0, "c1", "005930", "BUY")
    with pytest.raises(RuntimeError), store.transaction():
        store.save_order(order)
        store.record_decisions([decision])
        with store.transaction():
            store.save_state("checkpoint", {"cycle": "c1"})
        raise RuntimeError("crash before the end of the cycle")
    assert store.load_orders() == []
    assert store.load_decisions() == []
    assert store.load_state("checkpoint") is None
    with store.transaction():
        store.save_order(order)
        with store.transaction(), store.transaction():
            store.record_decisions([decision])
        store.save_state("checkpoint", {"cycle": "c1"})
    assert store.load_orders() == [order]
    assert store.load_decisions() == [decision]
    assert store.load_state("checkpoint") == {"cycle": "c1"}


def test_an_inner_block_that_fails_is_undone_alone(store: SqliteStore) -> None:
    with store.transaction():
        store.save_state("a", {"v": 1})
        with pytest.raises(RuntimeError), store.transaction():
            store.save_state("b", {"v": 2})
            raise RuntimeError
        store.save_state("c", {"v": 3})
    assert store.load_state("a") == {"v": 1}
    assert store.load_state("b") is None
    assert store.load_state("c") == {"v": 3}


def test_uncommitted_writes_are_invisible_to_other_connections(
    store: SqliteStore, db_path: Path
) -> None:
    with store.transaction():
        store.save_state("k", {"v": 1})
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


def test_restore_in_another_zone(db_path: Path) -> None:
    with SqliteStore(db_path) as s:
        s.record_equity(EquityPoint(T0, 0, 0, 0, 0, 0, 0))
    with SqliteStore(db_path, tz=UTC) as s:
        (point,) = s.load_equity()
    assert point.ts == T0
    assert point.ts.utcoffset() == timedelta(0)
    assert T0.tzinfo is KST


def test_a_closed_store_refuses_work_and_closes_twice(store: SqliteStore) -> None:
    store.close()
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.save_state("k", {})
    with pytest.raises(StorageError, match="closed"):
        store.load_orders()


def test_the_store_belongs_to_the_thread_that_opened_it(store: SqliteStore) -> None:
    errors: list[BaseException] = []

    def other() -> None:
        try:
            store.load_orders()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], StorageError)
