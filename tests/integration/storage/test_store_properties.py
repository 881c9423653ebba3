"""Property: whatever order and fill events the OMS produces, every store gives back unchanged
(and a store that persists gives it back unchanged after reopening, too)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from storage_helpers import T0, StoreFactory, Trader, assert_store_matches

from qts.data import AccountState
from qts.model import Order, OrderSide, OrderStatus

symbols = st.sampled_from(["005930", "000660", "035420"])
prices = st.integers(1_000, 300_000)
index = st.integers(0, 10_000)


class StoreMachine(RuleBasedStateMachine):
    """Drives orders and fills through a Trader; after every step the store must equal memory."""

    def __init__(self, stores: StoreFactory) -> None:
        super().__init__()
        self.stores = stores
        self.location = stores.location()
        self.trader = Trader(stores.open(self.location))
        self.trader.store.save_account(AccountState(self.trader.account.cash, {}))

    def _with(self, status: OrderStatus | None = None) -> list[Order]:
        orders = self.trader.orders.values()
        if status is None:
            return [o for o in orders if not o.status.is_terminal]
        return [o for o in orders if o.status is status]

    def _working(self) -> list[Order]:
        return [o for o in self.trader.orders.values() if o.status.is_open]

    @initialize(symbol=symbols, parts=st.lists(st.integers(1, 30), min_size=1, max_size=4))
    def first_buy(self, symbol: str, parts: list[int]) -> None:
        self.buy_in_parts(symbol, parts)

    @rule(symbol=symbols, parts=st.lists(st.integers(1, 30), min_size=1, max_size=4))
    def buy_in_parts(self, symbol: str, parts: list[int]) -> None:
        """A whole buy: new, submit, and one fill per part (short runs still book fills)."""
        order = self.trader.new_order(symbol, OrderSide.BUY, sum(parts) + 1, 50_000)
        self.trader.submit(order)
        for i, qty in enumerate(parts):
            self.trader.fill(order, qty, 50_000 - 100 * i)

    @rule(symbol=symbols, qty=st.integers(1, 30), limit=st.none() | prices)
    def new_buy(self, symbol: str, qty: int, limit: int | None) -> None:
        self.trader.new_order(symbol, OrderSide.BUY, qty, limit)

    @precondition(lambda self: self.trader.account.open_positions())
    @rule(i=index, qty=st.integers(1, 30))
    def new_sell(self, i: int, qty: int) -> None:
        held = self.trader.account.open_positions()
        position = held[i % len(held)]
        self.trader.new_order(position.symbol, OrderSide.SELL, min(qty, position.qty))

    @precondition(lambda self: self._with(OrderStatus.NEW))
    @rule(i=index)
    def submit(self, i: int) -> None:
        new = self._with(OrderStatus.NEW)
        self.trader.submit(new[i % len(new)])

    @precondition(lambda self: self._working())
    @rule(i=index, qty=st.integers(1, 30), price=prices)
    def fill(self, i: int, qty: int, price: int) -> None:
        working = self._working()
        order = working[i % len(working)]
        qty = min(qty, order.remaining)
        if order.side is OrderSide.SELL:
            qty = min(qty, self.trader.account.held_qty(order.symbol))
        if qty > 0:
            self.trader.fill(order, qty, price)

    @precondition(lambda self: self._with())
    @rule(i=index)
    def cancel(self, i: int) -> None:
        live = self._with()
        order = live[i % len(live)]
        order.cancel("test", self.trader.now())
        self.trader.store.save_order(order)

    @precondition(lambda self: self.trader.fills)
    @rule(i=index)
    def replay(self, i: int) -> None:
        trader = self.trader
        fill = trader.fills[i % len(trader.fills)]
        entry = next(e for e in trader.account.ledger.entries if e.fill_id == fill.fill_id)
        order = trader.orders[fill.client_order_id]
        assert not order.apply_fill(fill.fill_id, fill.qty, fill.price)
        position = trader.account.positions[fill.symbol]
        assert not trader.store.record_fill(fill, entry, order, position, 0, {})

    @precondition(lambda self: self.trader.account.positions)
    @rule(i=index, price=prices)
    def mark(self, i: int, price: int) -> None:
        positions = list(self.trader.account.positions.values())
        position = positions[i % len(positions)]
        position.mark(price)
        self.trader.store.save_positions([position])

    @rule(days=st.integers(0, 6))
    def settle(self, days: int) -> None:
        account = self.trader.account
        account.settle(T0.date() + timedelta(days=days))
        self.trader.store.save_account(AccountState(account.cash, account.pending))

    @precondition(lambda self: self.stores.kind.reopens)
    @rule()
    def reopen(self) -> None:
        self.trader.store.close()
        self.trader.store = self.stores.open(self.location)

    @invariant()
    def store_equals_memory(self) -> None:
        assert_store_matches(self.trader.store, self.trader)

    def teardown(self) -> None:
        trader = self.trader
        n = len(trader.fills)
        event("fills: " + ("0" if n == 0 else "1-9" if n < 10 else "10+"))
        store = trader.store
        if self.stores.kind.reopens:
            store.close()
            store = self.stores.open(self.location)
        assert_store_matches(store, trader)
        assert [o.client_order_id for o in store.load_orders(open_only=True)] == [
            o.client_order_id for o in self._with()
        ]
        assert trader.account.reconcile() == []
        store.close()


def test_loaded_state_equals_the_in_memory_state(store_factory: StoreFactory) -> None:
    class OnThisKind(StoreMachine):
        def __init__(self) -> None:
            super().__init__(store_factory)

    run_state_machine_as_test(
        OnThisKind, settings=settings(max_examples=100, stateful_step_count=40, deadline=None)
    )
