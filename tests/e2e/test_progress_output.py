"""Progress of long commands as a user sees it: plain periodic lines when stderr is a pipe, a bar
with an ETA when it is a terminal (a real pseudo-terminal), and a warning logged mid-run printed
whole on its own line above the bar."""

from __future__ import annotations

import errno
import os
import pty
import re
import sqlite3
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BASE_ENV = {
    k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE")
}
ENV = {**BASE_ENV, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", "TERM": "xterm"}
STRATEGY = ["--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20", "--qty", "10"]


def daily_csv(path: Path, n: int) -> Path:
    """``n`` daily bars on the 10-won tick grid, one calendar day apart from 2024-01-01
    (after 2023-01-25, when 10,000-20,000 started ticking 10 won)."""
    lines = ["date,open,high,low,close,volume"]
    for i in range(n):
        close = 10_000 + 10 * ((i * 7) % 23)
        day = (date(2024, 1, 1) + timedelta(days=i)).isoformat()
        lines.append(f"{day},{close},{close + 50},{close - 50},{close},1000")
    path.write_text("\n".join(lines) + "\n")
    return path


def run_in_pty(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal; everything the terminal received, decoded."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env
    )
    os.close(slave)
    received = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError as exc:  # EIO: every slave end is closed, the child is done
            if exc.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        received += chunk
    os.close(master)
    assert proc.stdout is not None
    proc.stdout.read()
    proc.stdout.close()
    return proc.wait(), received.decode("utf-8", "replace")


CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def screen_lines(raw: str) -> list[str]:
    """The lines as they end up on screen: escape sequences removed, a carriage return starts the
    line over (what the terminal shows, not the bytes)."""
    out = []
    for line in raw.replace("\r\n", "\n").split("\n"):
        out.append(CSI.sub("", line.split("\r")[-1]).rstrip())
    return out


def test_backtest_on_a_pipe_prints_periodic_lines_and_a_last_100_percent(tmp_path: Path) -> None:
    data = daily_csv(tmp_path / "A.csv", 500)
    proc = subprocess.run(
        [sys.executable, "-m", "qts", "backtest", "--data", str(data), *STRATEGY,
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
        env={**ENV, "QTS_PROGRESS_EVERY": "100"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    cycles = [line for line in lines if line.startswith("sma_cross on 1 symbol(s): ")]
    counts = [re.search(r": ([\d,]+/[\d,]+) cycles \((\d+)%\)", line) for line in cycles]
    assert [(m[1], m[2]) for m in counts if m] == [
        ("100/500", "20"),
        ("200/500", "40"),
        ("300/500", "60"),
        ("400/500", "80"),
        ("500/500", "100"),
    ], proc.stderr
    assert all(", ETA " in line for line in cycles[:-1]) and ", ETA " not in cycles[-1]
    loading = [line for line in lines if line.startswith("loading data: ")]
    assert len(loading) == 1 and "(100%)" in loading[0], proc.stderr
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr


def test_backtest_on_a_terminal_shows_a_bar_with_an_eta(tmp_path: Path) -> None:
    data = daily_csv(tmp_path / "A.csv", 600)
    code, raw = run_in_pty(
        [sys.executable, "-m", "qts", "backtest", "--data", str(data), *STRATEGY,
         "--out", str(tmp_path / "out")],
        ENV,
    )  # fmt: skip
    assert code == 0, raw
    shown = CSI.sub("", raw)
    assert re.search(r"sma_cross on 1 symbol\(s\) \S+ \d+/600 cycles ETA \d+:\d\d:\d\d", shown), raw
    assert "\x1b[" in raw  # drawn in place, not printed line after line


REPORTER = textwrap.dedent(
    """
    import logging, sys
    from qts.cli.progress import ProgressReporter

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    now = [0.0]
    with ProgressReporter("job", total=200, unit="steps", clock=lambda: now[0]) as bar:
        for i in range(1, 201):
            now[0] += 1.0
            bar.update(i)
            if i == 120:
                logging.getLogger("qts.feed").warning("gap in 005930 bars at 10:31, %d missing", 3)
    print("done", file=sys.stderr)
    """
)


def test_a_warning_logged_mid_run_is_one_whole_line_above_the_bar() -> None:
    code, raw = run_in_pty([sys.executable, "-c", REPORTER], ENV)
    assert code == 0, raw
    lines = screen_lines(raw)
    warning = "WARNING qts.feed: gap in 005930 bars at 10:31, 3 missing"
    assert warning in lines, lines
    # the bar ran before and after it, with a clock-based ETA (1 s a step: 80 steps left = 80 s)
    shown = CSI.sub("", raw)
    assert re.search(r"job \S+ 120/200 steps ETA 0:01:2\d", shown), raw
    assert re.search(r"job \S+ 1[3-9]\d/200 steps ETA", shown[shown.index(warning) :]), raw
    assert lines[-2:] == ["done", ""] or lines[-1] == "done", lines[-3:]


def test_backup_on_a_pipe_ends_at_100_percent(tmp_path: Path) -> None:
    db = tmp_path / "books.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x BLOB)")
        conn.executemany("INSERT INTO t VALUES (?)", [(b"\0" * 4096,)] * 500)
    proc = subprocess.run(
        [sys.executable, "-m", "qts", "backup", "create", "--db", str(db)],
        capture_output=True, text=True, check=False, env={**ENV, "QTS_PROGRESS_EVERY": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert re.fullmatch(r"backup of books\.db: (\d+\.\d)/\1 MB \(100%\), .*", last), proc.stderr
