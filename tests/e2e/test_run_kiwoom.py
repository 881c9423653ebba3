"""``qts run --broker kiwoom --account paper`` against the local Kiwoom exchange.

The twin of test_run_kis.py. The fake (REST + the real-time WebSocket on the same port) runs in
this process and replays the seeded synthetic market at high speed, as ``qts sim serve
--broker kiwoom`` does; ``qts run`` is a subprocess on the wall clock with its credentials from
the environment. Prints come over Kiwoom's WebSocket (0B), dated by ka10080; fills come from the
adapter's account polling. Synchronisation is on the run's output lines and the fake's records,
each with a ceiling, never a sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from test_run_kis import Lines

from qts.brokers.kiwoom.fake import (
    TEST_ACCOUNT_NO,
    TEST_APP_KEY,
    TEST_SECRET_KEY,
    FakeConfig,
    FakeKiwoomServer,
    MarketReplay,
    synthetic_venue,
)

RUN = ("run", "--broker", "kiwoom", "--account", "paper", "--for", "3m")
SPEED = 120.0  # two minute bars per second
WAIT = 60.0  # ceiling for the run to place and fill its first order (Kiwoom paces 1 call/s/api)


@pytest.fixture
def fake() -> Iterator[FakeKiwoomServer]:
    venue, market, day = synthetic_venue(7, date(2026, 3, 4))
    server = FakeKiwoomServer(venue, FakeConfig(ping_interval_s=0.5)).start()
    stop = threading.Event()
    replay = MarketReplay(venue, market, day, SPEED, stop=stop).start()
    yield server
    stop.set()
    replay.join(5)
    server.stop()


def kiwoom_env(server: FakeKiwoomServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIWOOM_")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
            "KIWOOM_VTS_APP_KEY": TEST_APP_KEY,
            "KIWOOM_VTS_APP_SECRET": TEST_SECRET_KEY,
            "KIWOOM_VTS_ACCOUNT_NO": TEST_ACCOUNT_NO,
            "KIWOOM_VTS_BASE_URL": server.base_url,
            "KIWOOM_VTS_WEBSOCKET_URL": server.base_url.replace("http://", "ws://")
            + "/api/dostk/websocket",
        }
    )
    return env


def test_qts_run_trades_through_the_kiwoom_fake(fake: FakeKiwoomServer, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "qts", *RUN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kiwoom_env(fake),
        cwd=tmp_path,
    )
    lines = Lines(proc)
    try:
        lines.wait_for("subscribed 0B for 8 symbols", 30)
        venue_time = lines.wait_for("venue time 2026-03-04", 30)  # dated by ka10080
        assert "(from the first trade print)" in venue_time
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

    hub = fake.kiwoom.realtime
    assert hub.logins >= 1 and hub.pushed >= 1
    assert fake.kiwoom.requests.get("ka10080", 0) >= 1  # the trading date came from the venue
    assert fake.kiwoom.requests.get("ka10001", 0) >= 8  # base prices of the universe
    assert fake.kiwoom.requests.get("kt10000", 0) + fake.kiwoom.requests.get("kt10001", 0) >= 1
    assert len(fake.venue.executions()) >= 1

    for secret in (TEST_APP_KEY, TEST_SECRET_KEY, TEST_ACCOUNT_NO, *fake.kiwoom.issued_tokens()):
        assert secret not in out


def test_a_real_kiwoom_account_refuses_to_start_without_the_live_switches(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ENABLE_REAL_ORDER", "QTS_LIVE_ACK")}
    proc = subprocess.run(
        [sys.executable, "-m", "qts", "run", "--broker", "kiwoom", "--account", "real"],
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
