"""Property tests: the catalogue's hash encodings round-trip exactly, malformed fields are named,
and the circuit breaker follows its state machine for any sequence of outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qts.cache.breaker import BreakerState, CircuitBreaker
from qts.cache.values import CachedPosition, OrderStatusView, PriceQuote, RiskState
from qts.core.clock import SimulatedClock
from qts.model.enums import OrderSide, OrderType, Track
from qts.model.order import Order

won = st.integers(min_value=0, max_value=10**12)
stamp = st.integers(min_value=0, max_value=4_000_000_000_000).map(
    lambda ms: datetime.fromtimestamp(ms / 1000, tz=UTC)
)


@given(
    last=st.integers(1, 10**9),
    bid=won,
    ask=won,
    volume=won,
    ts=stamp,
)
def test_price_round_trip(last: int, bid: int, ask: int, volume: int, ts: datetime) -> None:
    q = PriceQuote("005930", last, bid, ask, volume, ts)
    assert PriceQuote.from_hash("005930", q.to_hash()) == q


@given(
    qty=st.integers(0, 10**7),
    cost=won,
    last=won,
    pnl=st.integers(-(10**12), 10**12),
    pct=st.decimals(0, 10, places=6),
    opened=st.none() | stamp,
    track=st.sampled_from(list(Track)),
)
def test_position_round_trip(
    qty: int, cost: int, last: int, pnl: int, pct: Decimal, opened: datetime | None, track: Track
) -> None:
    avg = Decimal(cost) / qty if qty else Decimal(0)
    p = CachedPosition("A", qty, cost, avg, last, pnl, pct, opened, track)
    assert CachedPosition.from_hash("A", p.to_hash()) == p


@given(st.lists(st.integers(-(10**12), 10**12), min_size=6, max_size=6), st.integers(0, 100))
def test_risk_round_trip(v: list[int], count: int) -> None:
    r = RiskState(v[0], v[1], v[2], v[3], count, Decimal("0.8"), v[4], v[5])
    assert RiskState.from_hash(r.to_hash()) == r


def test_order_status_round_trip() -> None:
    o = OrderStatusView("c1", "005930", "PARTIALLY_FILLED", 30, 70, Decimal("70100.5000"))
    assert OrderStatusView.from_hash("c1", o.to_hash()) == o


@given(
    qty=st.integers(1, 10_000),
    fills=st.lists(st.tuples(st.integers(1, 500), st.integers(1, 10**7)), max_size=6),
)
@settings(max_examples=200)
def test_an_orders_hash_is_its_views_hash(qty: int, fills: list[tuple[int, int]]) -> None:
    """The write-through's direct hash equals the view's, at every step of an order's fills."""
    order = Order(
        "c1",
        "005930",
        OrderSide.BUY,
        OrderType.LIMIT,
        qty,
        datetime(2026, 3, 3, tzinfo=UTC),
        70_000,
    )
    order.submit("V1", order.created_at)
    for k, (q, price) in enumerate(fills):
        assert OrderStatusView.hash_of(order) == OrderStatusView.of(order).to_hash()
        if q > order.remaining:
            break
        order.apply_fill(f"f{k}", q, price, order.created_at)
    assert OrderStatusView.hash_of(order) == OrderStatusView.of(order).to_hash()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("qty", "ten", "pos:A: field 'qty' is not an integer: 'ten'"),
        ("qty", "-1", "pos:A: field 'qty' must not be negative"),
        ("avg_price", "x", "pos:A: field 'avg_price' is not a decimal"),
        ("track", "DAY", "pos:A: field 'track' is not a track: 'DAY'"),
    ],
)
def test_a_malformed_position_field_is_named(field: str, value: str, message: str) -> None:
    h = CachedPosition.flat("A").to_hash()
    h[field] = value
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        CachedPosition.from_hash("A", h)


def test_a_price_must_be_positive() -> None:
    h = PriceQuote("A", 1, 1, 1, 1, datetime(2026, 1, 5, tzinfo=UTC)).to_hash()
    h["last"] = "0"
    with pytest.raises(ValueError, match="price:A: field 'last' must be positive"):
        PriceQuote.from_hash("A", h)


# --- the breaker as a state machine -------------------------------------------------------

step = st.sampled_from(["ok", "fail", "wait10", "wait60"])


@settings(max_examples=200)
@given(st.lists(step, max_size=60))
def test_breaker_follows_its_state_machine(steps: list[str]) -> None:
    clock = SimulatedClock(datetime(2026, 1, 5, tzinfo=UTC))
    b = CircuitBreaker(clock)
    state, failures, opened_at = BreakerState.CLOSED, 0, None
    for s in steps:
        if s.startswith("wait"):
            clock.advance(timedelta(seconds=int(s[4:])))
            continue
        allowed = b.allow()
        # the model: closed allows; open allows nothing until 60 s, then exactly one probe
        if state is BreakerState.OPEN:
            assert opened_at is not None
            if clock.now() - opened_at >= timedelta(seconds=60):
                state = BreakerState.HALF_OPEN
                assert allowed
            else:
                assert not allowed
                continue
        else:
            assert allowed
        if s == "ok":
            b.success()
            state, failures = BreakerState.CLOSED, 0
        else:
            b.failure("x")
            failures += 1
            if state is BreakerState.HALF_OPEN or failures >= 5:
                state, opened_at = BreakerState.OPEN, clock.now()
        assert b.state is state
