"""SIGTERM stops a run within seconds even when a thread is stuck on a lock, and names the lock.

A real process: a thread takes the order manager's lock and never lets go; the main thread (the
run) blocks on it. SIGTERM sets the stop event; the run cannot finish, so after the grace period
the watchdog prints who holds which lock and ends the process non-zero.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from qts.app.shutdown import STUCK_EXIT

PROGRAM = textwrap.dedent(
    """
    import sys, threading
    from qts.app.shutdown import StopWatchdog
    from qts.core.locks import ORDER_MANAGER, STORE, OrderedLock

    oms_lock = OrderedLock("order manager", ORDER_MANAGER)
    store_lock = OrderedLock("store var/x.sqlite", STORE)
    stop = threading.Event()
    watchdog = StopWatchdog(stop, grace_s=float(sys.argv[1])).install()
    taken = threading.Event()

    def p0_handler():
        with oms_lock, store_lock:
            taken.set()
            threading.Event().wait()  # stuck for ever, holding both

    threading.Thread(target=p0_handler, name="qts-events-P0", daemon=True).start()
    taken.wait()
    print("ready", flush=True)
    if sys.argv[2] == "stuck":
        with oms_lock:  # the run's main thread waits for the lock the P0 thread never releases
            pass
    else:
        stop.wait()
    watchdog.finished()
    print("stopped cleanly", flush=True)
    """
)


def _start(mode: str, grace: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, str(grace), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_sigterm_with_a_stuck_thread_names_the_lock_and_exits_non_zero() -> None:
    proc = _start("stuck", grace=1.0)
    sent = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    took = time.monotonic() - sent
    assert proc.returncode == STUCK_EXIT, (proc.returncode, out, err)
    assert took < 10, f"took {took:.1f} s"
    assert "stopped cleanly" not in out
    assert "did not stop within 1 s" in err
    assert "'order manager' held by thread 'qts-events-P0'" in err
    assert "'store var/x.sqlite' held by thread 'qts-events-P0'" in err
    # the holder's stack shows where it is stuck
    holder = err.split("thread 'qts-events-P0' (holds a lock):", 1)[1]
    assert "p0_handler" in holder.split("thread '", 1)[0]


def test_sigterm_without_a_stuck_thread_stops_cleanly() -> None:
    proc = _start("clean", grace=5.0)
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "stopped cleanly" in out
    assert "stopping by force" not in err


def test_a_second_signal_stops_at_once() -> None:
    proc = _start("stuck", grace=600.0)
    os.kill(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + 5
    # signals sent close together may be handled as one: repeat until the process ends
    while time.monotonic() < deadline:
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            continue
    _out, err = proc.communicate(timeout=15)
    assert proc.returncode == STUCK_EXIT
    assert "second SIGINT" in err
    assert "'order manager' held by thread 'qts-events-P0'" in err
