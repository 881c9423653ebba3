"""The venue survives a crash: reopening the journal restores orders, fills, account and market."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sim_kit import D1, D2, HYNIX, INSTRUMENTS, SAMSUNG, at, flat, frame

from qts.brokers.base import Balance, OrderRequest, OrderUpdate
from qts.brokers.sim import SimBroker, SimConfig
from qts.core.clock import SimulatedClock
from qts.core.errors import StorageError
from qts.market.krx.fees import KrxFees
from qts.market.krx.price_limit import daily_limits
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill

BUY, SELL = OrderSide.BUY, OrderSide.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
REF = {SAMSUNG: 70_000, HYNIX: 200_000}
CONFIG = SimConfig(participation=0.5)


def open_broker(path: Path, clock: SimulatedClock) -> SimBroker:
    return SimBroker.open(
        path,
        INSTRUMENTS,
        clock,
        initial_cash=50_000_000,
        holdings={HYNIX: 20},
        config=CONFIG,
        fees=KrxFees(),
        reference_prices=REF,
    )


def snapshot(broker: SimBroker) -> tuple[object, ...]:
    ex = broker.exchange
    orders = [ex.sim_order(cid) for cid in ("m", "p", "o", "x", "c", "s")]
    return (
        broker.open_orders(),
        broker.fills(),
        broker.balance(),
        [o.view() if o else None for o in orders],
        broker.account.held_cash,
        dict(broker.account.held_qty),
        ex.counters(),
        ex.last_frame_start,
        ex.price_limits(SAMSUNG, D2),
        ex.last_close(SAMSUNG),
    )


def run_day_one(broker: SimBroker, clock: SimulatedClock) -> None:
    broker.submit(OrderRequest("m", SAMSUNG, BUY, MARKET, 10))  # fills
    broker.submit(OrderRequest("p", SAMSUNG, BUY, LIMIT, 100, 70_000))  # partial
    broker.submit(OrderRequest("o", SAMSUNG, BUY, LIMIT, 5, 65_000))  # stays open
    broker.submit(OrderRequest("x", SAMSUNG, BUY, LIMIT, 5, 65_050))  # rejected: off tick
    broker.submit(OrderRequest("c", SAMSUNG, BUY, LIMIT, 5, 66_000))
    broker.cancel("c")
    broker.submit(OrderRequest("s", HYNIX, SELL, LIMIT, 20, 210_000))  # holds 20 shares
    broker.on_frame(frame(at(D1, 9), {SAMSUNG: flat(70_000, 100), HYNIX: flat(200_000)}))
    clock.advance_to(at(D1, 9, 1))
    broker.on_frame(frame(at(D1, 9, 1), {SAMSUNG: flat(69_900, 20), HYNIX: flat(201_000)}))


def test_restart_restores_the_full_state(tmp_path: Path) -> None:
    path = tmp_path / "venue.sqlite"
    clock = SimulatedClock(at(D1, 8, 50))
    first = open_broker(path, clock)
    run_day_one(first, clock)
    before = snapshot(first)
    assert [f.client_order_id for f in first.fills()] == ["m", "p", "p"]
    # no close(): the process just dies
    second = open_broker(path, clock)
    assert snapshot(second) == before
    p = second.order("p")
    assert p is not None and p.status is OrderStatus.PARTIALLY_FILLED
    # a replayed frame after the restart fills nothing twice
    assert second.on_frame(frame(at(D1, 9, 1), {SAMSUNG: flat(69_900, 1_000)})) == []
    assert second.fills() == before[1]
    # ids continue where they stopped
    clock.advance_to(at(D1, 9, 2))
    ack = second.submit(OrderRequest("n", SAMSUNG, BUY, MARKET, 1))
    assert ack.venue_order_id == "S0000000006"  # x was rejected: no number
    events = second.on_frame(frame(at(D1, 9, 2), {SAMSUNG: flat(69_800, 1_000)}))
    new = [e for e in events if isinstance(e, Fill)]
    assert [f.fill_id for f in new] == ["F0000000004", "F0000000005"]
    assert [f.client_order_id for f in new] == ["n", "p"]  # market first, then the old limit
    second.close()


def test_duplicate_id_after_restart_opens_nothing(tmp_path: Path) -> None:
    path = tmp_path / "venue.sqlite"
    clock = SimulatedClock(at(D1, 8, 50))
    first = open_broker(path, clock)
    ack = first.submit(OrderRequest("o", SAMSUNG, BUY, LIMIT, 5, 65_000))
    bad = first.submit(OrderRequest("x", SAMSUNG, BUY, LIMIT, 5, 65_050))
    first.close()
    second = open_broker(path, clock)
    again = second.submit(OrderRequest("o", SAMSUNG, BUY, LIMIT, 5, 65_000))
    assert (again.venue_order_id, again.duplicate) == (ack.venue_order_id, True)
    bad_again = second.submit(OrderRequest("x", SAMSUNG, BUY, LIMIT, 5, 65_000))
    assert (bad_again.accepted, bad_again.code, bad_again.duplicate) == (False, bad.code, True)
    assert len(second.open_orders()) == 1
    second.close()


def test_base_prices_and_expiry_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "venue.sqlite"
    clock = SimulatedClock(at(D1, 15, 28))
    first = open_broker(path, clock)
    first.on_frame(frame(at(D1, 15, 28), {SAMSUNG: flat(70_100)}))
    first.submit(OrderRequest("o", SAMSUNG, BUY, LIMIT, 1, 65_000))
    first.on_frame(frame(at(D1, 15, 29), {HYNIX: flat(200_000)}))
    first.close()
    clock.advance_to(at(D2, 8, 0))
    second = open_broker(path, clock)
    # the expiry of "o" happened at 15:30 while the process was down; the first call applies it
    [update] = second.drain_events()
    assert isinstance(update, OrderUpdate)
    assert (update.client_order_id, update.status) == ("o", OrderStatus.EXPIRED)
    second.on_frame(frame(at(D2, 9), {SAMSUNG: flat(75_000)}))
    assert second.exchange.price_limits(SAMSUNG, D2) == daily_limits(70_100)
    second.close()
    third = open_broker(path, clock)
    assert third.order("o").status is OrderStatus.EXPIRED  # type: ignore[union-attr]
    third.close()


def test_initial_arguments_do_not_override_a_stored_account(tmp_path: Path) -> None:
    path = tmp_path / "venue.sqlite"
    clock = SimulatedClock(at(D1, 8, 50))
    open_broker(path, clock).close()
    again = SimBroker.open(path, INSTRUMENTS, clock, initial_cash=1, config=CONFIG)
    assert again.balance().cash == 50_000_000
    assert again.balance().holdings == {HYNIX: 20}
    again.close()


_CHILD = textwrap.dedent(
    """
    import sys
    from datetime import timedelta

    import numpy as np

    from qts.brokers.base import Balance, OrderRequest, OrderUpdate
    from qts.brokers.sim import SimBroker
    from qts.core.clock import SimulatedClock
    from qts.core.time import kst
    from qts.model.enums import OrderSide, OrderType
    from qts.model.frame import BarFrame, Universe
    from qts.model.instrument import Instrument

    uni = Universe(["005930"])
    clock = SimulatedClock(kst(2026, 3, 4, 8, 50))
    broker = SimBroker.open(
        sys.argv[1], {"005930": Instrument("005930")}, clock, initial_cash=10_000_000,
        reference_prices={"005930": 70_000},
    )
    for k in range(3):
        broker.submit(
            OrderRequest(f"c{k}", "005930", OrderSide.BUY, OrderType.LIMIT, 10, 70_000 - 100 * k)
        )
    start = kst(2026, 3, 4, 9)
    price = np.array([69_900], dtype=np.int64)
    broker.on_frame(
        BarFrame(uni, start, start + timedelta(minutes=1), price, price, price, price,
                 np.array([15], dtype=np.int64), np.array([True]))
    )
    print("ready", flush=True)
    sys.stdin.readline()  # wait here until killed
    """
)


def test_sigkill_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "venue.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    clock = SimulatedClock(at(D1, 9, 1))
    broker = SimBroker.open(path, INSTRUMENTS, clock, initial_cash=0)
    fills = broker.fills()
    assert [(f.client_order_id, f.qty, f.price) for f in fills] == [
        ("c0", 10, 69_900),
        ("c1", 5, 69_900),
    ]
    assert [(o.client_order_id, o.filled_qty) for o in broker.open_orders()] == [
        ("c1", 5),
        ("c2", 0),
    ]
    cost = sum(f.amount + f.commission for f in fills)
    assert broker.balance() == Balance(10_000_000 - cost, {SAMSUNG: 15})
    # the replayed frame is ignored
    assert broker.on_frame(frame(at(D1, 9), {SAMSUNG: flat(69_900, 1_000)})) == []
    broker.close()


def test_schema_version_mismatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "venue.sqlite"
    clock = SimulatedClock(at(D1, 8, 50))
    open_broker(path, clock).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(StorageError, match="schema version 99"):
        open_broker(path, clock)


def test_unknown_instrument_in_the_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "venue.sqlite"
    clock = SimulatedClock(at(D1, 8, 50))
    b = open_broker(path, clock)
    b.submit(OrderRequest("o", HYNIX, SELL, LIMIT, 1, 210_000))
    b.close()
    with pytest.raises(StorageError, match=HYNIX):
        SimBroker.open(path, {SAMSUNG: INSTRUMENTS[SAMSUNG]}, clock, initial_cash=0)


def test_a_failed_write_stops_the_broker(tmp_path: Path) -> None:
    path = tmp_path / "venue.sqlite"
    clock = SimulatedClock(at(D1, 8, 50))
    broker = open_broker(path, clock)
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE orders")
    with pytest.raises(StorageError, match="write failed"):
        broker.submit(OrderRequest("o", SAMSUNG, BUY, LIMIT, 1, 65_000))
    with pytest.raises(StorageError, match="reopen"):
        broker.balance()
    broker.close()


def test_use_after_close_is_an_error(tmp_path: Path) -> None:
    clock = SimulatedClock(at(D1, 8, 50))
    broker = open_broker(tmp_path / "venue.sqlite", clock)
    broker.close()
    with pytest.raises(RuntimeError, match="after close"):
        broker.open_orders()


def test_in_memory_mode_records_nothing() -> None:
    """Backtests: no journal, and the exchange does not even collect changes."""
    clock = SimulatedClock(at(D1, 8, 50))
    broker = SimBroker(INSTRUMENTS, clock, initial_cash=10_000_000, reference_prices=REF)
    broker.submit(OrderRequest("m", SAMSUNG, BUY, MARKET, 1))
    broker.on_frame(frame(at(D1, 9), {SAMSUNG: flat(70_000)}))
    assert len(broker.fills()) == 1
    assert not broker.exchange.take_changes()
