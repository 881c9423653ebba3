"""Recovery without help from the trading thread (the retry worker) and from a killed process
(kill -9 in the middle of a dual-write burst)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from hybrid_helpers import Alerts, FlakyStore, Link, burst
from storage_helpers import META, Trader

from qts.data import SqliteStore
from qts.data.hybrid import (
    DB,
    SHEETS,
    ConsistencyChecker,
    DataSourceMode,
    HybridStore,
    Outbox,
    RetryWorker,
)
from qts.model import Account, Ledger


def test_the_retry_worker_replays_with_connections_of_its_own(tmp_path: Path) -> None:
    link = Link(DB)  # the network to the database: shared by every connection to it
    alerts, worker_alerts = Alerts(), Alerts()
    sheets = SqliteStore(tmp_path / "sheets.sqlite")
    db = FlakyStore(SqliteStore(tmp_path / "db.sqlite"), link)
    outbox = Outbox(tmp_path / "qts.outbox")
    store = HybridStore(
        sheets, db, outbox, DataSourceMode.DUAL_WRITE, on_alert=alerts, retry_inline=False
    )  # type: ignore[arg-type]
    trader = Trader(store)
    store.init_run(META)
    worker = RetryWorker(
        outbox,
        {DB: lambda: FlakyStore(SqliteStore(tmp_path / "db.sqlite"), link)},  # type: ignore[dict-item]
        on_alert=worker_alerts,
        base_delay=0.01,
        poll=0.05,
    )
    with worker:
        link.fail_after_writes = 20
        burst(trader, 10)
        assert link.down and store.pending()[DB] > 0
        link.down = False
        worker.wake()
        assert outbox.wait_caught_up(DB, timeout=60), store.pending()
        burst(trader, 3)  # writes go on to both (inline, or by the worker if it is quicker)
        assert outbox.wait_caught_up(DB, timeout=60), store.pending()
        assert store.pending() == {SHEETS: 0, DB: 0}
    assert worker.replayed > 0
    report = ConsistencyChecker(sheets, db.inner, outbox).check()
    assert report.clean and report.differences == []
    assert ("unavailable", DB) in alerts.kinds()
    store.close()


CHILD = r"""
import sys
sys.path[:0] = sys.argv[3:]
from pathlib import Path
from hybrid_helpers import burst
from storage_helpers import META, Trader
from qts.data import SqliteStore
from qts.data.hybrid import DataSourceMode, HybridStore, Outbox

directory = Path(sys.argv[1])
store = HybridStore(
    SqliteStore(directory / "sheets.sqlite"),
    SqliteStore(directory / "db.sqlite"),
    Outbox(directory / "qts.outbox"),
    DataSourceMode(sys.argv[2]),
)
store.init_run(META)
trader = Trader(store)

printed = 0

def acknowledged(i):
    global printed
    for fill in trader.fills[printed:]:
        print(fill.fill_id, flush=True)
    printed = len(trader.fills)

burst(trader, 10_000, after_each=acknowledged)
"""


def test_kill_9_mid_burst_then_restart_leaves_both_sides_equal(tmp_path: Path) -> None:
    """The child prints fill ids only after the writes returned; the parent kills it after
    reading 60 of them, wherever it is (inside a host commit, between the host and the
    outbox cursor, in a replay), then a new process flushes and checks."""
    paths = [str(Path(__file__).parent), str(Path(__file__).parent.parent / "storage")]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), "DUAL_WRITE", *paths],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acknowledged = {child.stdout.readline().strip() for _ in range(60)}
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert len(acknowledged) == 60

    sheets = SqliteStore(tmp_path / "sheets.sqlite")
    db = SqliteStore(tmp_path / "db.sqlite")
    outbox = Outbox(tmp_path / "qts.outbox")
    store = HybridStore(sheets, db, outbox, DataSourceMode.DUAL_WRITE)
    assert store.flush() == {SHEETS: 0, DB: 0}
    report = ConsistencyChecker(sheets, db, outbox).check()
    assert report.clean and report.differences == []
    for side in (sheets, db):
        fills = [f.fill_id for f in side.load_fills()]
        assert acknowledged <= set(fills)
        assert len(fills) == len(set(fills))
        ledger = side.load_ledger()
        assert [e.seq for e in ledger] == list(range(1, len(ledger) + 1))
        state = side.load_account()
        assert state is not None
        account = Account(
            META.initial_cash,
            cash=state.cash,
            positions=side.load_positions(),
            pending=dict(state.pending),
            ledger=Ledger(ledger),
        )
        assert account.reconcile() == []
        cycles = [d.cycle_id for d in side.load_decisions()]
        assert len(cycles) == len(set(cycles))
    store.close()
