"""The micro risk loop in its own process (CD-004), over a shared-memory shadow.

Why: in one process the loop shares the GIL with everything else; CPU-bound Python elsewhere in
the process (an ETEDA cycle, a backtest) delays its wake-ups and stretches its cycles — worse
still when that other thread is descheduled while holding the GIL (priority inversion). In its
own process the loop only competes for a core.

Shape: the owner keeps the :class:`SharedShadowBook` (its fill and market-data threads write it
as usual) and the real :class:`ActionSink`. The child attaches a :class:`ShadowReader`, runs a
normal :class:`MicroRiskLoop` and ships every cycle's actions and warnings back on a queue; a
forwarder thread in the owner hands them to the sink. Commands (volatility index, exit done /
failed, kill-switch release) go the other way. If the child dies, the forwarder reports FS100,
asks ETEDA to stop (FS100 action), frees the shared lock if the child held it, and starts a new
child. The new child inherits the exits still pending (the owner keeps the latest copy the
child shipped), so none is sent twice; its other local state starts afresh — trailing stops are
recomputed from the highs kept in shared memory, and a once-per-position partial exit (MAE or
volatility) that already completed could fire once more. The latest VKOSPI value is replayed to
the new child; a latched kill switch is not (it fires again while the index stays ≥ 40; the
LOCKDOWN it requested is held by Safety).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable
from datetime import datetime
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue as MpQueue
from typing import Any

from qts.core.clock import Clock, WallClock
from qts.risk.actions import (
    ALL,
    ActionSink,
    ActionType,
    MicroRiskAction,
    PendingExit,
    RiskCode,
    RiskWarning,
)
from qts.risk.config import MicroRiskConfig
from qts.risk.micro_loop import CycleReport, LoopStats, MicroRiskLoop
from qts.risk.shared import ShadowHandle, ShadowReader, SharedShadowBook

_POLL_S = 0.1  # how often the forwarder checks that the child is alive when it is quiet


class _NullSink:
    """The child's sink: the cycle report carries everything to the owner."""

    def emit(self, action: MicroRiskAction) -> None:
        pass

    def warn(self, warning: RiskWarning) -> None:
        pass


def _child_main(
    handle: ShadowHandle,
    config: MicroRiskConfig,
    period: float,
    nice: int | None,
    out: MpQueue[Any],
    cmd: MpQueue[Any],
    pending: list[PendingExit],
) -> None:
    """Entry point of the loop process."""
    reader = ShadowReader(handle)
    done = threading.Event()
    shipped = -1

    def ship(report: CycleReport) -> None:
        nonlocal shipped
        version, exits = loop.pending_exits()
        changed = exits if version != shipped else None
        shipped = version
        out.put(("cycle", report.cycle, report.actions, report.warnings, changed))

    loop = MicroRiskLoop(reader, _NullSink(), WallClock(), config, period, nice=nice, on_cycle=ship)
    loop.restore_pending(pending)

    def commands() -> None:
        while True:
            c = cmd.get()
            kind = c[0]
            if kind == "vol":
                loop.on_vol_index(c[1], c[2])
            elif kind == "done":
                loop.on_exit_done(c[1])
            elif kind == "failed":
                loop.on_exit_failed(c[1], c[2])
            elif kind == "release":
                loop.release_kill_switch()
            elif kind == "stats":
                out.put(("stats", loop.stats()))
            elif kind == "stop":
                done.set()
                return

    t = threading.Thread(target=commands, name="micro-risk-commands", daemon=True)
    t.start()
    loop.start()
    done.wait()
    loop.stop()
    out.put(("stats", loop.stats()))
    out.put(("bye",))
    reader.close()


