"""The TradingStore contract, run against every adapter in conftest.STORE_KINDS.

Round trips, identity checks, idempotent and atomic fills, transaction nesting, value checks and
copies: what the OMS, the pipeline and recovery rely on, whatever the store behind the port.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from storage_helpers import (
    META,
    STATE_KEYS,
    T0,
    Trader,
    assert_kst,
    assert_store_matches,
    dump,
    money_fields_are_int,
    trade_some,
)

from qts.core.errors import StorageError
from qts.core.time import kst
from qts.data import AccountState, DecisionRecord, EquityPoint, TradingStore
from qts.data.ports import SafetyEventRecord
from qts.model import Fill, Order, OrderSide, OrderStatus, OrderType, Position, Track

# ---------------------------------------------------------------- opening and run metadata


def test_a_new_store_is_empty(store: TradingStore) -> None:
    assert isinstance(store, TradingStore)
    assert store.run_meta() is None
    assert store.load_account() is None
    assert store.load_orders() == []
    assert store.load_orders(open_only=True) == []
    assert store.load_fills() == []
    assert store.load_ledger() == []
    assert store.load_positions() == {}
    assert store.load_equity() == []
    assert store.load_decisions() == []
    assert store.load_state("checkpoint") is None
    assert store.get_order("Q1") is None


def test_init_run_stores_the_first_meta_and_opens_the_account(store: TradingStore) -> None:
    assert store.init_run(META) == META
    assert store.run_meta() == META
    assert store.load_account() == AccountState(cash=100_000_000, pending={})
    restarted = dataclasses.replace(META, started_at=T0 + timedelta(days=1), config={"x": 1})
    assert store.init_run(restarted) == META  # the first start and config are kept
    meta = store.run_meta()
    assert meta is not None
    assert_kst(meta.started_at)


@pytest.mark.parametrize(
    "change",
    [{"initial_cash": 50_000_000}, {"run_id": "run-2"}, {"mode": "live"}, {"seed": 7}],
)
def test_init_run_refuses_a_different_run(store: TradingStore, change: dict[str, Any]) -> None:
    store.init_run(META)
    with pytest.raises(StorageError, match=next(iter(change))):
        store.init_run(dataclasses.replace(META, **change))
    assert store.run_meta() == META


def test_init_run_keeps_cash_already_booked(store: TradingStore) -> None:
    store.save_account(AccountState(cash=123, pending={date(2024, 1, 4): -5}))
    store.init_run(META)
    assert store.load_account() == AccountState(cash=123, pending={date(2024, 1, 4): -5})


def test_the_run_config_is_a_copy(store: TradingStore) -> None:
    config: dict[str, Any] = {"symbols": ["005930"]}
    store.init_run(dataclasses.replace(META, config=config))
    config["symbols"].append("000660")
    loaded = store.run_meta()
    assert loaded is not None
    assert loaded.config == {"symbols": ["005930"]}
    loaded.config["symbols"].append("035420")
    again = store.run_meta()
    assert again is not None and again.config == {"symbols": ["005930"]}


# ---------------------------------------------------------------- orders


def test_order_round_trip_keeps_every_field(store: TradingStore) -> None:
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
    assert loaded.side is OrderSide.SELL
    assert loaded.order_type is OrderType.LIMIT
    assert loaded.track is Track.SCALP
    money_fields_are_int(loaded, ("qty", "limit_price", "filled_qty", "filled_amount"))
    assert_kst(loaded.created_at)
    assert_kst(loaded.updated_at)
    assert store.get_order("missing") is None


def test_timestamps_come_back_in_kst_whatever_zone_they_were_given_in(
    store: TradingStore,
) -> None:
    created = datetime(2024, 1, 2, 0, 0, 1, 123_456, tzinfo=UTC)
    store.save_order(Order("Q1", "005930", OrderSide.BUY, OrderType.MARKET, 1, created))
    loaded = store.get_order("Q1")
    assert loaded is not None
    assert loaded.created_at == created
    assert_kst(loaded.created_at)
    assert loaded.created_at.microsecond == 123_456


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
    e = trader.new_order("A00005", OrderSide.BUY, 1)
    trader.submit(e)
    trader.fill(e, 1, 1_000)  # filled
    trader.store.save_order(a)  # re-saving does not move it to the end
    ids = [o.client_order_id for o in trader.store.load_orders()]
    assert ids == [o.client_order_id for o in (a, b, c, d, e)]
    open_ids = [o.client_order_id for o in trader.store.load_orders(open_only=True)]
    assert open_ids == [a.client_order_id, b.client_order_id, c.client_order_id]


IDENTITY_CHANGES: list[dict[str, Any]] = [
    {"symbol": "000660"},
    {"side": OrderSide.SELL},
    {"order_type": OrderType.MARKET, "limit_price": None},
    {"qty": 11},
    {"limit_price": 70_100},
    {"created_at": T0 + timedelta(microseconds=1)},
]


@pytest.mark.parametrize("change", IDENTITY_CHANGES, ids=lambda c: next(iter(c)))
def test_a_client_order_id_cannot_name_two_orders(
    store: TradingStore, change: dict[str, Any]
) -> None:
    order = Order("Q1", "005930", OrderSide.BUY, OrderType.LIMIT, 10, T0, 70_000)
    store.save_order(order)
    other = dataclasses.replace(order, **change)
    with pytest.raises(StorageError, match="different order"):
        store.save_order(other)
    assert store.load_orders() == [order]


def test_the_same_order_may_be_saved_in_any_state_and_zone(store: TradingStore) -> None:
    order = Order("Q1", "005930", OrderSide.BUY, OrderType.LIMIT, 10, T0, 70_000)
    store.save_order(order)
    same = dataclasses.replace(
        order,
        created_at=T0.astimezone(UTC),  # the same instant is the same order
        strategy="other",
        track=Track.PORTFOLIO,
        status=OrderStatus.SUBMITTED,
        venue_order_id="V1",
        reason="why",
        updated_at=T0,
    )
    store.save_order(same)
    assert store.load_orders() == [same]


def test_a_saved_order_is_a_copy_both_ways(store: TradingStore) -> None:
    order = Order("Q1", "005930", OrderSide.BUY, OrderType.MARKET, 10, T0)
    order.submit("V1", T0)
    store.save_order(order)
    saved = dataclasses.replace(order, fill_ids=set(order.fill_ids))
    order.apply_fill("F1", 4, 70_000, T0)  # the caller goes on with its object
    order.fill_ids.add("F-extra")
    assert store.get_order("Q1") == saved
    loaded = store.get_order("Q1")
    assert loaded is not None
    loaded.fill_ids.add("F-loaded")
    loaded.cancel("caller", T0)
    assert store.get_order("Q1") == saved
    assert store.load_orders() == [saved]


# ---------------------------------------------------------------- fills, ledger, positions


def test_fills_ledger_positions_and_account_round_trip(trader: Trader) -> None:
    trade_some(trader)
    store = trader.store
    assert_store_matches(store, trader)
    for fill in store.load_fills():
        assert_kst(fill.ts)
        assert fill.side in (OrderSide.BUY, OrderSide.SELL) and type(fill.side) is OrderSide
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


def test_positions_come_back_by_symbol_and_pending_by_date(store: TradingStore) -> None:
    store.save_positions(
        [Position("035420", 1, 100), Position("000660", 2, 200), Position("005930", 3, 300)]
    )
    assert list(store.load_positions()) == ["000660", "005930", "035420"]
    days = [date(2024, 1, 5), date(2024, 1, 3), date(2024, 1, 4)]
    store.save_account(AccountState(1, {d: i for i, d in enumerate(days)}))
    account = store.load_account()
    assert account is not None
    assert list(account.pending) == sorted(days)


def test_positions_and_pending_are_copies(trader: Trader) -> None:
    trade_some(trader)
    store = trader.store
    before = dump(store)
    trader.account.positions["005930"].mark(99_000)  # the caller's objects move on
    trader.account.pending[date(2030, 1, 1)] = 1
    assert dump(store) == before
    loaded = store.load_positions()["005930"]
    loaded.mark(1_000)
    account = store.load_account()
    assert account is not None
    account.pending.clear()
    assert dump(store) == before


def test_record_fill_is_idempotent(trader: Trader) -> None:
    order = trader.new_order("005930", OrderSide.BUY, 10)
    trader.submit(order)
    fill = trader.fill(order, 10, 70_000)
    store = trader.store
    entry = store.load_ledger()[0]
    position = trader.account.positions["005930"]
    before = dump(store)
    replay = store.record_fill(fill, entry, order, position, 1, {})
    assert replay is False
    assert dump(store) == before  # the replay's cash and pending were not applied
    assert store.load_ledger() == [entry]
    assert store.load_fills() == [fill]
    assert_store_matches(store, trader)


@pytest.mark.parametrize("bad_seq", [1, 3], ids=["duplicate-seq", "gap-in-seq"])
def test_a_failing_fill_stores_nothing(trader: Trader, bad_seq: int) -> None:
    buy = trader.new_order("005930", OrderSide.BUY, 10)
    trader.submit(buy)
    trader.fill(buy, 4, 70_000)
    store = trader.store
    before = dump(store)
    order = store.get_order(buy.client_order_id)
    assert order is not None
    fill_id = "F-bad"
    order.apply_fill(fill_id, 6, 70_000, T0 + timedelta(hours=1))
    entry = dataclasses.replace(store.load_ledger()[0], seq=bad_seq, fill_id=fill_id)
    fill = Fill(fill_id, order.client_order_id, "005930", OrderSide.BUY, 6, 70_000, T0)
    position = Position("005930", qty=10, cost_basis=700_000)
    with pytest.raises(StorageError, match="seq"):
        store.record_fill(fill, entry, order, position, 0, {date(2024, 1, 4): -1})
    assert dump(store) == before
    # The store is still usable and the same fill can be booked properly afterwards.
    assert store.record_fill(fill, dataclasses.replace(entry, seq=2), order, position, 0, {})


def first_fill_of_another_order(store: TradingStore) -> tuple[Fill, Order, Position]:
    other = Order("Q-other", "000660", OrderSide.BUY, OrderType.MARKET, 1, T0)
    other.submit("V", T0)
    other.apply_fill("F-x", 1, 1_000, T0)
    fill = Fill("F-x", "Q-other", "000660", OrderSide.BUY, 1, 1_000, T0)
    return fill, other, Position("000660", 1, 1_000, opened_at=T0)


@pytest.mark.parametrize(
    "spoil",
    [
        "naive-fill-ts",
        "fractional-cash",
        "negative-position",
        "order-identity",
        "pending-not-int",
        "filled-beyond-qty",
    ],
)
def test_a_fill_with_any_bad_part_stores_nothing(trader: Trader, spoil: str) -> None:
    buy = trader.new_order("005930", OrderSide.BUY, 10)
    trader.submit(buy)
    trader.fill(buy, 10, 70_000)
    store = trader.store
    if spoil == "order-identity":  # "Q-other" was saved as a SELL; the fill books it as a BUY
        store.save_order(Order("Q-other", "000660", OrderSide.SELL, OrderType.MARKET, 1, T0))
    before = dump(store)
    fill, order, position = first_fill_of_another_order(store)
    entry = dataclasses.replace(
        store.load_ledger()[0], seq=2, fill_id="F-x", client_order_id="Q-other", symbol="000660"
    )
    cash: Any = 5
    pending: dict[date, Any] = {date(2024, 1, 4): -1_000}
    if spoil == "naive-fill-ts":
        fill = dataclasses.replace(fill, ts=datetime(2024, 1, 2, 9, 0))
    elif spoil == "fractional-cash":
        cash = 5.5
    elif spoil == "negative-position":
        position.qty = -1
    elif spoil == "pending-not-int":
        pending = {date(2024, 1, 4): -1_000.5}
    elif spoil == "filled-beyond-qty":
        order.filled_qty = 2
    with pytest.raises(StorageError, match="record_fill F-x"):
        store.record_fill(fill, entry, order, position, cash, pending)
    assert dump(store) == before


def test_a_failing_fill_inside_a_caller_transaction_undoes_only_itself(trader: Trader) -> None:
    buy = trader.new_order("005930", OrderSide.BUY, 10)
    trader.submit(buy)
    trader.fill(buy, 10, 70_000)
    store = trader.store
    entry = store.load_ledger()[0]
    fill, other, position = first_fill_of_another_order(store)
    with store.transaction():
        store.save_state("checkpoint", {"cycle": 1})
        with pytest.raises(StorageError):
            store.record_fill(
                fill,
                dataclasses.replace(
                    entry, fill_id="F-x", client_order_id="Q-other", symbol="000660"
                ),  # seq 1 again
                other,
                position,
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
    store = trader.store
    entry = store.load_ledger()[0]
    position = trader.account.positions["005930"]
    before = dump(store)
    second = dataclasses.replace(fill, fill_id="F-second")
    with pytest.raises(StorageError, match="ledger entry is for fill"):
        store.record_fill(second, entry, order, position, 0, {})
    with pytest.raises(StorageError, match="not the fill's order"):
        other = Order("Q-other", "005930", OrderSide.BUY, OrderType.MARKET, 1, T0)
        store.record_fill(fill, entry, other, position, 0, {})
    with pytest.raises(StorageError, match="ledger entry is for order"):
        store.record_fill(
            fill, dataclasses.replace(entry, client_order_id="Q-other"), order, position, 0, {}
        )
    with pytest.raises(StorageError, match="has not applied"):
        store.record_fill(
            second, dataclasses.replace(entry, fill_id="F-second"), order, position, 0, {}
        )
    with pytest.raises(StorageError, match="is not 005930"):
        store.record_fill(fill, entry, order, Position("000660"), 0, {})
    assert dump(store) == before


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


def test_a_batch_with_one_bad_row_stores_none_of_it(store: TradingStore) -> None:
    good = Position("005930", 1, 70_000)
    bad = Position("000660", -1, 0)
    with pytest.raises(StorageError, match="save_positions"):
        store.save_positions([good, bad])
    assert store.load_positions() == {}
    rows = [
        DecisionRecord(T0, "c1", "005930", "BUY"),
        DecisionRecord(datetime(2024, 1, 2), "c1", "000660", "BUY"),
    ]
    with pytest.raises(StorageError, match="record_decisions"):
        store.record_decisions(rows)
    assert store.load_decisions() == []
    with pytest.raises(StorageError, match="save_account"):
        store.save_account(AccountState(1, {date(2024, 1, 4): 1, date(2024, 1, 5): 1.5}))  # type: ignore[dict-item]
    assert store.load_account() is None


def test_money_must_be_integer(store: TradingStore) -> None:
    bad = Position("005930", qty=1, cost_basis=70_000.5)  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="save_positions"):
        store.save_positions([bad])
    assert store.load_positions() == {}


def test_money_beyond_64_bits_is_refused(store: TradingStore) -> None:
    with pytest.raises(StorageError, match="record_equity"):
        store.record_equity(EquityPoint(T0, 2**63, 0, 2**63, 0, 0, 0))
    with pytest.raises(StorageError, match="save_account"):
        store.save_account(AccountState(-(2**63) - 1))
    store.save_account(AccountState(2**63 - 1, {date(2024, 1, 4): -(2**63)}))
    assert store.load_equity() == []
    assert store.load_account() == AccountState(2**63 - 1, {date(2024, 1, 4): -(2**63)})


def test_naive_timestamps_are_refused(store: TradingStore) -> None:
    naive = datetime(2024, 1, 2, 9, 0)
    with pytest.raises(StorageError, match="timezone-aware"):
        store.save_order(Order("Q1", "005930", OrderSide.BUY, OrderType.MARKET, 1, naive))
    with pytest.raises(StorageError, match="timezone-aware"):
        store.record_equity(EquityPoint(naive, 0, 0, 0, 0, 0, 0))
    with pytest.raises(StorageError, match="timezone-aware"):
        store.save_positions([Position("005930", 1, 1, opened_at=naive)])
    assert dump(store) == EMPTY


EMPTY: tuple[Any, ...] = (None, [], [], [], [], {}, None, [], [], [], dict.fromkeys(STATE_KEYS))


def order_with(**fields: Any) -> Order:
    """A valid order, then fields set the way a buggy caller could set them."""
    order = Order("Q1", "005930", OrderSide.BUY, OrderType.MARKET, 10, T0)
    for name, value in fields.items():
        setattr(order, name, value)
    return order


@pytest.mark.parametrize(
    "order",
    [
        order_with(qty=0),
        order_with(filled_qty=11),
        order_with(filled_qty=-1),
        order_with(filled_amount=-1),
        order_with(side="HOLD"),
        order_with(reason=None),
        order_with(symbol=None),
    ],
    ids=[
        "qty-0",
        "overfilled",
        "negative-filled",
        "negative-amount",
        "side",
        "null-reason",
        "null-symbol",
    ],
)
def test_orders_the_schema_forbids_are_refused(store: TradingStore, order: Order) -> None:
    with pytest.raises(StorageError, match="save_order Q1"):
        store.save_order(order)
    assert store.load_orders() == []


def test_a_plain_text_side_comes_back_as_the_enum(store: TradingStore) -> None:
    store.save_order(order_with(side="SELL", status="SUBMITTED"))
    loaded = store.get_order("Q1")
    assert loaded is not None
    assert loaded.side is OrderSide.SELL
    assert loaded.status is OrderStatus.SUBMITTED


# ---------------------------------------------------------------- decisions, PnL, state


def test_decisions_round_trip_and_filter_by_cycle(store: TradingStore) -> None:
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
        DecisionRecord(kst(2024, 1, 2, 9, 3), "c1", "035420", "BUY"),
    ]
    store.record_decisions(rows[:3])
    store.record_decisions([])
    store.record_decisions(rows[3:])
    assert store.load_decisions() == rows
    assert store.load_decisions("c1") == [rows[0], rows[1], rows[3]]
    assert store.load_decisions("none") == []
    loaded = store.load_decisions()[0]
    assert_kst(loaded.ts)
    assert type(loaded.price) is int and type(loaded.approved) is bool
    loaded.metadata["gates"].append("mutated")
    assert store.load_decisions()[0] == rows[0]


def test_decision_metadata_is_a_copy(store: TradingStore) -> None:
    metadata: dict[str, Any] = {"gates": ["cash"]}
    store.record_decisions([DecisionRecord(T0, "c1", "005930", "BUY", metadata=metadata)])
    metadata["gates"].append("exposure")
    assert store.load_decisions()[0].metadata == {"gates": ["cash"]}


def test_equity_round_trip_in_time_order_and_one_point_per_instant(store: TradingStore) -> None:
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


def safety_event(i: int, ts: datetime = T0) -> SafetyEventRecord:
    return SafetyEventRecord(ts, "report", f"FS{i:03d}", f"event {i}", "NORMAL", "WARNING")


def test_the_safety_history_keeps_recording_order_and_limits_to_the_last(
    store: TradingStore,
) -> None:
    events = [safety_event(i, T0 - timedelta(minutes=i)) for i in range(4)]  # times go back
    events.append(dataclasses.replace(safety_event(4), operator="kim"))
    for event in events:
        store.record_safety_event(event)
    assert store.load_safety_events() == events
    assert store.load_safety_events(2) == events[-2:]
    assert store.load_safety_events(10) == events
    assert store.load_safety_events(0) == []
    assert store.load_safety_events(-1) == []
    for event in store.load_safety_events():
        assert_kst(event.ts)
    with pytest.raises(StorageError, match="timezone-aware"):
        store.record_safety_event(safety_event(9, datetime(2024, 1, 2, 9, 0)))
    with pytest.raises(StorageError, match="record_safety_event"):
        store.record_safety_event(dataclasses.replace(safety_event(9), code=None))  # type: ignore[arg-type]
    assert store.load_safety_events() == events


def test_state_documents_round_trip_and_must_be_strict_json(store: TradingStore) -> None:
    doc: dict[str, Any] = {
        "cycle_id": "2024-01-02T09:01",
        "done": ["Q1"],
        "level": {"code": "FS010"},
    }
    store.save_state("checkpoint", doc)
    doc["done"].append("Q2")  # the store kept a copy
    assert store.load_state("checkpoint") == {
        "cycle_id": "2024-01-02T09:01",
        "done": ["Q1"],
        "level": {"code": "FS010"},
    }
    loaded = store.load_state("checkpoint")
    assert loaded is not None
    loaded["done"].append("Q3")
    assert store.load_state("checkpoint") == {
        "cycle_id": "2024-01-02T09:01",
        "done": ["Q1"],
        "level": {"code": "FS010"},
    }
    store.save_state("checkpoint", {"cycle_id": "next"})
    assert store.load_state("checkpoint") == {"cycle_id": "next"}
    with pytest.raises(StorageError, match="save_state"):
        store.save_state("bad", {"when": T0})
    with pytest.raises(StorageError, match="save_state"):
        store.save_state("bad", {"ratio": float("nan")})
    assert store.load_state("bad") is None


# ---------------------------------------------------------------- transactions and lifecycle


def test_a_transaction_commits_all_or_nothing(store: TradingStore) -> None:
    order = Order("Q1", "005930", OrderSide.BUY, OrderType.MARKET, 1, T0)
    decision = DecisionRecord(T0, "c1", "005930", "BUY")
    with pytest.raises(RuntimeError), store.transaction():
        store.save_order(order)
        store.record_decisions([decision])
        with store.transaction():
            store.save_state("checkpoint", {"cycle": "c1"})
        assert store.load_state("checkpoint") == {"cycle": "c1"}  # visible inside
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


def test_an_inner_block_that_fails_is_undone_alone(store: TradingStore) -> None:
    with store.transaction():
        store.save_state("a", {"v": 1})
        with pytest.raises(RuntimeError), store.transaction():
            store.save_state("b", {"v": 2})
            store.save_state("a", {"v": "changed"})
            raise RuntimeError
        store.save_state("c", {"v": 3})
    assert store.load_state("a") == {"v": 1}
    assert store.load_state("b") is None
    assert store.load_state("c") == {"v": 3}


def write_everything(trader: Trader, tag: int) -> None:
    """One write of every kind the port has, inserts and replacements alike."""
    store = trader.store
    store.init_run(META)
    trade_some(trader)  # orders, fills, ledger, positions, account
    first = trader.orders[next(iter(trader.orders))]
    store.save_order(first)  # an update of an existing order
    store.save_positions([Position(f"9{tag:05d}", 1, 1)])
    store.save_account(AccountState(tag, {date(2024, 2, tag % 28 + 1): tag}))
    store.record_decisions([DecisionRecord(T0, f"c{tag}", "005930", "BUY", metadata={"t": tag})])
    store.record_equity(EquityPoint(T0, tag, 0, tag, 0, 0, 0))  # replaces the point at T0
    store.record_equity(EquityPoint(T0 + timedelta(days=tag), tag, 0, tag, 0, 0, 0))
    store.record_safety_event(safety_event(tag))
    store.save_state("checkpoint", {"tag": tag})
    store.save_state(f"k{tag}", {"tag": tag})


def test_a_failed_inner_block_restores_every_kind_of_state_exactly(store: TradingStore) -> None:
    trader = Trader(store)
    store.record_equity(EquityPoint(T0, 7, 7, 7, 7, 7, 7))
    store.save_state("checkpoint", {"tag": 0})
    with store.transaction():
        write_everything(trader, 1)
        inside = dump(store)
        with pytest.raises(RuntimeError), store.transaction():
            write_everything(trader, 2)
            with store.transaction():  # an inner success inside the failing block
                store.save_state("a", {"deep": True})
            raise RuntimeError
        assert dump(store) == inside
    assert dump(store) == inside


def test_a_failed_outer_block_undoes_its_committed_inner_blocks(store: TradingStore) -> None:
    store.record_equity(EquityPoint(T0, 7, 7, 7, 7, 7, 7))
    store.save_state("checkpoint", {"tag": 0})
    before = dump(store)
    with pytest.raises(RuntimeError), store.transaction():
        with store.transaction():
            write_everything(Trader(store), 1)
        raise RuntimeError
    assert dump(store) == before
    # And the store works on as before.
    write_everything(Trader(store), 3)
    assert store.load_state("checkpoint") == {"tag": 3}


def test_an_order_first_saved_in_an_undone_block_is_new_afterwards(store: TradingStore) -> None:
    a = Order("Qa", "005930", OrderSide.BUY, OrderType.MARKET, 1, T0)
    b = dataclasses.replace(a, client_order_id="Qb")
    c = dataclasses.replace(a, client_order_id="Qc")
    store.save_order(a)
    with pytest.raises(RuntimeError), store.transaction():
        store.save_order(b)
        store.save_order(dataclasses.replace(a, status=OrderStatus.CANCELED))
        raise RuntimeError
    store.save_order(c)
    store.save_order(b)
    assert store.load_orders() == [a, c, b]


def test_a_store_error_inside_a_block_does_not_abort_it(store: TradingStore) -> None:
    with store.transaction():
        store.save_state("a", {"v": 1})
        with pytest.raises(StorageError):
            store.save_state("b", {"bad": float("inf")})
        with pytest.raises(StorageError):
            store.save_order(order_with(qty=0))
        store.save_state("c", {"v": 3})
    assert store.load_state("a") == {"v": 1}
    assert store.load_state("b") is None
    assert store.load_state("c") == {"v": 3}


def test_a_closed_store_refuses_work_and_closes_twice(store: TradingStore) -> None:
    store.close()
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.save_state("k", {})
    with pytest.raises(StorageError, match="closed"):
        store.load_orders()
    with pytest.raises(StorageError, match="closed"), store.transaction():
        pass


def test_closing_inside_a_transaction_ends_it_quietly(store: TradingStore) -> None:
    with store.transaction():
        store.save_state("k", {"v": 1})
        store.close()
    with pytest.raises(StorageError, match="closed"):
        store.load_state("k")
