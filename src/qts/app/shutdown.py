"""SIGTERM / SIGINT stop a run within seconds, even when one of its threads is stuck.

The first signal sets the run's stop event: the loop ends after its cycle, the books are
committed and the process exits 0. If the run has not finished ``grace`` seconds later (a thread
blocked on a lock, a broker call that never returns), the watchdog writes which ordered locks are
held and by which threads, with every thread's stack, to stderr and the log, and ends the process
with exit code :data:`STUCK_EXIT`. A second signal does the same at once. Ending the process
this way loses nothing: the books are written before every action (ADR 0003) and an open SQLite
or PostgreSQL transaction is rolled back by the database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from types import FrameType

from qts.core.locks import held_locks

log = logging.getLogger(__name__)
STUCK_EXIT = 3
DEFAULT_GRACE_S = 10.0


def stuck_report() -> str:
    """Which ordered locks are held by whom, and every thread's stack."""
    threads = {t.ident: t.name for t in threading.enumerate()}
    lines = ["locks held:"]
    held = held_locks()
    lines += [f"  {h.name!r} held by thread {h.thread!r}" for h in held] or ["  none"]
    holders = {h.ident for h in held}
    frames = sys._current_frames()
    order = sorted(frames, key=lambda i: (i not in holders, threads.get(i, str(i))))
    for ident in order:
        mark = " (holds a lock)" if ident in holders else ""
        lines.append(f"thread {threads.get(ident, ident)!r}{mark}:")
        lines += ["  " + ln for ln in "".join(traceback.format_stack(frames[ident])).splitlines()]
    return "\n".join(lines)


class StopWatchdog:
    """Turns SIGTERM/SIGINT into the run's stop event, with a deadline."""

    def __init__(
        self,
        stop: threading.Event,
        grace_s: float = DEFAULT_GRACE_S,
        *,
        exit_code: int = STUCK_EXIT,
        terminate: Callable[[int], None] = os._exit,
        write: Callable[[str], None] | None = None,
    ) -> None:
        self.stop = stop
        self.grace_s = grace_s
        self.exit_code = exit_code
        self._terminate = terminate
        self._write = write or _stderr
        self._done = threading.Event()
        self._timer: threading.Thread | None = None
        self._signals = 0

    def install(self) -> StopWatchdog:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        return self

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            self._give_up(f"second {signal.Signals(signum).name}")
            return
        self.request_stop(signal.Signals(signum).name)

    def request_stop(self, why: str) -> None:
        """Set the stop event and start the deadline (once)."""
        self.stop.set()
        if self._timer is None:
            self._timer = threading.Thread(
                target=self._watch, args=(why,), name="qts-stop-watchdog", daemon=True
            )
            self._timer.start()

    def finished(self) -> None:
        """The run ended by itself: no deadline any more."""
        self._done.set()

    def _watch(self, why: str) -> None:
        if not self._done.wait(self.grace_s):
            self._give_up(f"{why}: the run did not stop within {self.grace_s:g} s")

    def _give_up(self, why: str) -> None:
        if self._done.is_set():
            return
        text = f"qts: stopping by force ({why})\n{stuck_report()}\n"
        self._write(text)
        # the log files too, but a logging lock held by a stuck thread must not stop the exit
        logger = threading.Thread(target=log.critical, args=("%s", text), daemon=True)
        logger.start()
        logger.join(1.0)
        self._terminate(self.exit_code)


def _stderr(text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, text.encode("utf-8", "replace"))
