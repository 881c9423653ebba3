"""Storage test helpers: the adapters under test, and a small trader that drives the domain
model the way the OMS will."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pg_helpers import POOLS, TARGETS

from qts.core.time import kst
from qts.data import AccountState, MemoryStore, RunMeta, SqliteStore, TradingStore
from qts.data.hybrid import DataSourceMode, HybridStore, Outbox
from qts.data.sheets.fake.testing import open_store_at as open_sheets_store
from qts.model import Account, Fill, Order, OrderSide, OrderType

T0 = kst(2024, 1, 2, 9, 0)


@dataclass(frozen=True)
class StoreKind:
    """How to open one adapter at a location; ``reopens``: opening the same location again
    sees what the last store there committed."""

    name: str
    open: Callable[[Path], TradingStore]
    reopens: bool


def open_hybrid(path: Path) -> TradingStore:
    """Dual-write: SQLite as the sheets side (read first), memory as the database side."""
    sheets, outbox = SqliteStore(path.with_suffix(".sqlite")), Outbox(path.with_suffix(".outbox"))
    return HybridStore(sheets, MemoryStore(), outbox, DataSourceMode.DUAL_WRITE)


# Every TradingStore adapter, once: the contract tests run against each. Adding one is one line.
STORE_KINDS = (
    StoreKind("sqlite", lambda path: SqliteStore(path.with_suffix(".sqlite")), reopens=True),
    StoreKind("memory", lambda path: MemoryStore(), reopens=False),
    StoreKind("hybrid", open_hybrid, reopens=False),
    StoreKind("sheets", open_sheets_store, reopens=True),  # on a local Sheets API fake
    # PostgreSQL in each storage mode the tests have a server for (pg_helpers.TARGETS)
    *(
        StoreKind(
            "postgres" if t.mode == "plain" else f"postgres-{t.mode}",
            POOLS[t.mode].open_store,
            reopens=True,
        )
        for t in TARGETS
    ),
)


class StoreFactory:
    """Opens stores of one kind, each at a fresh location under ``directory`` unless told
    where; :meth:`close_all` closes every one it opened."""

    def __init__(self, kind: StoreKind, directory: Path) -> None:
        self.kind = kind
        self.directory = directory
        self.opened: list[TradingStore] = []

    def location(self) -> Path:
        """A location no store of this factory has used."""
        return self.directory / f"store-{len(self.opened)}"

    def open(self, location: Path) -> TradingStore:
        store = self.kind.open(location)
        self.opened.append(store)
        return store

    def __call__(self) -> TradingStore:
        return self.open(self.location())

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


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


META = RunMeta(
    run_id="run-1",
    mode="paper",
    initial_cash=100_000_000,
    started_at=T0,
    seed=42,
    config={"risk": {"max_positions": 5}, "symbols": ["005930"]},
)


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


def assert_kst(ts: datetime | None) -> None:
    assert ts is not None
    assert ts.utcoffset() == timedelta(hours=9)


def money_fields_are_int(obj: Any, names: tuple[str, ...]) -> None:
    for name in names:
        assert type(getattr(obj, name)) is int, name


STATE_KEYS = ("checkpoint", "failsafe", "a", "b", "c", "k", "k1", "k2", "k3")


def dump(store: TradingStore) -> tuple[Any, ...]:
    """Everything a caller can read back from ``store``, to compare whole states."""
    return (
        store.run_meta(),
        store.load_orders(),
        store.load_orders(open_only=True),
        store.load_fills(),
        store.load_ledger(),
        store.load_positions(),
        store.load_account(),
        store.load_decisions(),
        store.load_equity(),
        store.load_safety_events(),
        {key: store.load_state(key) for key in STATE_KEYS},
    )
