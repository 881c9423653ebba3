"""Booking cost per fill: MemoryStore against SqliteStore(":memory:", durable=False).

Each fill is what a backtest writes for one order: the order when it is NEW (persist before
sending), again when SUBMITTED, then record_fill. The records come from the real model (Order
state machine, Account.apply_fill with fees, alternating buys and sells over 20 symbols) and
are built before timing, so only the store is measured. Writes are grouped into transactions
the way the OMS groups them in a cycle: the NEW orders of a cycle in one, the SUBMITTED ones in
another, the fills in a third.

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from datetime import date, timedelta

from qts.core.time import kst
from qts.data import MemoryStore, RunMeta, SqliteStore, TradingStore
from qts.model import Account, Fill, LedgerEntry, Order, OrderSide, OrderType, Position

INITIAL_CASH = 10_000_000_000
T0 = kst(2024, 1, 2, 9, 0)
SYMBOLS = [f"{i:06d}" for i in range(1, 21)]


@dataclasses.dataclass(frozen=True)
class Booking:
    """Everything one fill writes, as snapshots (the store must not see later changes)."""

    new: Order
    submitted: Order
    fill: Fill
    entry: LedgerEntry
    filled: Order
    position: Position
    cash: int
    pending: dict[date, int]


def snapshot(order: Order) -> Order:
    return dataclasses.replace(order, fill_ids=set(order.fill_ids))


def build(n: int) -> list[Booking]:
    account = Account(INITIAL_CASH)
    bookings = []
    for i in range(n):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        ts = T0 + timedelta(seconds=i)
        side = OrderSide.SELL if account.held_qty(symbol) >= 10 else OrderSide.BUY
        price = 70_000 + (i % 37) * 100
        order = Order(f"Q{i:07d}", symbol, side, OrderType.LIMIT, 10, ts, price, strategy="bench")
        new = snapshot(order)
        order.submit(f"V{i:07d}", ts)
        submitted = snapshot(order)
        amount = 10 * price
        fill = Fill(
            f"F{i:07d}",
            order.client_order_id,
            symbol,
            side,
            10,
            price,
            ts,
            commission=amount * 15 // 100_000,
            tax=amount * 18 // 10_000 if side is OrderSide.SELL else 0,
        )
        order.apply_fill(fill.fill_id, fill.qty, fill.price, ts)
        entry = account.apply_fill(fill, ts.date() + timedelta(days=2), strategy="bench")
        account.settle(ts.date())
        position = dataclasses.replace(account.positions[symbol])
        bookings.append(
            Booking(
                new,
                submitted,
                fill,
                entry,
                snapshot(order),
                position,
                account.cash,
                dict(account.pending),
            )
        )
    return bookings


def book(store: TradingStore, bookings: list[Booking], cycle: int) -> float:
    """Seconds to write every booking, ``cycle`` orders per transaction group."""
    store.init_run(RunMeta("bench", "backtest", INITIAL_CASH, T0))
    start = time.perf_counter()
    for k in range(0, len(bookings), cycle):
        group = bookings[k : k + cycle]
        with store.transaction():
            for b in group:
                store.save_order(b.new)
        with store.transaction():
            for b in group:
                store.save_order(b.submitted)
        with store.transaction():
            for b in group:
                booked = store.record_fill(b.fill, b.entry, b.filled, b.position, b.cash, b.pending)
                assert booked, b.fill.fill_id
    elapsed = time.perf_counter() - start
    assert len(store.load_ledger()) == len(bookings)
    store.close()
    return elapsed


def best(make: Callable[[], TradingStore], bookings: list[Booking], cycle: int, n: int) -> float:
    return min(book(make(), bookings, cycle) for _ in range(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=10_000)
    parser.add_argument("--cycle", type=int, default=10, help="orders per transaction group")
    parser.add_argument("--repeat", type=int, default=3, help="runs per store; the best counts")
    args = parser.parse_args()

    bookings = build(args.fills)
    memory = best(MemoryStore, bookings, args.cycle, args.repeat)
    sqlite = best(lambda: SqliteStore(":memory:", durable=False), bookings, args.cycle, args.repeat)
    memory_rate = args.fills / memory
    sqlite_rate = args.fills / sqlite
    print(f"{args.fills:,} fills (NEW + SUBMITTED + record_fill), {args.cycle} per transaction")
    print(f"MemoryStore:                          {memory_rate:>10,.0f} fills/s")
    print(f"SqliteStore(':memory:', durable=False): {sqlite_rate:>10,.0f} fills/s")
    print(f"ratio: {memory_rate / sqlite_rate:.1f}x")
    print(
        json.dumps(
            {
                "memory_fills_per_s": round(memory_rate),
                "sqlite_memory_fills_per_s": round(sqlite_rate),
                "ratio": round(memory_rate / sqlite_rate, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