class MicroRiskProcess:
    """Runs :class:`MicroRiskLoop` in a child process; same inputs, same sink contract.

    ``sink`` is called on this process's forwarder thread. ``cycles`` counts the child's
    snapshots (one per cycle) live from shared memory.
    """

    def __init__(
        self,
        book: SharedShadowBook,
        sink: ActionSink,
        clock: Clock,
        config: MicroRiskConfig | None = None,
        period: float = 0.1,
        *,
        nice: int | None = None,
        restart: bool = True,
        name: str = "micro-risk-process",
    ) -> None:
        self.book = book
        self.sink = sink
        self.clock = clock
        self.config = config or MicroRiskConfig()
        self.period = period
        self.nice = nice
        self.restart = restart
        self.name = name
        self.restarts = 0
        self.failed = False
        self.delivery_errors = 0
        self._ctx = book._ctx
        self._proc: SpawnProcess | None = None
        self._out: MpQueue[Any] | None = None
        self._cmd: MpQueue[Any] | None = None
        self._forwarder: threading.Thread | None = None
        self._stopping = False
        self._cond = threading.Condition()
        self._delivered = 0
        self._stats: LoopStats | None = None
        self._pending: list[PendingExit] = []
        self._vol: tuple[str, float, datetime] | None = None
        self._stats_ready = threading.Event()

    # -- inputs ----------------------------------------------------------------------------------

    def on_vol_index(self, value: float, ts: datetime) -> None:
        """The latest VKOSPI value; also replayed to a restarted child."""
        self._vol = ("vol", float(value), ts)
        self._send(self._vol)

    def on_exit_done(self, symbol: str) -> bool:
        return self._send(("done", symbol))

    def on_exit_failed(self, symbol: str, note: str = "") -> bool:
        return self._send(("failed", symbol, note))

    def release_kill_switch(self) -> bool:
        return self._send(("release",))

    def _send(self, command: tuple[Any, ...]) -> bool:
        """Queue a command for the child; False (dropped) when no child is running."""
        cmd = self._cmd
        if cmd is None:
            return False
        cmd.put(command)
        return True

    # -- state -----------------------------------------------------------------------------------

    @property
    def cycles(self) -> int:
        """Cycles started by the child (its snapshots of the book), read live."""
        return self.book.snapshots

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def delivered(self) -> int:
        """The last cycle (of the current child) whose output reached the sink."""
        return self._delivered

    def wait_for_cycle(self, n: int, timeout: float) -> bool:
        """Block until the output of cycle ``n`` (of the current child) has been delivered."""
        return self.wait_for(lambda p: p.delivered >= n, timeout)

    def wait_for(self, predicate: Callable[[MicroRiskProcess], bool], timeout: float) -> bool:
        """Block until ``predicate(self)`` holds; re-checked on every delivery and restart."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def stats(self, timeout: float = 5.0) -> LoopStats | None:
        """The child's loop statistics (asked for while running; the final ones after stop)."""
        if self.running and not self._stopping:
            self._stats_ready.clear()
            self._send(("stats",))
            self._stats_ready.wait(timeout)
        return self._stats

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self._stopping = False
        self._spawn()
        self._forwarder = threading.Thread(
            target=self._forward, name=f"{self.name}-forwarder", daemon=True
        )
        self._forwarder.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        if self._cmd is not None and self.running:
            self._cmd.put(("stop",))
        if self._forwarder is not None:
            self._forwarder.join(timeout)
        proc = self._proc
        if proc is not None:
            proc.join(timeout)
            if proc.is_alive():  # ours, and not answering: end it
                proc.kill()
                proc.join(timeout)
        self._proc = None
        self._cmd = None

    def _spawn(self, restart: bool = False) -> None:
        self._out = self._ctx.Queue()
        self._cmd = self._ctx.Queue()
        proc = self._ctx.Process(
            target=_child_main,
            args=(
                self.book.handle(),
                self.config,
                self.period,
                self.nice,
                self._out,
                self._cmd,
                list(self._pending),
            ),
            name=self.name,
            daemon=True,
        )
        proc.start()
        if self._vol is not None:  # a restarted child must not wait for the next index value
            self._cmd.put(self._vol)
        with self._cond:
            self._proc = proc
            self._delivered = 0
            self.restarts += 1 if restart else 0
            self._cond.notify_all()

    # -- the forwarder thread --------------------------------------------------------------------

    def _forward(self) -> None:
        while True:
            out, proc = self._out, self._proc
            assert out is not None and proc is not None
            try:
                msg = out.get(timeout=_POLL_S)
            except queue.Empty:
                if proc.is_alive():
                    continue
                if self._stopping:
                    return
                self._child_died(proc)
                if self.failed:
                    return
                continue
            kind = msg[0]
            if kind == "cycle":
                if msg[4] is not None:
                    self._pending = msg[4]
                self._deliver(msg[1], msg[2], msg[3])
            elif kind == "stats":
                self._stats = msg[1]
                self._stats_ready.set()
            elif kind == "bye":
                return

    def _deliver(
        self,
        cycle: int,
        actions: tuple[MicroRiskAction, ...],
        warnings: tuple[RiskWarning, ...],
    ) -> None:
        for a in actions:
            try:
                self.sink.emit(a)
            except Exception as exc:
                self.delivery_errors += 1
                self._safe_warn(RiskCode.FS100, a.symbol, f"sink.emit failed: {exc!r}")
                if a.action_type.is_exit and self._cmd is not None:
                    self._cmd.put(("failed", a.symbol, "not delivered"))  # lets the loop retry
        for w in warnings:
            with contextlib.suppress(Exception):
                self.sink.warn(w)
        with self._cond:
            self._delivered = cycle
            self._cond.notify_all()

    def _child_died(self, proc: SpawnProcess) -> None:
        """FS100: report, stop ETEDA, free the shared lock, start a new child."""
        self.book.force_unlock()
        self._safe_warn(
            RiskCode.FS100, ALL, f"micro risk process {proc.pid} died (exit code {proc.exitcode})"
        )
        suspend = MicroRiskAction(
            ActionType.ETEDA_SUSPEND,
            ALL,
            0,
            "MICRO_LOOP_PROCESS_DIED",
            RiskCode.FS100,
            {"duration_ms": self.config.eteda_suspend_ms if self._delivered > 0 else None},
            action_id=f"MRP-{os.getpid()}-{self.restarts}",
            ts=self.clock.now(),
        )
        with contextlib.suppress(Exception):
            self.sink.emit(suspend)
        healthy = self._delivered > 0  # it ran before dying: a restart can help
        if self.restart and healthy and not self._stopping:
            self._spawn(restart=True)
        else:  # it never completed a cycle: restarting would fail the same way
            self.failed = True
            self._safe_warn(RiskCode.FS100, ALL, "micro risk process not restarted")

    def _safe_warn(self, code: RiskCode, symbol: str, message: str) -> None:
        w = RiskWarning(code, symbol, message, self.clock.now(), -1)
        with contextlib.suppress(Exception):
            self.sink.warn(w)
