"""Storage test helpers: a small trader that drives the domain model the way the OMS will."""

from __future__ import annotations

from datetime import datetime, timedelta

from qts.core.time import kst
from qts.data import AccountState, TradingStore
from qts.model import Account, Fill, Order, OrderSide, OrderType

T0 = kst(2024, 1, 2, 9, 0)


class Trader:
    """Applies orders and fills to an in-memory account and persists each step before the next."""

    def __init__(self, store: TradingStore, initial_cash: int = 100_000_000) -> None:
        self.store = store
        self.account = Account(initial_cash)
        self.orders: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self.tick = 0

    def now(self) -> datetime:
        self.tick += 1
        return T0 + timedelta(minutes=self.tick)

    def new_order(
        self, symbol: str, side: OrderSide, qty: int, limit_price: int | None = None
    ) -> Order:
        order = Order(
            client_order_id=f"Q{len(self.orders) + 1:05d}",
            symbol=symbol,
            side=side,
            order_type=OrderType.LIMIT if limit_price else OrderType.MARKET,
            qty=qty,
            created_at=self.now(),
            limit_price=limit_price,
            strategy="swing_ma",
        )
        self.orders[order.client_order_id] = order
        self.store.save_order(order)
        return order

    def submit(self, order: Order) -> None:
        order.submit(f"V-{order.client_order_id}", self.now())
        self.store.save_order(order)

    def fill(self, order: Order, qty: int, price: int) -> Fill:
        ts = self.now()
        amount = qty * price
        fill = Fill(
            fill_id=f"F-{order.client_order_id}-{len(order.fill_ids) + 1}",
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=price,
            ts=ts,
            commission=amount * 15 // 100_000,
            tax=amount * 18 // 10_000 if order.side is OrderSide.SELL else 0,
        )
        assert order.apply_fill(fill.fill_id, qty, price, ts)
        entry = self.account.apply_fill(fill, ts.date() + timedelta(days=2), strategy="swing_ma")
        position = self.account.positions[fill.symbol]
        assert self.store.record_fill(
            fill, entry, order, position, self.account.cash, self.account.pending
        )
        self.fills.append(fill)
        return fill


def assert_store_matches(store: TradingStore, trader: Trader) -> None:
    assert {o.client_order_id: o for o in store.load_orders()} == trader.orders
    assert store.load_fills() == trader.fills
    assert store.load_ledger() == trader.account.ledger.entries
    assert store.load_positions() == trader.account.positions
    assert store.load_account() == AccountState(trader.account.cash, trader.account.pending)
