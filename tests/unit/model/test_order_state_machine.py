"""The order state machine: every (from, to) pair, fill accounting, and random sequences."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from itertools import count, product

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from qts.core.errors import IllegalTransition
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.order import Order, can_transition

S = OrderStatus
TS = datetime(2024, 3, 4, 9, 0, 0)

# The rules, written out independently of qts.model.order._ALLOWED.
ALLOWED: dict[OrderStatus, set[OrderStatus]] = {
    S.NEW: {S.SUBMITTED, S.REJECTED, S.CANCELED},
    S.SUBMITTED: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED},
    S.PARTIALLY_FILLED: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED},
    S.FILLED: set(),
    S.CANCELED: set(),
    S.REJECTED: set(),
    S.EXPIRED: set(),
}
TERMINAL = {S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED}
QTY = 10


def new_order(qty: int = QTY) -> Order:
    return Order("c1", "005930", OrderSide.BUY, OrderType.LIMIT, qty, TS, limit_price=70_000)


def order_in(status: OrderStatus) -> Order:
    """A LIMIT BUY of 10 shares driven to ``status`` through the public methods only."""
    order = new_order()
    if status is S.NEW:
        pass
    elif status is S.REJECTED:
        order.reject("pre-trade risk")
    else:
        order.submit("V1")
        if status is S.PARTIALLY_FILLED:
            order.apply_fill("seed", 4, 70_000)
        elif status is S.FILLED:
            order.apply_fill("seed", QTY, 70_000)
        elif status is S.CANCELED:
            order.cancel("user")
        elif status is S.EXPIRED:
            order.expire()
    assert order.status is status
    return order


def attempt(order: Order, target: OrderStatus) -> Callable[[], object]:
    """The public call that asks ``order`` to move to ``target``."""
    if target is S.SUBMITTED:
        return lambda: order.submit("V2")
    if target is S.PARTIALLY_FILLED:
        # one share less than what remains (at least one share)
        return lambda: order.apply_fill("try", max(1, order.remaining - 1), 70_100)
    if target is S.FILLED:
        return lambda: order.apply_fill("try", max(1, order.remaining), 70_100)
    if target is S.CANCELED:
        return lambda: order.cancel("try")
    if target is S.REJECTED:
        return lambda: order.reject("try")
    if target is S.EXPIRED:
        return lambda: order.expire("try")
    raise AssertionError(f"no public method moves an order to {target}")


def _snapshot(order: Order) -> Order:
    return copy.deepcopy(order)


def test_status_helpers_match_the_table() -> None:
    for status in S:
        assert status.is_terminal == (status in TERMINAL)
        assert status.is_open == (status in {S.SUBMITTED, S.PARTIALLY_FILLED})
        assert status.is_terminal == (not ALLOWED[status])


@pytest.mark.parametrize(("src", "dst"), list(product(S, S)), ids=lambda s: str(s))
def test_can_transition_covers_every_pair(src: OrderStatus, dst: OrderStatus) -> None:
    assert can_transition(src, dst) == (dst in ALLOWED[src])


@pytest.mark.parametrize(
    ("src", "dst"),
    [(a, b) for a, b in product(S, S) if b is not S.NEW],
    ids=lambda s: str(s),
)
def test_every_transition_through_the_public_methods(src: OrderStatus, dst: OrderStatus) -> None:
    order = order_in(src)
    before = _snapshot(order)
    call = attempt(order, dst)
    if dst in ALLOWED[src]:
        call()
        assert order.status is dst
    else:
        with pytest.raises(IllegalTransition) as info:
            call()
        assert info.value.current == src
        assert order == before, "a refused transition must leave the order untouched"


def test_nothing_returns_to_new() -> None:
    # No method targets NEW; the table must not allow it from anywhere either.
    assert not any(can_transition(s, S.NEW) for s in S)


def test_submit_records_venue_id_and_timestamp() -> None:
    order = new_order()
    ts = datetime(2024, 3, 4, 9, 0, 1)
    order.submit("V77", ts)
    assert order.venue_order_id == "V77"
    assert order.updated_at == ts
    order.cancel(ts=None)  # no timestamp: the previous one is kept
    assert order.updated_at == ts


def test_partial_fills_accumulate() -> None:
    order = order_in(S.SUBMITTED)
    assert order.apply_fill("f1", 3, 70_000) is True
    assert (order.status, order.filled_qty, order.remaining) == (S.PARTIALLY_FILLED, 3, 7)
    assert order.apply_fill("f2", 5, 70_100) is True
    assert (order.status, order.filled_qty, order.remaining) == (S.PARTIALLY_FILLED, 8, 2)
    assert order.filled_amount == 3 * 70_000 + 5 * 70_100
    assert order.apply_fill("f3", 2, 69_900) is True
    assert (order.status, order.filled_qty, order.remaining) == (S.FILLED, 10, 0)
    assert order.filled_amount == 3 * 70_000 + 5 * 70_100 + 2 * 69_900
    assert order.avg_fill_price == pytest.approx(order.filled_amount / 10)
    assert order.fill_ids == {"f1", "f2", "f3"}


def test_single_fill_of_everything_goes_straight_to_filled() -> None:
    order = order_in(S.SUBMITTED)
    order.apply_fill("f1", QTY, 1)
    assert order.status is S.FILLED
    assert order.avg_fill_price == 1


def test_duplicate_fill_id_is_ignored() -> None:
    order = order_in(S.SUBMITTED)
    assert order.apply_fill("f1", 4, 70_000)
    before = _snapshot(order)
    # same id, even with other numbers: a replay, not a new execution
    assert order.apply_fill("f1", 4, 70_000) is False
    assert order.apply_fill("f1", 1, 1) is False
    assert order == before
    # also after the order is complete (late replays from the venue)
    order.apply_fill("f2", 6, 70_000)
    done = _snapshot(order)
    assert order.apply_fill("f1", 4, 70_000) is False
    assert order.apply_fill("f2", 6, 70_000) is False
    assert order == done


@pytest.mark.parametrize("qty", [11, 100, 0, -1])
def test_bad_fill_quantity_raises_and_changes_nothing(qty: int) -> None:
    order = order_in(S.SUBMITTED)
    before = _snapshot(order)
    with pytest.raises(ValueError, match="remaining"):
        order.apply_fill("f1", qty, 70_000)
    assert order == before


def test_over_fill_after_partial_raises() -> None:
    order = order_in(S.PARTIALLY_FILLED)  # 4 of 10 filled
    before = _snapshot(order)
    with pytest.raises(ValueError):
        order.apply_fill("f9", 7, 70_000)
    assert order == before
    assert "f9" not in order.fill_ids  # a refused fill id may come again, correctly sized
    assert order.apply_fill("f9", 6, 70_000)
    assert order.status is S.FILLED


@pytest.mark.parametrize("price", [0, -70_000])
def test_non_positive_fill_price_raises(price: int) -> None:
    order = order_in(S.SUBMITTED)
    before = _snapshot(order)
    with pytest.raises(ValueError, match="price"):
        order.apply_fill("f1", 1, price)
    assert order == before


@pytest.mark.parametrize("status", sorted(TERMINAL | {S.NEW}))
def test_fill_on_a_closed_or_unsent_order_is_an_illegal_transition(status: OrderStatus) -> None:
    # Even when the quantity would also be wrong: the state is what is wrong.
    for qty in (1, QTY, QTY + 1, 0):
        order = order_in(status)
        before = _snapshot(order)
        with pytest.raises(IllegalTransition):
            order.apply_fill("late", qty, 70_000)
        assert order == before


def test_limit_order_needs_a_positive_price() -> None:
    for price in (None, 0, -1):
        with pytest.raises(ValueError, match="LIMIT"):
            Order("c", "005930", OrderSide.BUY, OrderType.LIMIT, 1, TS, limit_price=price)


def test_market_order_takes_no_price() -> None:
    with pytest.raises(ValueError, match="MARKET"):
        Order("c", "005930", OrderSide.SELL, OrderType.MARKET, 1, TS, limit_price=70_000)
    ok = Order("c", "005930", OrderSide.SELL, OrderType.MARKET, 1, TS)
    assert ok.limit_price is None
    assert ok.status is S.NEW


@pytest.mark.parametrize("qty", [0, -1, -100])
@pytest.mark.parametrize("order_type", list(OrderType))
def test_quantity_must_be_positive(qty: int, order_type: OrderType) -> None:
    price = 70_000 if order_type is OrderType.LIMIT else None
    with pytest.raises(ValueError, match="qty"):
        Order("c", "005930", OrderSide.BUY, order_type, qty, TS, limit_price=price)


def test_fresh_order_state() -> None:
    order = new_order()
    assert order.status is S.NEW
    assert (order.filled_qty, order.filled_amount, order.remaining) == (0, 0, QTY)
    assert order.avg_fill_price is None
    assert order.fill_ids == set()


# --- random sequences -------------------------------------------------------------------------


class OrderMachine(RuleBasedStateMachine):
    """Drive one order with random calls; an independent model predicts every outcome."""

    def __init__(self) -> None:
        super().__init__()
        self.order = new_order()
        self.applied: list[tuple[str, int, int]] = []
        self.ids = count()
        self.terminal_status: OrderStatus | None = None

    @initialize(
        qty=st.integers(1, 50),
        order_type=st.sampled_from(list(OrderType)),
        side=st.sampled_from(list(OrderSide)),
    )
    def make_order(self, qty: int, order_type: OrderType, side: OrderSide) -> None:
        price = 1_000 if order_type is OrderType.LIMIT else None
        self.order = Order("m1", "000660", side, order_type, qty, TS, limit_price=price)

    def _expect(self, target: OrderStatus, call: Callable[[], object]) -> None:
        before = _snapshot(self.order)
        if target in ALLOWED[before.status]:
            call()
            assert self.order.status is target
        else:
            with pytest.raises(IllegalTransition):
                call()
            assert self.order == before

    @rule()
    def submit(self) -> None:
        self._expect(S.SUBMITTED, lambda: self.order.submit(f"V{next(self.ids)}"))

    @rule(qty=st.integers(-2, 60), price=st.integers(1, 2_000_000))
    def fill(self, qty: int, price: int) -> None:
        order = self.order
        before = _snapshot(order)
        fill_id = f"f{next(self.ids)}"
        if not before.status.is_open:
            with pytest.raises(IllegalTransition):
                order.apply_fill(fill_id, qty, price)
            assert order == before
        elif qty <= 0 or qty > before.remaining:
            with pytest.raises(ValueError):
                order.apply_fill(fill_id, qty, price)
            assert order == before
        else:
            assert order.apply_fill(fill_id, qty, price) is True
            self.applied.append((fill_id, qty, price))
            expected = S.FILLED if qty == before.remaining else S.PARTIALLY_FILLED
            assert order.status is expected
            assert order.filled_qty == before.filled_qty + qty

    @precondition(lambda self: bool(self.applied))
    @rule(data=st.data())
    def replay_fill(self, data: st.DataObject) -> None:
        fill_id, qty, price = data.draw(st.sampled_from(self.applied))
        before = _snapshot(self.order)
        assert self.order.apply_fill(fill_id, qty, price) is False
        assert self.order == before

    @rule()
    def cancel(self) -> None:
        self._expect(S.CANCELED, lambda: self.order.cancel("user"))

    @rule()
    def reject(self) -> None:
        self._expect(S.REJECTED, lambda: self.order.reject("venue"))

    @rule()
    def expire(self) -> None:
        self._expect(S.EXPIRED, lambda: self.order.expire())

    @invariant()
    def quantities_in_range(self) -> None:
        assert 0 <= self.order.filled_qty <= self.order.qty
        assert self.order.remaining == self.order.qty - self.order.filled_qty

    @invariant()
    def filled_iff_complete(self) -> None:
        assert (self.order.status is S.FILLED) == (self.order.filled_qty == self.order.qty)

    @invariant()
    def fills_add_up(self) -> None:
        assert self.order.filled_qty == sum(q for _, q, _ in self.applied)
        assert self.order.filled_amount == sum(q * p for _, q, p in self.applied)
        assert self.order.fill_ids == {f for f, _, _ in self.applied}

    @invariant()
    def terminal_is_forever(self) -> None:
        status = self.order.status
        if self.terminal_status is not None:
            assert status is self.terminal_status
        elif status.is_terminal:
            self.terminal_status = status

    @invariant()
    def fills_only_after_submission(self) -> None:
        if self.applied:
            assert self.order.venue_order_id is not None
            assert self.order.status in {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}


OrderMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=30, deadline=None)
TestOrderMachine = OrderMachine.TestCase
