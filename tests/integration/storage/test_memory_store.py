"""What only MemoryStore needs checked: that it answers exactly as SqliteStore does, its zone
and thread rules, and the few places where it deliberately refuses what SQLite would coerce.

The port's semantics are in test_store_contract.py, which runs against MemoryStore too.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from storage_helpers import T0, Trader, assert_store_matches, trade_some

from qts.core.errors import StorageError
from qts.data import (
    AccountState,
    DecisionRecord,
    EquityPoint,
    MemoryStore,
    RunMeta,
    SqliteStore,
    TradingStore,
)
from qts.data.ports import SafetyEventRecord
from qts.model import Fill, LedgerEntry, Order, OrderSide, OrderStatus, OrderType, Position

# ---------------------------------------------------------------- same answers as SqliteStore
#
# Both stores get the same calls, valid or not, inside and outside (nested) transactions that
# commit or fail; after every step each read must give the same value or both must refuse.
# Inputs stay inside what the port's types allow, except for the documented differences.

NAIVE = datetime(2024, 1, 2, 9, 0)
INSTANTS = [T0, T0.astimezone(UTC), T0 + timedelta(microseconds=1), T0 + timedelta(hours=1)]
ODD_INTS: list[Any] = [True, 10.0, 1.5, 2**63, -(2**63) - 1, None]

instants = st.sampled_from(INSTANTS)
cids = st.sampled_from(["Q1", "Q2", "Q3"])
fill_ids = st.sampled_from(["F1", "F2", "F3", "F4"])
symbols = st.sampled_from(["005930", "000660"])
small = st.integers(-2, 12)
money = st.one_of(st.integers(-100_000, 100_000), st.integers(0, 100), st.sampled_from(ODD_INTS))
keys = st.sampled_from(["checkpoint", "failsafe"])
documents = st.sampled_from(
    [{"cycle": 1}, {"cycle": 2, "done": ["Q1"]}, {}, {"bad": float("nan")}, {"bad": T0}, [1, 2]]
)
ORDER_SPOILS: list[tuple[str, Any]] = [
    ("side", "HOLD"),
    ("side", "SELL"),
    ("qty", 0),
    ("qty", 10.0),
    ("qty", True),
    ("created_at", NAIVE),
    ("filled_qty", -1),
    ("filled_amount", 1.5),
    ("reason", None),
    ("limit_price", 2**63),
    ("order_type", OrderType.MARKET),  # a MARKET order with a limit: stored, cannot load
]

FILL_SPOILS = [
    *["none"] * 8,
    "seq-low",
    "seq-high",
    "naive",
    "identity",
    "order",
    "unapplied",
    "entry-order",
    "position-symbol",
    "position-qty",
    "cost",
    "cash",
    "pending",
    "pnl",
]


@st.composite
def orders(draw: st.DrawFn, cid: str | None = None, spoil: bool | None = None) -> Order:
    """An order in any state; ``spoil`` (by default one time in four) sets one field wrong."""
    limit = draw(st.sampled_from([None, 70_000, 70_100]))
    order = Order(
        cid or draw(cids),
        draw(symbols),
        draw(st.sampled_from(list(OrderSide))),
        OrderType.LIMIT if limit else OrderType.MARKET,
        10,
        draw(instants),
        limit,
        status=draw(st.sampled_from(list(OrderStatus))),
        filled_qty=draw(st.integers(0, 10)),
        fill_ids=draw(st.sets(fill_ids, max_size=2)),
        updated_at=draw(st.none() | instants),
    )
    if spoil or (spoil is None and draw(st.integers(0, 3)) == 0):
        name, value = draw(st.sampled_from(ORDER_SPOILS))
        setattr(order, name, value)
    return order


def fresh(order: Order) -> Order:
    """A copy that keeps even the fields a valid Order could not be built with."""
    twin = copy.copy(order)
    twin.fill_ids = set(order.fill_ids)
    return twin


def strict(value: Any) -> Any:
    """``value`` as nested tuples that also compare types, zones and order: True is not 1, a
    UTC time is not the same instant in KST, and {a: 1, b: 2} is not {b: 2, a: 1}."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return (type(value).__name__, tuple(strict(getattr(value, f.name)) for f in fields))
    if isinstance(value, dict):
        return ("dict", tuple((strict(k), strict(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(strict(v) for v in value))
    if isinstance(value, set | frozenset):
        return (type(value).__name__, tuple(sorted(strict(v) for v in value)))
    if isinstance(value, datetime):
        return ("datetime", value.isoformat(), str(value.tzinfo))
    return (type(value).__name__, value)


def outcome(read: Callable[[], Any]) -> tuple[str, Any]:
    """What a call gave back (compared strictly), or that the store refused it."""
    try:
        return ("ok", strict(read()))
    except StorageError:
        return ("refused", None)


READS: list[Callable[[TradingStore], Any]] = [
    lambda s: s.run_meta(),
    lambda s: s.load_orders(),
    lambda s: s.load_orders(open_only=True),
    lambda s: s.get_order("Q1"),
    lambda s: s.load_fills(),
    lambda s: s.load_ledger(),
    lambda s: s.load_positions(),
    lambda s: s.load_account(),
    lambda s: s.load_decisions(),
    lambda s: s.load_decisions("c1"),
    lambda s: s.load_equity(),
    lambda s: s.load_safety_events(),
    lambda s: s.load_safety_events(2),
    lambda s: s.load_state("checkpoint"),
    lambda s: s.load_state("failsafe"),
]


class SameAnswers(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sqlite = SqliteStore(":memory:", durable=False)
        self.memory = MemoryStore()
        self.blocks: list[tuple[AbstractContextManager[None], ...]] = []

    def both(self, name: str, call: Callable[[TradingStore], Any], count: bool = True) -> None:
        """Make the same call on both stores: the same answer, or both refuse."""
        expected = outcome(lambda: call(self.sqlite))
        assert outcome(lambda: call(self.memory)) == expected, name
        kind, value = expected
        if count:
            event(f"{name}: {value[1] if kind == 'ok' and value[0] == 'bool' else kind}")

    @invariant()
    def every_read_agrees(self) -> None:
        for read in READS:
            self.both("read", read, count=False)

    # ---- transactions

    @precondition(lambda self: len(self.blocks) < 3)
    @rule()
    def begin(self) -> None:
        block = (self.sqlite.transaction(), self.memory.transaction())
        for b in block:
            b.__enter__()
        self.blocks.append(block)

    @precondition(lambda self: self.blocks)
    @rule(fail=st.booleans())
    def end(self, fail: bool) -> None:
        error = RuntimeError("the block fails")
        for b in self.blocks.pop():
            if fail:
                b.__exit__(RuntimeError, error, None)
            else:
                b.__exit__(None, None, None)

    # ---- writes

    @rule(
        run_id=st.sampled_from(["run-1", "run-2"]),
        cash=st.sampled_from([100, -1, 1.5]),
        started=st.sampled_from([T0, NAIVE]),
        config=st.sampled_from([{}, {"k": [1]}, {"bad": float("inf")}]),
    )
    def init_run(self, run_id: str, cash: Any, started: datetime, config: dict[str, Any]) -> None:
        self.both(
            "init_run", lambda s: s.init_run(RunMeta(run_id, "backtest", cash, started, 1, config))
        )

    @rule(order=orders())
    def save_order(self, order: Order) -> None:
        self.both("save_order", lambda s: s.save_order(fresh(order)))

    @rule(data=st.data(), fill_id=fill_ids, symbol=symbols, spoil=st.sampled_from(FILL_SPOILS))
    def record_fill(self, data: st.DataObject, fill_id: str, symbol: str, spoil: str) -> None:
        """A fill of the order it names, right in every part but (sometimes) one."""
        draw = data.draw
        seq = len(self.sqlite.load_ledger()) + {"seq-low": 0, "seq-high": 2}.get(spoil, 1)
        ts = NAIVE if spoil == "naive" else draw(instants)
        cid = draw(cids)
        try:
            stored = self.sqlite.get_order(cid)
        except StorageError:  # an order saved in a state that cannot be loaded back
            stored = None
        order = draw(orders(cid, spoil=spoil == "order"))
        if stored is not None and spoil not in ("identity", "order"):
            order = fresh(stored)  # the same order, in the state the draw gave it
            order.status = draw(st.sampled_from(list(OrderStatus)))
        order.updated_at = ts
        if spoil != "unapplied":
            order.fill_ids.add(fill_id)
        fill = Fill(fill_id, cid, symbol, OrderSide.BUY, 1, 70_000, ts, 10, 0)
        entry = LedgerEntry(
            seq, ts, symbol, "KOSPI", OrderSide.BUY, 1, 70_000, 70_000, 10, 0, -70_010,
            "Q9" if spoil == "entry-order" else cid, fill_id, "s", 1,
            draw(money) if spoil == "pnl" else 0, "2024-01-04",
        )  # fmt: skip
        position = Position(
            "035420" if spoil == "position-symbol" else symbol,
            -1 if spoil == "position-qty" else draw(st.integers(0, 12)),
            draw(money) if spoil == "cost" else 70_000,
            opened_at=draw(st.none() | instants),
        )
        cash = draw(money) if spoil == "cash" else 1_000
        pending = {date(2024, 1, 4): draw(money) if spoil == "pending" else -70_010}

        def call(s: TradingStore) -> bool:
            return s.record_fill(fill, entry, fresh(order), copy.copy(position), cash, pending)

        self.both("record_fill", call)

    @rule(
        rows=st.lists(
            st.builds(
                Position, symbols, small, money, money, money, st.none() | instants | st.just(NAIVE)
            ),
            max_size=3,
        )
    )
    def save_positions(self, rows: list[Position]) -> None:
        self.both("save_positions", lambda s: s.save_positions(copy.copy(p) for p in rows))

    @rule(cash=money, pending=st.dictionaries(st.dates(), money, max_size=3))
    def save_account(self, cash: Any, pending: dict[date, Any]) -> None:
        self.both("save_account", lambda s: s.save_account(AccountState(cash, dict(pending))))

    @rule(
        rows=st.lists(
            st.builds(
                DecisionRecord,
                instants | st.just(NAIVE),
                st.sampled_from(["c1", "c2"]),
                symbols,
                st.sampled_from(["BUY", "HOLD"]),
                price=st.none() | money,
                approved=st.sampled_from([True, False, 1, 2]),
                metadata=st.sampled_from([{}, {"x": [1.5]}, {"bad": float("nan")}]),
            ),
            max_size=3,
        )
    )
    def record_decisions(self, rows: list[DecisionRecord]) -> None:
        self.both("record_decisions", lambda s: s.record_decisions(list(rows)))

    @rule(ts=instants | st.just(NAIVE), cash=money)
    def record_equity(self, ts: datetime, cash: Any) -> None:
        self.both("record_equity", lambda s: s.record_equity(EquityPoint(ts, cash, 0, 1, 2, 3, 4)))

    @rule(ts=instants | st.just(NAIVE), code=st.sampled_from(["FS010", None]))
    def record_safety_event(self, ts: datetime, code: Any) -> None:
        event = SafetyEventRecord(ts, "report", code, "m", "NORMAL", "WARNING")
        self.both("record_safety_event", lambda s: s.record_safety_event(event))

    @rule(key=keys, document=documents)
    def save_state(self, key: str, document: Any) -> None:
        self.both("save_state", lambda s: s.save_state(key, document))

    def teardown(self) -> None:
        while self.blocks:
            self.end(fail=False)
            self.every_read_agrees()
        self.sqlite.close()
        self.memory.close()


SameAnswers.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
test_memory_store_answers_as_sqlite_does = SameAnswers.TestCase


# ---------------------------------------------------------------- zone, thread, lifecycle


def test_timestamps_come_back_in_the_store_zone() -> None:
    with MemoryStore(tz=UTC) as store:
        trader = Trader(store)
        trade_some(trader)
        store.record_equity(EquityPoint(T0, 0, 0, 0, 0, 0, 0))
        (point,) = store.load_equity()
        assert point.ts == T0
        assert point.ts.utcoffset() == timedelta(0)
        assert all(f.ts.tzinfo is UTC for f in store.load_fills())
        assert_store_matches(store, trader)


def test_the_store_belongs_to_the_thread_that_created_it() -> None:
    store = MemoryStore()
    errors: list[BaseException] = []

    def other() -> None:
        for call in (store.load_orders, store.close, lambda: store.save_state("k", {})):
            try:
                call()
            except BaseException as exc:
                errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert len(errors) == 3 and all(isinstance(e, StorageError) for e in errors)
    assert store.load_state("k") is None  # still open, and nothing was written
    store.close()


# ---------------------------------------------------------------- deliberate differences


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("qty", "10"),  # SQLite would store the integer 10
        ("symbol", 5930),  # SQLite would store the text '5930'
        ("status", "PENDING"),  # SQLite would store it, then fail to load the order
        ("fill_ids", {1}),  # SQLite would store the JSON number and give back an int
    ],
)
def test_values_outside_the_port_types_are_refused(field: str, value: Any) -> None:
    order = Order("Q1", "005930", OrderSide.BUY, OrderType.MARKET, 10, T0)
    setattr(order, field, value)
    with MemoryStore() as store:
        with pytest.raises(StorageError, match=f"save_order Q1: order {field}"):
            store.save_order(order)
        assert store.load_orders() == []


def test_bools_and_integral_floats_are_stored_as_int_like_sqlite() -> None:
    with MemoryStore() as store:
        store.save_positions([Position("005930", True, 70_000.0)])  # type: ignore[arg-type]
        (position,) = store.load_positions().values()
        assert type(position.qty) is int and position.qty == 1
        assert type(position.cost_basis) is int and position.cost_basis == 70_000


# ---------------------------------------------------------------- a position saved again


def test_a_position_saved_again_is_checked_and_stored_whole() -> None:
    """save_positions rebuilds a row from the stored one when only the mark moved (the
    commit's case): a new mark is stored, a bad one refused, and a changed field checked."""
    with MemoryStore() as store:
        pos = Position("005930", 10, 700_000, 5, 70_000, T0, strategy="s")
        pos.high_since_open, pos.low_since_open = 71_000, 69_000
        store.save_positions([pos])
        pos.mark(72_000)
        store.save_positions([pos])
        assert store.load_positions() == {"005930": pos}
        stored = dataclasses.replace(pos)
        pos.last_price = 72_500.5  # type: ignore[assignment]
        with pytest.raises(StorageError, match="position last_price"):
            store.save_positions([pos])
        pos.last_price, pos.qty = 72_000, -1
        with pytest.raises(StorageError, match="position qty"):
            store.save_positions([pos])
        assert store.load_positions() == {"005930": stored}
        pos.qty, pos.cost_basis, pos.high_since_open = 20, 1_420_000, 73_000
        with pytest.raises(RuntimeError), store.transaction():
            store.save_positions([pos])
            assert store.load_positions() == {"005930": pos}
            raise RuntimeError("undo")
        assert store.load_positions() == {"005930": stored}
        store.save_positions([pos, pos])
        assert store.load_positions() == {"005930": pos}
