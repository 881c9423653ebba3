"""The micro risk loop: a watchdog thread that protects open positions every 100 ms.

It reads only the :class:`ShadowBook` (positions and prices) and the latest volatility index,
and writes only to an :class:`ActionSink`, so it keeps protecting positions when the ETEDA loop
is slow, stalled or dead. Each cycle: snapshot → resolve pending exits → volatility step →
evaluate all positions (vectorised; per-position reference as fallback) → dispatch. Cycles run
on absolute deadlines (origin + k × period): lateness does not accumulate, and ticks missed by an
overrunning cycle are skipped and counted. A failing cycle (or position) is reported as FS100 and
the loop carries on.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from qts.core.clock import Clock
from qts.risk.actions import (
    ALL,
    ActionSink,
    ActionType,
    ExitGuard,
    ExitReason,
    MicroRiskAction,
    PendingExit,
    RiskCode,
    RiskWarning,
)
from qts.risk.config import MicroRiskConfig
from qts.risk.evaluate import Evaluation, evaluate_reference, evaluate_vectorised
from qts.risk.rules.volatility import VolatilityMonitor, VolLevel
from qts.risk.shadow import (
    BoolArray,
    LocalRows,
    PositionShadow,
    RiskLocals,
    ShadowSnapshot,
    ShadowSource,
    to_us,
)

Evaluator = Callable[
    [ShadowSnapshot, LocalRows, BoolArray, datetime, VolLevel, MicroRiskConfig], Evaluation
]

_MESSAGES = {
    RiskCode.GR071: "adverse excursion near the MAE threshold",
    RiskCode.GR072: "time in trade past 80 % of its limit",
    RiskCode.GR073: "volatility index at or above the warning level",
    RiskCode.FS101: "no position sync or heartbeat within the limit",
    RiskCode.FS105: "price feed stale; using the last price",
}


def next_deadline(origin: float, k: int, now: float, period: float) -> tuple[int, float, int]:
    """The next tick not yet past: (index, time, ticks skipped). Tick k is at origin + k·period."""
    deadline = origin + k * period
    if now <= deadline:
        return k, deadline, 0
    skipped = int((now - deadline) // period) + 1
    return k + skipped, origin + (k + skipped) * period, skipped


@dataclass(frozen=True, slots=True)
class LoopStats:
    cycles: int
    missed_ticks: int
    errors: int
    actions: int
    warnings: int
    suppressed_exits: int
    vector_fallbacks: int
    period_ms: tuple[float, ...]
    compute_ms: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class CycleReport:
    cycle: int
    ts: datetime | None
    positions: int
    level: VolLevel
    actions: tuple[MicroRiskAction, ...]
    warnings: tuple[RiskWarning, ...]
    errors: int
    compute_s: float


class MicroRiskLoop:
    """See the module docstring. ``period`` is in seconds (spec: 0.1; 0.05–1.0 sensible).
    ``nice``: if set, the loop thread asks the OS for that nice value (e.g. -10), best effort.
    ``on_cycle``: called on the loop thread with each cycle's report (the process runner uses it
    to ship the cycle's output to the owning process).

    Thread use: ``on_vol_index`` (vol feed), ``on_exit_done``/``on_exit_failed`` (order manager)
    and ``release_kill_switch`` (operator) may be called from any thread; the cycle itself runs
    on the loop's thread after :meth:`start`, or on the caller's thread via :meth:`run_once`.
    """

    def __init__(
        self,
        book: ShadowSource,
        sink: ActionSink,
        clock: Clock,
        config: MicroRiskConfig | None = None,
        period: float = 0.1,
        *,
        vectorised: bool = True,
        max_samples: int = 100_000,
        name: str = "micro-risk-loop",
        nice: int | None = None,
        on_cycle: Callable[[CycleReport], None] | None = None,
    ) -> None:
        if not period > 0:
            raise ValueError(f"micro loop period must be positive, got {period}")
        self.book = book
        self.sink = sink
        self.clock = clock
        self.config = config or MicroRiskConfig()
        self.period = period
        self.name = name
        self.nice = nice
        self.on_cycle = on_cycle
        self.nice_applied: bool | None = None
        self._evaluate: Evaluator = evaluate_vectorised if vectorised else evaluate_reference
        self._vol = VolatilityMonitor(self.config.volatility)
        self._guard = ExitGuard()
        self._locals = RiskLocals()
        self._token = uuid.uuid4().hex[:8]
        self._ids = itertools.count(1)
        self._global_warnings: set[RiskCode] = set()
        self._failing: set[str] = set()
        self._streak = 0
        self._cycle_lock = threading.Lock()
        self._cond = threading.Condition()
        self._cycle = 0
        self._completed = 0
        self._missed = 0
        self._errors = 0
        self._actions = 0
        self._warnings = 0
        self._suppressed = 0
        self._fallbacks = 0
        self._period_ms: deque[float] = deque(maxlen=max_samples)
        self._compute_ms: deque[float] = deque(maxlen=max_samples)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- inputs from other threads ---------------------------------------------------------------

    def on_vol_index(self, value: float, ts: datetime) -> None:
        """The latest VKOSPI value; never blocks."""
        self._vol.push(value, ts)

    def on_exit_done(self, symbol: str) -> bool:
        """The order manager finished the pending exit for ``symbol`` (filled or closed)."""
        return self._guard.done(symbol, to_us(self.clock.now()))

    def on_exit_failed(self, symbol: str, note: str = "") -> bool:
        """The pending exit failed: GR074, POSITION_FREEZE, and the next cycle may retry."""
        return self._guard.failed(symbol, to_us(self.clock.now()), note)

    def release_kill_switch(self) -> None:
        """Operator approval recorded elsewhere; from the next cycle the index decides again."""
        self._vol.release_kill_switch()

    # -- state -----------------------------------------------------------------------------------

    @property
    def cycles(self) -> int:
        """Cycles started so far (an action's ``cycle`` is the number of the cycle that sent it)."""
        return self._cycle

    @property
    def killed(self) -> bool:
        return self._vol.killed

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def pending_exit(self, symbol: str) -> PendingExit | None:
        return self._guard.get(symbol)

    def pending_exits(self) -> tuple[int, list[PendingExit]]:
        """(version, exits): the version changes whenever the pending set does."""
        return self._guard.version, self._guard.items()

    def restore_pending(self, exits: list[PendingExit]) -> None:
        """Before start: exits a previous incarnation of this loop sent and nobody resolved."""
        self._guard.restore(exits)

    def position(self, symbol: str) -> PositionShadow | None:
        """Diagnostic view: the shadow plus the loop's local fields as of its last cycle."""
        snap = self.book.snapshot()
        row = snap.row_of(symbol)
        if row is None:
            return None
        local = self._locals.row_view(int(snap.slots[row]), int(snap.epoch[row]))
        p = self._guard.get(symbol)
        return snap.position(row, local, p.action_id if p else None, local_row=0)

    def stats(self) -> LoopStats:
        with self._cond:
            return LoopStats(
                cycles=self._completed,
                missed_ticks=self._missed,
                errors=self._errors,
                actions=self._actions,
                warnings=self._warnings,
                suppressed_exits=self._suppressed,
                vector_fallbacks=self._fallbacks,
                period_ms=tuple(self._period_ms),
                compute_ms=tuple(self._compute_ms),
            )

    def reset_samples(self) -> None:
        with self._cond:
            self._period_ms.clear()
            self._compute_ms.clear()

    def wait_for_cycle(self, n: int, timeout: float) -> bool:
        """Block until cycle ``n`` has completed; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._completed >= n, timeout)

    # -- the thread ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"{self.name} did not stop within {timeout} s")
        self._thread = None

    def _raise_priority(self) -> None:
        """Best effort (as CD-003 for the P0 thread): a lower nice value for this thread only,
        so other work on the machine delays its wake-ups less. Never needed for correctness."""
        if self.nice is None:
            return
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
            self.nice_applied = True
        except (OSError, AttributeError):
            self.nice_applied = False

    def _run(self) -> None:
        self._raise_priority()
        origin = time.perf_counter()
        k = 0
        last_start: float | None = None
        while not self._stop.is_set():
            start = time.perf_counter()
            if last_start is not None:
                with self._cond:
                    self._period_ms.append((start - last_start) * 1_000.0)
            last_start = start
            self.run_once()
            k, deadline, skipped = next_deadline(origin, k + 1, time.perf_counter(), self.period)
            if skipped:
                with self._cond:
                    self._missed += skipped
            if self._stop.wait(max(0.0, deadline - time.perf_counter())):
                break

    # -- one cycle -------------------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> CycleReport:
        """Run one cycle at ``now`` (default: the clock). Never raises: failures become FS100."""
        with self._cycle_lock:
            t0 = time.perf_counter()
            self._cycle += 1
            cycle = self._cycle
            emitted: list[MicroRiskAction] = []
            warned: list[RiskWarning] = []
            failing: set[str] = set()
            positions = 0
            level = VolLevel.NORMAL
            ts = now
            try:
                ts = now if now is not None else self.clock.now()
                positions, level = self._cycle_body(ts, cycle, emitted, warned, failing)
            except Exception as exc:
                self._fail(ALL, exc, ts, cycle, warned, failing)
            self._failing = failing
            if failing:
                self._streak += 1
                if self._streak == self.config.suspend_after_errors:
                    suspend = MicroRiskAction(
                        ActionType.ETEDA_SUSPEND,
                        ALL,
                        0,
                        "MICRO_LOOP_ERRORS",
                        RiskCode.FS100,
                        {"duration_ms": self.config.eteda_suspend_ms},
                    )
                    self._dispatch(suspend, ts, cycle, emitted, warned, failing)
            else:
                self._streak = 0
            compute = time.perf_counter() - t0
            with self._cond:
                self._completed = cycle
                self._errors += len(failing)
                self._actions += len(emitted)
                self._warnings += len(warned)
                self._compute_ms.append(compute * 1_000.0)
                self._cond.notify_all()
            report = CycleReport(
                cycle, ts, positions, level, tuple(emitted), tuple(warned), len(failing), compute
            )
            if self.on_cycle is not None:
                try:
                    self.on_cycle(report)
                except Exception:  # the hook's owner reports its own failures
                    with self._cond:
                        self._errors += 1
            return report

    def _cycle_body(
        self,
        now: datetime,
        cycle: int,
        emitted: list[MicroRiskAction],
        warned: list[RiskWarning],
        failing: set[str],
    ) -> tuple[int, VolLevel]:
        now_us = to_us(now)
        snap = self.book.snapshot()
        prev = self._locals.gather(snap)
        pending = self._resolve_pending(snap, prev, now, now_us, cycle, emitted, warned, failing)
        vol = self._vol.step()
        for action in vol.actions:
            self._dispatch(action, now, cycle, emitted, warned, failing)
        codes = set(vol.warnings)
        sync_stale = self.config.sync_stale_ms
        if (
            sync_stale is not None
            and snap.last_sync_us
            and now_us - snap.last_sync_us > sync_stale * 1_000
        ):
            codes.add(RiskCode.FS101)
        for code in sorted(codes - self._global_warnings):
            self._warn(code, ALL, now, cycle, warned)
        self._global_warnings = codes

        try:
            ev = self._evaluate(snap, prev, pending, now, vol.level, self.config)
        except Exception as exc:  # a fault in the fast path must not leave positions unguarded
            self._fail(ALL, exc, now, cycle, warned, failing, "vectorised evaluation failed")
            with self._cond:
                self._fallbacks += 1
            ev = evaluate_reference(snap, prev, pending, now, vol.level, self.config)
        self._locals.scatter(snap, ev.local)
        with self._cond:
            self._suppressed += ev.suppressed
        report_adjust = self.config.emit_adjustments
        for row, action in ev.actions:
            if action.action_type.is_exit:
                self._send_exit(snap, row, action, now, now_us, cycle, emitted, warned, failing)
            elif report_adjust:  # the new stop is already stored in the loop's local fields
                self._dispatch(action, now, cycle, emitted, warned, failing)
        for row, code in ev.warnings:
            self._warn(code, snap.symbol(row), now, cycle, warned)
        for row, err in ev.errors:
            self._fail(snap.symbol(row), err, now, cycle, warned, failing)
        return len(snap), vol.level

    def _resolve_pending(
        self,
        snap: ShadowSnapshot,
        prev: LocalRows,
        now: datetime,
        now_us: int,
        cycle: int,
        emitted: list[MicroRiskAction],
        warned: list[RiskWarning],
        failing: set[str],
    ) -> BoolArray:
        """Mask of rows with an exit still pending; resolves the others (see PendingExit)."""
        mask = np.zeros(len(snap), np.bool_)
        items = self._guard.items()
        if not items:
            return mask
        grace_us = self.config.exit_done_grace_ms * 1_000
        row_by_slot = np.full(snap.capacity, -1, np.int64)
        row_by_slot[snap.slots] = np.arange(len(snap))
        rows_of, epochs, qtys = row_by_slot.tolist(), snap.epoch.tolist(), snap.qty.tolist()
        for p in items:
            r = rows_of[p.slot] if p.slot < len(rows_of) else -1
            row = r if r >= 0 and epochs[r] == p.epoch else None
            unresolved = row is not None and qtys[row] > p.target_qty
            open_ = p.closed_us is None or (not p.failed and now_us - p.closed_us < grace_us)
            if unresolved and open_ and row is not None:
                mask[row] = True
                continue
            if not self._guard.discard(p):
                continue  # changed meanwhile; judged next cycle
            if p.failed and row is not None:
                if p.reason == ExitReason.MAE_PARTIAL:
                    prev.partial_done[row] = False
                elif p.reason == ExitReason.VOLATILITY_REDUCE:
                    prev.vol_done[row] = False
                self._warn(RiskCode.GR074, p.symbol, now, cycle, warned, p.note)
                freeze = MicroRiskAction(
                    ActionType.POSITION_FREEZE,
                    p.symbol,
                    0,
                    "EMERGENCY_EXIT_FAILED",
                    RiskCode.GR074,
                    {"failed_action_id": p.action_id},
                )
                self._dispatch(freeze, now, cycle, emitted, warned, failing)
        return mask

    def _send_exit(
        self,
        snap: ShadowSnapshot,
        row: int,
        action: MicroRiskAction,
        now: datetime,
        now_us: int,
        cycle: int,
        emitted: list[MicroRiskAction],
        warned: list[RiskWarning],
        failing: set[str],
    ) -> None:
        stamped = action.stamped(self._next_id(), now, cycle)
        qty = int(snap.qty[row])
        pending = PendingExit(
            symbol=action.symbol,
            slot=int(snap.slots[row]),
            epoch=int(snap.epoch[row]),
            action_id=stamped.action_id,
            action_type=action.action_type,
            reason=action.reason,
            qty_before=qty,
            target_qty=qty - action.qty,
            since_us=now_us,
        )
        if not self._guard.begin(pending):
            with self._cond:
                self._suppressed += 1
            return
        try:
            self.sink.emit(stamped)
        except Exception as exc:
            self._guard.discard(pending)  # not sent: the next cycle tries again
            self._fail(action.symbol, exc, now, cycle, warned, failing, "sink.emit failed")
            return
        emitted.append(stamped)

    def _dispatch(
        self,
        action: MicroRiskAction,
        now: datetime | None,
        cycle: int,
        emitted: list[MicroRiskAction],
        warned: list[RiskWarning],
        failing: set[str],
    ) -> None:
        stamped = action.stamped(self._next_id(), now or self.clock.now(), cycle)
        try:
            self.sink.emit(stamped)
        except Exception as exc:
            self._fail(action.symbol, exc, now, cycle, warned, failing, "sink.emit failed")
            return
        emitted.append(stamped)

    def _next_id(self) -> str:
        return f"MR-{self._token}-{next(self._ids)}"

    def _warn(
        self,
        code: RiskCode,
        symbol: str,
        now: datetime | None,
        cycle: int,
        warned: list[RiskWarning],
        message: str = "",
    ) -> None:
        w = RiskWarning(
            code, symbol, message or _MESSAGES.get(code, ""), now or self.clock.now(), cycle
        )
        try:
            self.sink.warn(w)
        except Exception:  # nowhere left to report to; the counters still show it
            with self._cond:
                self._errors += 1
            return
        warned.append(w)

    def _fail(
        self,
        symbol: str,
        exc: Exception,
        now: datetime | None,
        cycle: int,
        warned: list[RiskWarning],
        failing: set[str],
        context: str = "",
    ) -> None:
        """Count a failure; report FS100 once per streak of failures for the same symbol."""
        new = symbol not in self._failing and symbol not in failing
        failing.add(symbol)
        if new:
            what = f"{context}: " if context else ""
            self._warn(
                RiskCode.FS100, symbol, now, cycle, warned, f"{what}{type(exc).__name__}: {exc}"
            )
