"""A strategy written only from docs/strategies.md trades in every mode.

The worked example is taken out of the guide itself (and must equal
``tests/e2e/strategies/rsi_reversion.py``, so the two cannot drift), written to a folder of its
own and loaded with ``--strategy rsi_reversion.py:RsiReversion``, as a reader would: a backtest,
a sweep whose trials run in worker processes, a paper day on the simulated exchange, and a live
run on a KIS paper account against the local KIS exchange. Each must book at least one fill of
that strategy. The guide's own testing snippet runs too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_run import run_qts
from live_helpers import FIRST_FILL_S, REPLAY_SPEED, Lines, kis_env, kis_venue

from qts.brokers.kis.fake import FakeKisServer

ROOT = Path(__file__).parents[2]
GUIDE = ROOT / "docs" / "strategies.md"
EXAMPLE = Path(__file__).parent / "strategies" / "rsi_reversion.py"
DATA = ROOT / "tests" / "data" / "msft_daily_1986_2017.csv"
SPEC = "rsi_reversion.py:RsiReversion"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


def guide_block(marker: str) -> str:
    """The first ```python block of the guide after ``marker``."""
    text = GUIDE.read_text("utf-8")
    at = text.index(marker)
    found = re.search(r"```python\n(.*?)```", text[at:], flags=re.S)
    assert found, f"no python block after {marker!r} in {GUIDE}"
    return textwrap.dedent(found.group(1))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A reader's folder holding the strategy as the guide prints it."""
    (tmp_path / "rsi_reversion.py").write_text(
        guide_block("<!-- example: tests/e2e/strategies/rsi_reversion.py -->")
    )
    return tmp_path


def qts(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_qts(*args, env=ENV, cwd=cwd, timeout=600)


def ledger(cwd: Path, db: Path) -> list[dict[str, Any]]:
    proc = qts(cwd, "ledger", "--db", str(db), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows: list[dict[str, Any]] = json.loads(proc.stdout)
    return rows


def assert_strategys_fills(rows: list[dict[str, Any]]) -> None:
    """Fills of the strategy, and otherwise only exits of the micro risk loop (trailing stops
    and the like, which protect every position in paper and live runs)."""
    tags = {r["strategy"] for r in rows}
    assert "rsi_reversion" in tags and tags <= {"rsi_reversion", "micro_risk"}, tags


def test_the_guides_example_is_the_file_the_tests_keep() -> None:
    marker = "<!-- example: tests/e2e/strategies/rsi_reversion.py -->"
    assert guide_block(marker) == EXAMPLE.read_text("utf-8")


def test_backtest(folder: Path) -> None:
    out = folder / "out"
    proc = qts(
        folder,
        "backtest",
        "--data",
        str(DATA),
        "--price-scale",
        "100",
        "--start",
        "2008-01-01",
        "--end",
        "2010-12-31",
        "--strategy",
        SPEC,
        "--param",
        "qty=10",
        "--out",
        str(out),
        "--db",
        str(folder / "bt.sqlite"),
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trades"], summary
    source = summary["provenance"]["strategy_file"]
    assert source["path"] == str(folder / "rsi_reversion.py")
    rows = ledger(folder, folder / "bt.sqlite")
    assert rows and {r["strategy"] for r in rows} == {"rsi_reversion"}


def test_optimize_trials_load_the_file_in_worker_processes(folder: Path) -> None:
    out = folder / "sweep"
    lines = DATA.read_text().splitlines()
    short = folder / "MSFT.csv"  # three years keep the two trials short
    short.write_text(
        "\n".join([lines[0], *(r for r in lines[1:] if r[:4] in ("2008", "2009", "2010"))])
    )
    proc = qts(
        folder,
        "optimize",
        "--data",
        str(short),
        "--price-scale",
        "100",
        "--strategy",
        SPEC,
        "--space",
        "window=7,14",
        "--workers",
        "2",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 trials (0 failed)" in " ".join(proc.stderr.split()), proc.stderr
    best = json.loads((out / "best.json").read_text())
    assert best["params"]["window"] in (7, 14)


def test_paper_day(folder: Path) -> None:
    db = folder / "paper.sqlite"
    proc = qts(folder, "run", "--speed", "max", "--for", "1d", "--db", str(db), "--strategy", SPEC)
    assert proc.returncode == 0, proc.stderr
    assert "rsi_reversion: RSI" in proc.stdout  # the decisions' reasons reach the console
    assert_strategys_fills(ledger(folder, db))


@pytest.fixture
def kis() -> Iterator[FakeKisServer]:
    with kis_venue(REPLAY_SPEED) as (server, _clock, _market):
        yield server


def test_live_on_a_kis_paper_account(kis: FakeKisServer, folder: Path) -> None:
    """Minute bars from the trade prints: a short RSI window trades within the first minutes."""
    args = ("run", "--broker", "kis", "--account", "paper", "--for", "3m", "--strategy", SPEC)
    params = ("--param", "window=5", "--param", "oversold=40", "--param", "overbought=60")
    proc = subprocess.Popen(
        [sys.executable, "-m", "qts", *args, *params],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kis_env(kis),
        cwd=folder,
    )
    lines = Lines(proc)
    try:
        lines.wait_for("venue time", 30)
        lines.wait_match(r" FILL (BUY|SELL) ", FIRST_FILL_S)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    lines.rest(10)
    assert kis.call(lambda: len(kis.account().sim.fills())) >= 1
    books = list((folder / "var").glob("live-kis-paper-*.sqlite"))
    assert len(books) == 1, books
    assert_strategys_fills(ledger(folder, books[0]))


def test_the_guides_testing_snippet_passes(
    folder: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    snippet = guide_block("## Testing a strategy")
    namespace: dict[str, Any] = {}
    exec(compile(snippet, f"{GUIDE}:testing", "exec"), namespace)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    namespace["test_rsi_reversion_buys_a_dip_and_sells_the_bounce"](
        tmp_path_factory.mktemp("snippet")
    )
