"""The micro risk loop in its own process over a shared-memory shadow (CD-004 variant).

As for the thread: synchronisation by events and cycle counters only. The child's cycle count is
read live from shared memory (one book snapshot per cycle).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from test_micro_loop_thread import TIMEOUT, Sink, busy_eteda, in_thread

from qts.core.clock import WallClock
from qts.model.enums import Track
from qts.risk import ALL, ActionType, ExitReason, MicroRiskConfig, RiskCode
from qts.risk.process import MicroRiskProcess
from qts.risk.shared import SharedShadowBook


@contextmanager
def process_rig() -> Iterator[tuple[WallClock, SharedShadowBook, Sink, MicroRiskProcess]]:
    clock = WallClock()
    book = SharedShadowBook(clock, capacity=256)
    sink = Sink()
    proc = MicroRiskProcess(book, sink, clock, MicroRiskConfig(emit_adjustments=True), 0.1)
    try:
        yield clock, book, sink, proc
    finally:
        proc.stop()
        book.close()


def is_exit(symbol: str) -> Callable[[object], bool]:
    return lambda a: a.action_type is ActionType.FULL_EXIT and a.symbol == symbol  # type: ignore[attr-defined]


def test_exit_within_two_cycles_while_the_owner_process_is_busy() -> None:
    with process_rig() as (clock, book, sink, proc):
        book.on_position("005930", 100, 100 * 70_000, clock.now(), Track.SWING, price=70_000)
        proc.start()
        assert proc.wait_for_cycle(2, TIMEOUT)

        def push(prices: list[int]) -> Callable[[], int]:
            def run() -> int:
                for p in prices:
                    book.on_price("005930", p, clock.now())
                return proc.cycles

            return run

        with busy_eteda():
            in_thread(push([70_200, 70_500, 71_000]))
            adjust = sink.wait_action(lambda a: a.action_type is ActionType.TRAILING_STOP_ADJUST)
            crossed_at = in_thread(push([70_800, 70_500]))
            exit_ = sink.wait_action(is_exit("005930"))[0]
        assert adjust[0].payload == {"old_stop": 0, "new_stop": 70_500}
        assert exit_.reason == ExitReason.TRAILING and exit_.qty == 100
        assert crossed_at < exit_.cycle <= crossed_at + 2


def test_a_killed_loop_process_is_reported_restarted_and_sends_no_duplicate() -> None:
    with process_rig() as (clock, book, sink, proc):
        book.on_position("005930", 100, 100 * 100, clock.now(), Track.SWING, price=100)
        proc.start()
        proc.on_vol_index(26.0, clock.now())  # GR073 from this child …
        book.on_price("005930", 97, clock.now())  # MAE 3 %: FULL_EXIT, then pending
        sink.wait_action(is_exit("005930"))
        assert proc.wait_for_cycle(proc.delivered + 2, TIMEOUT)  # the pending copy has shipped
        first = proc.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        fs100 = sink.wait_warning(RiskCode.FS100)
        assert fs100.symbol == ALL and str(first) in fs100.message
        suspend = sink.wait_action(lambda a: a.action_type is ActionType.ETEDA_SUSPEND)[0]
        assert suspend.code is RiskCode.FS100 and suspend.payload == {"duration_ms": 60_000}
        assert proc.wait_for(lambda p: p.restarts == 1 and p.delivered >= 3, TIMEOUT)
        assert proc.pid != first  # a new child, and it runs
        gr073 = [w for w in sink.warnings if w.code is RiskCode.GR073]
        assert len(gr073) == 2  # … and from the new one: the index value was replayed
        assert len(sink.wait_action(is_exit("005930"))) == 1  # the pending exit survived
        book.on_position("000660", 10, 10 * 1_000, clock.now(), Track.SWING, price=1_000)
        book.on_price("000660", 970, clock.now())
        exit_ = sink.wait_action(is_exit("000660"))[0]
        assert exit_.reason == ExitReason.MAE_FULL


def test_commands_reach_the_loop_process() -> None:
    with process_rig() as (clock, book, sink, proc):
        book.on_position("005930", 100, 100 * 10_000, clock.now(), Track.SWING, price=10_000)
        book.on_position("000660", 10, 10 * 50_000, clock.now(), Track.SWING, price=50_000)
        proc.start()
        book.on_price("005930", 9_850, clock.now())  # MAE 1.5 %: a partial exit
        part = sink.wait_action(lambda a: a.action_type is ActionType.PARTIAL_EXIT)[0]
        proc.on_exit_failed("005930", "rejected")
        freeze = sink.wait_action(lambda a: a.action_type is ActionType.POSITION_FREEZE)[0]
        retried = sink.wait_action(lambda a: a.action_type is ActionType.PARTIAL_EXIT, count=2)
        assert freeze.symbol == "005930" and freeze.code is RiskCode.GR074
        assert retried[1].qty == part.qty == 50
        proc.on_vol_index(45.0, clock.now())
        kill = sink.wait_action(lambda a: a.action_type is ActionType.KILL_SWITCH)[0]
        assert kill.code is RiskCode.FS104
        assert sink.wait_action(is_exit("000660"))[0].reason == ExitReason.KILL_SWITCH
        stats = proc.stats()
        assert stats is not None and stats.cycles >= 3 and stats.errors == 0


def test_a_process_that_cannot_start_is_not_restarted() -> None:
    clock = WallClock()
    book = SharedShadowBook(clock, capacity=16)
    sink = Sink()
    proc = MicroRiskProcess(book, sink, clock)
    book.close()  # the shared block is gone: the child fails before its first cycle
    try:
        proc.start()
        suspend = sink.wait_action(lambda a: a.action_type is ActionType.ETEDA_SUSPEND)[0]
        fs100 = sink.wait_warning(RiskCode.FS100)
    finally:
        proc.stop()
    assert proc.failed and proc.restarts == 0
    assert suspend.payload == {"duration_ms": None}  # indefinite: nothing protects positions
    assert fs100.symbol == ALL
