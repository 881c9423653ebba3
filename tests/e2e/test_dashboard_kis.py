"""The live path serves the operator's surface too: ``qts run --broker kis`` against the local
KIS exchange answers /health (broker session up), /metrics (the threaded 100 ms micro risk
loop's measured period, fills) and the dashboard's view, while it trades."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from datetime import time as dtime
from pathlib import Path

import httpx
import pytest
from live_helpers import FIRST_FILL_S, REPLAY_SPEED, Lines, kis_env, kis_venue

from qts.brokers.kis.fake import FakeKisServer
from qts.core.time import KST


@pytest.fixture
def fake() -> Iterator[FakeKisServer]:
    with kis_venue(REPLAY_SPEED) as (server, _clock, _market):
        yield server


def view_clock_is_the_venues(base: str) -> bool:
    """The dashboard's clock is the venue's: inside the session the fake replays."""
    clock = datetime.fromisoformat(httpx.get(base + "api/view", timeout=10).json()["live"]["clock"])
    return dtime(9, 0) <= clock.astimezone(KST).time() <= dtime(15, 30)


def test_live_kis_run_serves_health_metrics_and_view(fake: FakeKisServer, tmp_path: Path) -> None:
    cfg = tmp_path / "qts.yaml"
    cfg.write_text("dashboard:\n  port: 0\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qts",
            "run",
            "--broker",
            "kis",
            "--account",
            "paper",
            "--for",
            "3m",
            "-c",
            str(cfg),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kis_env(fake),
        cwd=tmp_path,
    )
    lines = Lines(proc)
    try:
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", lines.wait_for("dashboard: http", 30))
        assert url is not None
        base = url.group(1)
        lines.wait_match(r" FILL (BUY|SELL) ", FIRST_FILL_S)
        deadline = time.monotonic() + 30
        while True:
            metrics = httpx.get(base + "metrics", timeout=10).text
            fills = re.search(r"^qts_fills_total (\S+)$", metrics, re.M)
            period = re.search(
                r'^qts_micro_loop_period_seconds\{quantile="0.5"\} (\S+)$', metrics, re.M
            )
            if fills and float(fills.group(1)) >= 1 and period:
                break
            assert time.monotonic() < deadline, metrics
            time.sleep(0.2)
        assert 0.05 < float(period.group(1)) < 0.2  # the 100 ms loop, measured
        # the feed's age is venue time: at 120x a cycle that takes seconds leaves the engine
        # minutes of venue time behind (not ready) until it has caught up
        deadline = time.monotonic() + 30
        while True:
            health = httpx.get(base + "health", timeout=10)
            body = health.json()
            if health.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert body["checks"]["broker"] == {"ok": True, "detail": "kis connected"}, body
        assert health.status_code == 200 and body["ready"], body
        # the fake replays its day mid-session, hours from the wall clock: /health follows the
        # venue's time (it said "session closed" at venue 09:08 when it read the wall clock)
        feed = body["checks"]["feed"]
        assert feed["ok"] and feed["detail"].startswith("last cycle "), body
        assert view_clock_is_the_venues(base)
        view = httpx.get(base + "api/view", timeout=10).json()
        assert view["run"]["mode"] == "paper" and view["counts"]["fills"] >= 1
        assert view["live"]["micro"]["threaded"] is True
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    out = lines.rest(10)
    assert "dashboard:" in out
