"""The outbox's serialisation gives back every write call exactly as it was made."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from storage_helpers import META, T0, Trader, trade_some

from qts.core.errors import StorageError
from qts.data import AccountState, DecisionRecord, EquityPoint, MemoryStore
from qts.data.hybrid.codec import FORMAT_VERSION, WRITE_METHODS, decode_op, encode_op
from qts.data.ports import SafetyEventRecord
from qts.model import Order, OrderSide, OrderStatus, OrderType, Position


def round_trip(method: str, args: dict[str, Any]) -> dict[str, Any]:
    decoded_method, decoded = decode_op(encode_op(method, args))
    assert decoded_method == method
    return decoded


def same_types(a: Any, b: Any) -> None:
    """Equal, and equal in type all the way down (1 == 1.0 == True would hide a change)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            same_types(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same_types(x, y)
    elif isinstance(a, datetime):
        assert a == b and a.utcoffset() == b.utcoffset() and a.tzinfo == b.tzinfo
    elif hasattr(a, "__dataclass_fields__"):
        for name in a.__dataclass_fields__:
            same_types(getattr(a, name), getattr(b, name))
    else:
        assert a == b or (a != a and b != b)  # NaN


def test_every_record_of_a_trading_day_round_trips_with_its_types() -> None:
    trader = Trader(MemoryStore())
    trade_some(trader)
    order = next(iter(trader.orders.values()))
    fill = trader.fills[0]
    entry = trader.account.ledger.entries[0]
    position = trader.account.positions[fill.symbol]
    args: dict[str, Any] = {
        "fill": fill,
        "entry": entry,
        "order": order,
        "position": position,
        "cash": trader.account.cash,
        "pending": dict(trader.account.pending),
    }
    same_types(round_trip("record_fill", args), args)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("init_run", {"meta": META}),
        ("save_order", {"order": order}),
        ("save_positions", {"positions": list(trader.account.positions.values())}),
        ("save_account", {"state": AccountState(5, {date(2024, 1, 4): -3})}),
        (
            "record_decisions",
            [
                DecisionRecord(
                    T0, "c1", "005930", "BUY", price=1, qty=2, approved=True,
                    metadata={"confidence": 0.8, "gates": ["cash"], "n": None, "ok": True},
                )
            ],
        ),
        ("record_equity", {"point": EquityPoint(T0, 1, 2, 3, 4, 5, 6)}),
        (
            "record_safety_event",
            {"event": SafetyEventRecord(T0, "report", "FS010", "m", "NORMAL", "FAIL", "kim")},
        ),
        ("save_state", {"key": "checkpoint", "value": {"a": [1, 2.5, "x", {"b": False}]}}),
    ]  # fmt: skip
    for method, call_args in calls:
        if method == "record_decisions":
            call_args = {"rows": call_args}
        same_types(round_trip(method, call_args), call_args)


def test_what_a_store_would_refuse_is_still_kept_faithfully() -> None:
    """The store decides validity, so the codec keeps even bad values as they were."""
    naive = datetime(2024, 1, 2, 9, 0)
    order = Order("Q1", "005930", OrderSide.BUY, OrderType.MARKET, 10, naive)
    order.qty = 0
    order.side = "HOLD"  # type: ignore[assignment]
    order.fill_ids = {"F2", "F1"}
    back = round_trip("save_order", {"order": order})["order"]
    same_types(back, order)
    assert back.created_at.tzinfo is None
    weird: dict[str, Any] = {
        "when": T0,
        "nan": float("nan"),
        "inf": float("-inf"),
        "big": 2**80,
        "tuple": (1, "a"),
        "frozen": frozenset({3, 1}),
        "keys": {1: "int key", date(2024, 1, 2): "date key"},
        "utc": datetime(2024, 1, 2, tzinfo=UTC),
        "fixed": datetime(2024, 1, 2, tzinfo=timezone(timedelta(hours=-5))),
    }
    same_types(round_trip("save_state", {"key": "k", "value": weird})["value"], weird)
    same_types(
        round_trip("save_account", {"state": AccountState(5.5, {date(2024, 1, 4): 1.5})}),  # type: ignore[arg-type]
        {"state": AccountState(5.5, {date(2024, 1, 4): 1.5})},  # type: ignore[arg-type]
    )


def test_a_decoded_record_is_a_fresh_object() -> None:
    order = Order("Q1", "005930", OrderSide.BUY, OrderType.MARKET, 10, T0)
    payload = encode_op("save_order", {"order": order})
    order.fill_ids.add("F-later")
    order.status = OrderStatus.CANCELED
    back = decode_op(payload)[1]["order"]
    assert back.fill_ids == set() and back.status is OrderStatus.NEW
    assert type(back.status) is OrderStatus and type(back.track).__name__ == "Track"


def test_a_payload_of_a_newer_format_is_refused() -> None:
    doc = json.loads(encode_op("save_state", {"key": "k", "value": {}}))
    doc["v"] = FORMAT_VERSION + 1
    with pytest.raises(StorageError, match="format version"):
        decode_op(json.dumps(doc))


def test_a_record_field_this_code_does_not_know_is_refused_and_a_missing_one_defaults() -> None:
    doc = json.loads(encode_op("save_positions", {"positions": [Position("005930", 1, 2)]}))
    fields = doc["a"]["positions"][0]["f"]
    del fields["strategy"]  # an older writer, before the field existed
    back = decode_op(json.dumps(doc))[1]["positions"][0]
    assert back == Position("005930", 1, 2)
    fields["new_in_v9"] = 1
    with pytest.raises(StorageError, match="new_in_v9"):
        decode_op(json.dumps(doc))


def test_unknown_methods_and_unserialisable_values_are_refused() -> None:
    with pytest.raises(StorageError, match="not a write"):
        encode_op("load_orders", {})
    with pytest.raises(StorageError, match="save_state: cannot serialise"):
        encode_op("save_state", {"key": "k", "value": {"x": object()}})
    assert set(WRITE_METHODS) == {
        "init_run", "save_order", "record_fill", "save_positions", "save_account",
        "record_decisions", "record_equity", "record_safety_event", "save_state",
    }  # fmt: skip


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(doc=st.dictionaries(st.text(), json_values))
def test_any_json_document_round_trips_exactly(doc: dict[str, Any]) -> None:
    same_types(round_trip("save_state", {"key": "k", "value": doc})["value"], doc)
