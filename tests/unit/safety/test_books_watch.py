"""The books watch reads the broker without the order manager's lock, and starts no check once
the run is stopping (a paged inquiry under the rate limit takes seconds)."""

from __future__ import annotations

import threading
from datetime import timedelta

from qts.brokers.sim import SimBroker, SimConfig
from qts.core.clock import SimulatedClock
from qts.core.locks import held_locks
from qts.core.time import kst
from qts.data.memory import MemoryStore
from qts.data.ports import RunMeta
from qts.execution.oms import OrderManager
from qts.model.account import Account
from qts.model.fill import Fill
from qts.model.frame import Universe
from qts.model.instrument import Instrument, Market
from qts.safety.books_watch import BooksWatch
from qts.safety.supervisor import SafetySupervisor

SYM = "005930"
T0 = kst(2026, 3, 4, 10, 0)
CASH = 10_000_000
INSTRUMENTS = {SYM: Instrument(SYM, Market.KOSPI)}


class Observed(SimBroker):
    """The simulated venue, noting which ordered locks are held while its fills are read."""

    def __init__(self, clock: SimulatedClock) -> None:
        super().__init__(
            INSTRUMENTS,
            clock,
            initial_cash=CASH,
            config=SimConfig(),
            reference_prices={SYM: 70_000},
        )
        self.reads: list[list[str]] = []

    def fills(self) -> list[Fill]:
        self.reads.append([h.name for h in held_locks()])
        return super().fills()


def watch_of(stop: threading.Event | None = None) -> tuple[BooksWatch, Observed]:
    clock = SimulatedClock(T0)
    broker = Observed(clock)
    store = MemoryStore()
    store.init_run(RunMeta("w", "test", CASH, T0, 0, {}))
    oms = OrderManager(
        "w",
        broker,
        store,
        Account(CASH),
        Universe((SYM,)),
        INSTRUMENTS,
        lambda d: d + timedelta(days=2),
    )
    safety = SafetySupervisor(store, clock, [])
    ticks = iter(range(0, 10_000, 60))  # a minute per look at the clock: always due
    watch = BooksWatch(
        oms, safety, clock.now, interval_s=30.0, monotonic=lambda: float(next(ticks)), stop=stop
    )
    return watch, broker


def test_the_broker_is_read_without_the_order_manager_lock() -> None:
    watch, broker = watch_of()
    assert watch.check() == []
    assert broker.reads == [[]], "a broker read held the order manager's lock"


def test_no_check_starts_once_the_run_is_stopping() -> None:
    stop = threading.Event()
    watch, broker = watch_of(stop)
    frames = watch.wrap(iter(range(4)))
    assert next(frames) == 0 and watch.checks == 1
    stop.set()
    assert list(frames) == [1, 2, 3]  # the frames still pass; the loop ends on its own check
    assert watch.checks == 1 and len(broker.reads) == 1
