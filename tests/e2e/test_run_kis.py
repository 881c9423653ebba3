"""``qts run --broker kis --account paper`` against the local KIS exchange.

The fake runs in this process and replays the seeded synthetic market at high speed (a minute
bar every 1/SPEED minutes), exactly as ``qts sim serve --broker kis`` does; ``qts run`` runs as
a subprocess on the wall clock with its credentials from the environment. A wall-clock run is
not reproducible bar for bar, so the test checks what must hold: it connects and subscribes,
builds bars from the trade prints, runs cycles, places orders that fill, stops cleanly (exit 0)
on SIGTERM, and never prints a secret. Synchronisation is on data: the run's output lines and
the fake's own records, each with a ceiling, never a sleep.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qts.brokers.kis import KisMode
from qts.brokers.kis.fake import FakeKisServer
from qts.brokers.kis.fake.credentials import PAPER_APP
from qts.brokers.kis.fake.serve import build_replay_server
from qts.brokers.kis.fake.server import FakeKisOptions

RUN = ("run", "--broker", "kis", "--account", "paper", "--for", "3m")
SPEED = 120.0  # two minute bars per second
WAIT = 45.0  # ceiling for the run to place and fill its first order


@pytest.fixture
def fake() -> Iterator[FakeKisServer]:
    server, clock, frames = build_replay_server(
        seed=7, speed=SPEED, mode=KisMode.PAPER, options=FakeKisOptions(mode=KisMode.PAPER)
    )
    server.start()
    server.replay(frames, clock)
    yield server
    server.stop()


def kis_env(server: FakeKisServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIS_")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
            "KIS_VTS_APP_KEY": PAPER_APP.app_key,
            "KIS_VTS_APP_SECRET": PAPER_APP.app_secret,
            "KIS_VTS_ACCOUNT_NO": PAPER_APP.account_no,
            "KIS_VTS_HTS_ID": PAPER_APP.hts_id,
            "KIS_VTS_BASE_URL": server.rest_url,
            "KIS_VTS_WS_URL": server.ws_url,
        }
    )
    return env


class Lines:
    """The subprocess's output, line by line, as it comes (a reader thread per stream)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.q: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        for stream in (proc.stdout, proc.stderr):
            assert stream is not None
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.q.put(line)
        self.q.put(None)

    def wait_for(self, text: str, timeout: float) -> str:
        return self.wait_match(re.escape(text), timeout)

    def wait_match(self, pattern: str, timeout: float) -> str:
        text = pattern
        deadline = time.monotonic() + timeout
        for line in self.seen:
            if re.search(pattern, line):
                return line
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} in {timeout} s; output:\n{''.join(self.seen)}")
            try:
                got = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if got is None:
                raise AssertionError(f"output ended without {text!r}:\n{''.join(self.seen)}")
            line = got
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def rest(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        ends = 0
        while ends < 2 and time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                ends += 1
            else:
                self.seen.append(line)
        return "".join(self.seen)


def test_qts_run_trades_through_the_kis_fake(fake: FakeKisServer, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "qts", *RUN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kis_env(fake),
        cwd=tmp_path,
    )
    lines = Lines(proc)
    try:
        lines.wait_for("subscribed H0STCNT0 for 8 symbols", 20)
        lines.wait_for("venue time", 20)
        # a fill reaches the console as it is booked, and the panel shows its fees
        lines.wait_match(r" FILL (BUY|SELL) ", WAIT)
        lines.wait_match(r"fees [1-9][0-9,]*", WAIT)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    out = lines.rest(10)
    summary = lines.wait_for("stopped: stop requested", 1)
    assert "trade prints ->" in summary and " 0 cycles" not in summary
    assert " 0 orders" not in summary and " 0 ledger rows" not in summary
    # the status panel of the live path shows the operating state and the pools
    assert re.search(r"state (AGGRESSIVE|BALANCED|DEFENSIVE).*pools: scalp [0-9,]+", out), out

    # the fake saw the registrations, the orders, and sent the fill notices
    for symbol in ("005870",):
        assert fake.subscriptions("H0STCNT0", symbol) >= 1
    assert fake.subscriptions("H0STCNI9", PAPER_APP.hts_id) >= 1
    assert fake.stats.orders_placed >= 1 and fake.stats.notices_sent >= 2
    assert fake.call(lambda: len(fake.account().sim.fills())) >= 1

    for secret in (PAPER_APP.app_key, PAPER_APP.app_secret, PAPER_APP.cano, PAPER_APP.hts_id):
        assert secret not in out


def test_a_real_account_refuses_to_start_without_the_live_switches(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ENABLE_REAL_ORDER", "QTS_LIVE_ACK")}
    proc = subprocess.run(
        [sys.executable, "-m", "qts", "run", "--broker", "kis", "--account", "real"],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "mode" in out and "live" in out
