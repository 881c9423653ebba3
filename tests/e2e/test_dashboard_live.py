"""The dashboard of a paced paper run, in a real browser (Debian's chromium through Playwright,
no browser download), and its /metrics and /health while the run trades.

One paced ``qts run`` serves every test of this module. The browser test loads the page before
the first fill, waits for a fill row to appear without a reload, and keeps screenshots (desktop
and phone) under tests/artifacts/dashboard/ (printed; gitignored).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class PacedRun:
    def __init__(self, proc: subprocess.Popen[str], url: str, out: Path, db: Path) -> None:
        self.proc, self.url, self.out, self.db = proc, url, out, db


@pytest.fixture(scope="module")
def paced_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PacedRun]:
    tmp = tmp_path_factory.mktemp("dash")
    cfg = tmp / "qts.yaml"
    cfg.write_text("dashboard:\n  port: 0\n")
    out = tmp / "stdout.txt"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    # 90x: the first fill of seed 7 comes about 16 s after the open, time enough to load the
    # page first on a loaded machine
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qts",
                "run",
                "--seed",
                "7",
                "--speed",
                "90",
                "--for",
                "6h",
                "--db",
                str(tmp / "run.sqlite"),
                "-c",
                str(cfg),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None:
            m = re.search(r"dashboard: (http://127\.0\.0\.1:\d+/)", out.read_text())
            url = m.group(1) if m else None
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        yield PacedRun(proc, url, out, tmp / "run.sqlite")
    finally:
        proc.terminate()
        proc.wait(30)


def _series(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert m, f"{name} missing from /metrics"
    return float(m.group(1))


def test_a_fill_appears_in_the_browser_without_reload(paced_run: PacedRun) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium missing: .ci/run installs it (apt-get install -y chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(paced_run.url)
            page.wait_for_function("document.body.dataset.seq !== undefined", timeout=20_000)
            before = page.locator("#fills tbody tr").count()
            assert before == 0, "the page was loaded after the first fill; start it earlier"
            page.evaluate("window.__loadedOnce = true")  # gone if the page reloads
            page.wait_for_selector("#fills tbody tr", timeout=90_000)
            row = page.locator("#fills tbody tr").first.inner_text()
            assert re.search(r"\d{6}\s+(BUY|SELL)\s+[\d,]+\s+[\d,]+", row), row
            assert page.evaluate("window.__loadedOnce === true")
            assert page.locator("#conn").inner_text() == "live"
            # the same fill is in the run's own console output
            symbol = row.split()[2]
            assert "FILL" in paced_run.out.read_text() and symbol in paced_run.out.read_text()
            page.wait_for_timeout(300)  # let the highlight start, for the picture only
            page.screenshot(path=str(ARTIFACTS / "desktop.png"), full_page=True)
            phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
            phone.goto(paced_run.url)
            phone.wait_for_selector("#fills tbody tr", timeout=20_000)
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
            phone.screenshot(path=str(ARTIFACTS / "phone.png"), full_page=True)
        finally:
            browser.close()
    print(f"screenshots: {ARTIFACTS}")


def test_metrics_move_during_the_run(paced_run: PacedRun) -> None:
    url = paced_run.url + "metrics"
    first = httpx.get(url, timeout=10).text
    deadline = time.monotonic() + 60
    while True:
        second = httpx.get(url, timeout=10).text
        moved = (
            _series(second, "qts_cycles_total") > _series(first, "qts_cycles_total")
            and _series(second, 'qts_events_handled_total{priority="P1"}')
            > _series(first, 'qts_events_handled_total{priority="P1"}')
            and _series(second, "qts_fills_total") > 0
            and _series(second, "qts_micro_loop_cycles_total")
            > _series(first, "qts_micro_loop_cycles_total")
        )
        if moved:
            break
        assert time.monotonic() < deadline, second
        time.sleep(0.5)
    for name in (
        'qts_cycle_latency_seconds{quantile="0.99"}',
        'qts_event_queue_depth{priority="P0"}',
        'qts_event_queue_latency_seconds{priority="P3",quantile="0.5"}',
        'qts_micro_loop_period_seconds{quantile="target"}',
        "qts_order_rejections_total",
        'qts_pnl_krw{kind="day"}',
        'qts_safety_state{state="NORMAL"}',
    ):
        _series(second, name)
    assert _series(second, 'qts_safety_state{state="NORMAL"}') == 1.0
    assert _series(second, 'qts_cycle_latency_seconds{quantile="0.99"}') > 0


def test_health_is_ready_during_the_run(paced_run: PacedRun) -> None:
    r = httpx.get(paced_run.url + "health", timeout=10)
    body = r.json()
    assert r.status_code == 200, body
    assert body["ready"] and set(body["checks"]) == {"store", "safety", "broker", "feed"}
    assert httpx.get(paced_run.url + "health/live", timeout=10).json() == {"live": True}


def test_recovery_approval_from_the_browser(paced_run: PacedRun, tmp_path: Path) -> None:
    """A copy of the running books put in LOCKDOWN, served by ``qts dashboard --db``: the form
    appears, and submitting it records the approval the run would apply."""
    from playwright.sync_api import sync_playwright

    from qts.data.sqlite import SqliteStore
    from qts.ops.backup import backup_sqlite
    from qts.safety.state import SafetyState, SafetyStatus
    from qts.safety.supervisor import REQUEST_KEY, STATE_KEY

    copy = backup_sqlite(paced_run.db, tmp_path / "b").path / "books.sqlite"
    store = SqliteStore(str(copy))
    store.save_state(
        STATE_KEY, SafetyStatus(state=SafetyState.LOCKDOWN, last_code="FS080").to_json()
    )
    store.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qts", "dashboard", "--db", str(copy), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[1]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url)
                page.wait_for_selector("#recovery:not([hidden])", timeout=20_000)
                assert page.locator("#safety-badge").inner_text() == "LOCKDOWN"
                page.fill("#recovery input[name=operator]", "kim")
                page.fill("#recovery textarea[name=reason]", "capital checked, broker healthy")
                page.click("#recovery button")
                page.wait_for_function(
                    "document.getElementById('recovery-result').textContent.includes('recorded')",
                    timeout=20_000,
                )
                page.wait_for_selector("#recovery[hidden]", state="attached", timeout=20_000)
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "lockdown-approved.png"), full_page=True)
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(15)
    store = SqliteStore(str(copy))
    request = store.load_state(REQUEST_KEY)
    store.close()
    assert request is not None and request["operator"] == "kim"
    assert request["reason"] == "capital checked, broker healthy"
