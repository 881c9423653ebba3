"""The micro risk loop on its own thread with a wall clock, fed from other threads.

Synchronisation is by events and by the loop's cycle counter, never by sleeping: "within two
periods" means the exit is sent by a cycle that started at most two cycles after the price
crossed the stop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from qts.core.clock import WallClock
from qts.model.enums import Track
from qts.risk import (
    ALL,
    ActionType,
    ExitReason,
    MicroRiskAction,
    MicroRiskConfig,
    MicroRiskLoop,
    RiskCode,
    RiskWarning,
    ShadowBook,
)

TIMEOUT = 10.0


class Sink:
    def __init__(self, fail_first_emits: int = 0) -> None:
        self.actions: list[MicroRiskAction] = []
        self.warnings: list[RiskWarning] = []
        self._fail = fail_first_emits
        self._cond = threading.Condition()

    def emit(self, action: MicroRiskAction) -> None:
        with self._cond:
            if self._fail:
                self._fail -= 1
                raise ConnectionError("P0 queue unavailable")
            self.actions.append(action)
            self._cond.notify_all()

    def warn(self, warning: RiskWarning) -> None:
        with self._cond:
            self.warnings.append(warning)
            self._cond.notify_all()

    def wait_action(
        self, pred: Callable[[MicroRiskAction], bool], count: int = 1
    ) -> list[MicroRiskAction]:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: sum(1 for a in self.actions if pred(a)) >= count, TIMEOUT
            )
            assert ok, f"timed out; got {self.actions}"
            return [a for a in self.actions if pred(a)]

    def wait_warning(self, code: RiskCode) -> RiskWarning:
        with self._cond:
            ok = self._cond.wait_for(lambda: any(w.code is code for w in self.warnings), TIMEOUT)
            assert ok, f"timed out; got {self.warnings}"
            return next(w for w in self.warnings if w.code is code)


def in_thread(fn: Callable[[], int]) -> int:
    """Run ``fn`` on another thread (the market-data thread) and return its result."""
    out: list[int] = []
    t = threading.Thread(target=lambda: out.append(fn()), name="feed")
    t.start()
    t.join()
    return out[0]


@contextmanager
def busy_eteda() -> Iterator[None]:
    """A CPU-bound pure-Python thread standing in for a slow ETEDA cycle in the same process."""
    stop = threading.Event()

    def spin() -> None:
        x = 0
        while not stop.is_set():
            for i in range(10_000):
                x += i * i

    t = threading.Thread(target=spin, name="eteda-busy", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


@contextmanager
def running(loop: MicroRiskLoop) -> Iterator[MicroRiskLoop]:
    loop.start()
    try:
        yield loop
    finally:
        loop.stop()


def rig(sink: Sink | None = None) -> tuple[WallClock, ShadowBook, Sink, MicroRiskLoop]:
    clock = WallClock()
    book = ShadowBook(clock)
    s = sink or Sink()
    config = MicroRiskConfig(emit_adjustments=True)
    return clock, book, s, MicroRiskLoop(book, s, clock, config, period=0.1)


def test_trailing_exit_within_two_periods_while_eteda_is_busy() -> None:
    clock, book, sink, loop = rig()
    book.on_position("005930", 100, 100 * 70_000, clock.now(), Track.SWING, price=70_000)
    book.on_position("000660", 10, 10 * 150_000, clock.now(), Track.SWING, price=150_000)

    def push(prices: list[int]) -> Callable[[], int]:
        def run() -> int:
            for p in prices:
                book.on_price("005930", p, clock.now())
            return loop.cycles  # cycles started by the time the last price is in the book

        return run

    with busy_eteda(), running(loop):
        in_thread(push([70_200, 70_500, 71_000]))  # +1.43 %: the stop activates at 70,500
        adjust = sink.wait_action(lambda a: a.action_type is ActionType.TRAILING_STOP_ADJUST)[0]
        assert adjust.payload == {"old_stop": 0, "new_stop": 70_500}
        crossed_at = in_thread(push([70_800, 70_600, 70_500]))
        exit_ = sink.wait_action(lambda a: a.action_type is ActionType.FULL_EXIT)[0]
    assert (exit_.symbol, exit_.qty, exit_.reason) == ("005930", 100, ExitReason.TRAILING)
    assert crossed_at < exit_.cycle <= crossed_at + 2
    assert exit_.cycle > adjust.cycle
    assert not any(a.symbol == "000660" for a in sink.actions)
    assert loop.stats().errors == 0


def test_a_crashing_rule_is_reported_and_the_loop_keeps_protecting() -> None:
    clock, book, sink, loop = rig()
    book.on_position("BAD001", 10, 100_000, clock.now(), "DAYTRADE", price=10_000)  # type: ignore[arg-type]
    book.on_position("005930", 100, 100 * 10_000, clock.now(), Track.SCALP, price=10_000)
    with running(loop):
        fs100 = sink.wait_warning(RiskCode.FS100)
        assert fs100.symbol == "BAD001" and "KeyError" in fs100.message
        later = loop.cycles + 3
        assert loop.wait_for_cycle(later, TIMEOUT)  # still cycling

        def crash() -> int:
            book.on_price("005930", 9_790, clock.now())
            return loop.cycles

        crossed_at = in_thread(crash)
        exit_ = sink.wait_action(lambda a: a.action_type is ActionType.FULL_EXIT)[0]
        assert loop.running
    assert (exit_.symbol, exit_.reason) == ("005930", ExitReason.MAE_FULL)
    assert exit_.cycle <= crossed_at + 2
    stats = loop.stats()
    assert stats.errors >= 3 and stats.cycles >= later
    assert [a.code for a in sink.actions if a.action_type is ActionType.ETEDA_SUSPEND] == [
        RiskCode.FS100
    ]


def test_kill_switch_from_the_volatility_feed_flattens_everything() -> None:
    clock, book, sink, loop = rig()
    for i, sym in enumerate(("005930", "000660", "035420")):
        book.on_position(sym, 10 + i, (10 + i) * 50_000, clock.now(), Track.SWING, price=50_000)
    with running(loop):

        def spike() -> int:
            loop.on_vol_index(45.0, clock.now())
            return loop.cycles

        pushed_at = in_thread(spike)
        exits = sink.wait_action(lambda a: a.action_type is ActionType.FULL_EXIT, count=3)
    assert sorted((a.symbol, a.qty) for a in exits) == [
        ("000660", 11),
        ("005930", 10),
        ("035420", 12),
    ]
    assert all(a.code is RiskCode.FS104 and a.cycle <= pushed_at + 2 for a in exits)
    book_wide = {a.action_type: a for a in sink.actions if a.symbol == ALL}
    assert book_wide[ActionType.KILL_SWITCH].code is RiskCode.FS104
    assert book_wide[ActionType.ETEDA_SUSPEND].payload == {"duration_ms": None}
    assert loop.killed


def test_a_failing_dispatch_is_reported_and_retried_next_cycle() -> None:
    clock, book, sink, loop = rig(Sink(fail_first_emits=1))
    book.on_position("005930", 100, 100 * 100, clock.now(), Track.SWING, price=100)
    with running(loop):

        def drop() -> int:
            book.on_price("005930", 97, clock.now())
            return loop.cycles

        in_thread(drop)
        fs100 = sink.wait_warning(RiskCode.FS100)
        exit_ = sink.wait_action(lambda a: a.action_type is ActionType.FULL_EXIT)[0]
    assert fs100.symbol == "005930" and fs100.cycle < exit_.cycle <= fs100.cycle + 1


def test_start_stop() -> None:
    loop = rig()[3]
    with running(loop):
        with pytest.raises(RuntimeError, match="already running"):
            loop.start()
        assert loop.wait_for_cycle(2, TIMEOUT)
    assert not loop.running
    done = loop.cycles
    report = loop.run_once()  # usable on the caller's thread once stopped
    assert report.cycle == done + 1
    with running(loop):  # and restartable
        assert loop.wait_for_cycle(done + 3, TIMEOUT)


def test_the_loop_thread_asks_for_its_nice_value() -> None:
    clock = WallClock()
    book = ShadowBook(clock)
    loop = MicroRiskLoop(book, Sink(), clock, period=0.05, nice=5)  # lowering is always allowed
    with running(loop):
        assert loop.wait_for_cycle(1, TIMEOUT)
    assert loop.nice_applied is True
