"""Kill -9 a writer at an arbitrary point: every acknowledged fill survives and the books balance.

The child prints a fill id only after record_fill returned (committed). The test waits for data,
never for time: it reads N ids, kills the child wherever it happens to be, and restarts it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from qts.data import SqliteStore
from qts.model import Account, Ledger

INITIAL_CASH = 100_000_000

CHILD = r"""
import sys
from datetime import timedelta

from qts.core.time import kst
from qts.data import RunMeta, SqliteStore
from qts.model import Account, Fill, Ledger, Order, OrderSide, OrderType

path, durable = sys.argv[1], sys.argv[2] == "1"
t0 = kst(2024, 1, 2, 9, 0)
store = SqliteStore(path, durable=durable)
meta = store.init_run(RunMeta("crash", "paper", 100_000_000, t0, seed=1))
state = store.load_account()
account = Account(
    meta.initial_cash,
    cash=state.cash,
    positions=store.load_positions(),
    pending=dict(state.pending),
    ledger=Ledger(store.load_ledger()),
)
# Recovery: orders that may or may not have reached the venue are closed before trading on.
for order in store.load_orders(open_only=True):
    order.cancel("restart", t0)
    store.save_order(order)
n = len(store.load_orders())
for _ in range(1_000_000):
    n += 1
    ts = t0 + timedelta(seconds=n)
    held = account.held_qty("005930")
    side = OrderSide.SELL if held >= 10 and n % 3 == 0 else OrderSide.BUY
    order = Order(f"Q{n:07d}", "005930", side, OrderType.MARKET, 10, ts, strategy="crash")
    store.save_order(order)  # persist before sending
    order.submit(f"V{n}", ts)
    store.save_order(order)
    parts = (10,) if side is OrderSide.SELL else (4, 6)
    for k, qty in enumerate(parts):
        price = 70_000 + (n % 50) * 100
        amount = qty * price
        fill = Fill(
            f"F{n:07d}-{k}", order.client_order_id, "005930", side, qty, price, ts,
            commission=amount * 15 // 100_000,
            tax=amount * 18 // 10_000 if side is OrderSide.SELL else 0,
        )
        order.apply_fill(fill.fill_id, qty, price, ts)
        entry = account.apply_fill(fill, ts.date() + timedelta(days=2), strategy="crash")
        stored = store.record_fill(
            fill, entry, order, account.positions["005930"], account.cash, account.pending
        )
        assert stored, fill.fill_id
        print(fill.fill_id, flush=True)
"""


def run_until(path: Path, durable: bool, count: int) -> list[str]:
    """Start a writer, read ``count`` committed fill ids, then SIGKILL it mid-flight."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), "1" if durable else "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stderr is not None
    seen: list[str] = []
    try:
        while len(seen) < count:
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"writer exited early ({child.wait()}): {child.stderr.read()}")
            seen.append(line.strip())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("durable", [True, False], ids=["durable", "fast"])
def test_sigkill_loses_no_committed_fill_and_books_balance(tmp_path: Path, durable: bool) -> None:
    path = tmp_path / "crash.sqlite"
    printed = run_until(path, durable, 150)
    printed += run_until(path, durable, 150)  # the restarted writer resumes from the store

    with SqliteStore(path) as store:
        fills = store.load_fills()
        ledger = store.load_ledger()
        state = store.load_account()
        positions = store.load_positions()
        orders = {o.client_order_id: o for o in store.load_orders()}

    stored_ids = [f.fill_id for f in fills]
    assert set(printed) <= set(stored_ids)
    assert len(stored_ids) == len(set(stored_ids))
    assert [e.seq for e in ledger] == list(range(1, len(ledger) + 1))
    assert [e.fill_id for e in ledger] == stored_ids  # one ledger row per fill, same order
    assert state is not None
    assert state.cash == INITIAL_CASH + sum(e.net_amount for e in ledger)
    for fill in fills:
        assert fill.fill_id in orders[fill.client_order_id].fill_ids
    for order in orders.values():
        assert order.filled_qty == sum(
            f.qty for f in fills if f.client_order_id == order.client_order_id
        )
    account = Account(
        INITIAL_CASH,
        cash=state.cash,
        positions=positions,
        pending=state.pending,
        ledger=Ledger(ledger),
    )
    assert account.reconcile() == []
