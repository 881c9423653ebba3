"""A ``qts backtest`` on files imports only what a backtest uses: start-up is a fixed cost of every
backtest (and of every trial of a sweep), so the live brokers, the dashboard, the databases and
services, the configuration schema and the sweep machinery stay out of its process; and a
finished one leaves its objects to the OS instead of freeing them at exit (docs/performance.md,
"Start-up and the fixed cost of a qts backtest process")."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parents[1] / "data" / "sp500_daily_1999_2018.csv"

# the whole command in a fresh interpreter, then its exit code, the names of every module it
# imported and the number of frozen objects after each freeze (start-up, days, exit)
SCRIPT = """
import gc, json, sys
counts = []
_freeze = gc.freeze
def _counted_freeze():
    _freeze()
    counts.append(gc.get_freeze_count())
gc.freeze = _counted_freeze
sys.argv = ["qts", *json.loads(sys.argv[1])]
from qts.cli.main import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
print("RESULT " + json.dumps([code, sorted(sys.modules), counts, gc.get_freeze_count()]))
"""

NOT_IMPORTED = (
    # live brokers, their wire clients and the token cache
    "qts.brokers.kis",
    "qts.brokers.kiwoom",
    "qts.brokers.token_cache",
    "httpx",
    "websockets",
    "aiohttp",
    "cryptography",
    # storage and services a backtest in memory never opens
    "qts.data.postgres",
    "qts.data.hybrid",
    "qts.data.sheets",
    "qts.data.sqlite",
    "qts.brokers.sim.journal",
    "sqlite3",
    "psycopg",
    "redis",
    "gspread",
    "google",
    "pyarrow",
    # the dashboard, operations, the live and paper applications
    "qts.ui",
    "qts.ops",
    "qts.app.live",
    "qts.app.paper",
    "qts.app.scalp",
    "starlette",
    "uvicorn",
    "prometheus_client",
    # configuration files and the schema (a backtest is configured by its options)
    "qts.config.models",
    "qts.config.loader",
    "yaml",
    "holidays",
    # sweeps and processes
    "qts.backtest.optimize",
    "optuna",
    "ray",
    "multiprocessing",
    # the synthetic market
    "qts.feeds.synthetic",
    # what numpy 2's np.unique imports on its first call (qts.core.arrays.unique_ints instead)
    "numpy.ma",
    # a progress bar is drawn on a terminal only
    "rich.progress",
)


def run(args: list[str]) -> tuple[int, set[str], list[int], int]:
    """Exit code, imported modules, the frozen objects after each freeze and at the end of
    ``qts ARGS`` run by ``main``."""
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(args)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    code, modules, freezes, frozen = json.loads(line.removeprefix("RESULT "))
    return code, set(modules), freezes, frozen


def imported_by(args: list[str]) -> set[str]:
    code, modules, _, _ = run(args)
    assert code == 0
    return modules


def offenders(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in NOT_IMPORTED))


def test_a_backtest_on_files_imports_no_live_storage_or_sweep_modules(tmp_path: Path) -> None:
    args = ["backtest", "--data", str(DATA), "--price-scale", "100", "--strategy", "sma_cross",
            "--qty", "10", "--start", "2016-01-01", "--out", str(tmp_path / "out")]  # fmt: skip
    modules = imported_by(args)
    assert (tmp_path / "out" / "summary.json").is_file()
    assert "qts.backtest.engine" in modules  # the run really happened in this process
    assert offenders(modules) == []


def test_the_same_holds_with_the_capital_pools_off_and_for_help(tmp_path: Path) -> None:
    args = ["backtest", "--data", str(DATA), "--price-scale", "100", "--strategy", "sma_cross",
            "--no-capital", "--start", "2017-01-01", "--fees", "none",
            "--out", str(tmp_path / "out")]  # fmt: skip
    assert offenders(imported_by(args)) == []
    assert offenders(imported_by(["backtest", "--help"])) == []


def test_a_finished_backtest_leaves_its_objects_to_the_os_and_a_refused_one_does_not(
    tmp_path: Path,
) -> None:
    args = ["backtest", "--data", str(DATA), "--price-scale", "100", "--strategy", "sma_cross",
            "--start", "2018-01-01", "--db", str(tmp_path / "books.sqlite"),
            "--out", str(tmp_path / "out")]  # fmt: skip
    code, _, freezes, frozen = run(args)
    # start-up freezes what the imports built; the run's days freeze and release; the exit
    # freezes the finished run's objects on top of the imports
    assert code == 0 and len(freezes) >= 2 and frozen > freezes[0] > 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    with sqlite3.connect(tmp_path / "books.sqlite") as db:  # the books were closed, not dropped
        (fills,) = db.execute("SELECT COUNT(*) FROM fills").fetchone()
    assert summary["trades"] and fills >= sum(t["fills"] for t in summary["trades"])
    bad = tmp_path / "bad.csv"
    bad.write_text("date,open,high,low,close,volume\n2020-01-02,x,1,1,1,1\n")
    code, _, freezes, frozen = run(["backtest", "--data", str(bad), "--strategy", "sma_cross",
                                    "--out", str(tmp_path / "out2")])  # fmt: skip
    assert code == 2 and len(freezes) == 1  # only the start-up's imports
