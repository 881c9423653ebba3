"""THE acceptance test of CD-001 on a real PostgreSQL: a test kills the database connection in
the middle of a dual-write burst; after recovery the checker reports zero differences and no row
is lost or doubled.

The kill is real: another connection runs ``pg_terminate_backend`` on every backend of the
store's ``application_name`` while the burst is writing. It is synchronised on the burst's write
counter, never on time: the killer thread starts when the burst reaches order N, and the burst
does not go past order N + 10 until the kill has happened, so it lands somewhere inside a live
burst (in a statement, between statements, or during a COMMIT).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hybrid_helpers import Alerts, burst
from pg_helpers import PG_DSN, SCHEMAS, admin
from psycopg.conninfo import make_conninfo
from storage_helpers import META, Trader, assert_store_matches

from qts.data import SqliteStore, TradingStore
from qts.data.hybrid import (
    DB,
    SHEETS,
    ConsistencyChecker,
    DataSourceMode,
    HybridStore,
    Outbox,
    RetryWorker,
)
from qts.data.postgres import PostgresStore
from qts.data.sheets.fake.testing import open_store_at as open_sheets_store

ORDERS = 60
KILL_AT = (10, 25, 40)  # orders after which a kill starts; each lands within 10 more orders


@pytest.fixture
def schema() -> Iterator[str]:
    with SCHEMAS.scratch() as name:
        yield name


def app_name(tag: str) -> str:
    return f"qts_hybrid_{tag}_{os.getpid()}"


def open_pg(schema: str, application_name: str) -> PostgresStore:
    dsn = make_conninfo(PG_DSN, application_name=application_name)
    return PostgresStore(dsn, schema=schema, min_size=1, max_size=2)


class Killer:
    """Terminates every backend named ``application_name`` when the burst reaches each of
    ``at``; the burst waits for the kill before it goes 10 orders further."""

    def __init__(self, application_name: str, at: tuple[int, ...]) -> None:
        self.application_name = application_name
        self.at = at
        self.reached = [threading.Event() for _ in at]
        self.killed = [threading.Event() for _ in at]
        self.terminated: list[int] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="pg-killer")

    def _run(self) -> None:
        try:
            with admin() as conn:
                for reached, killed in zip(self.reached, self.killed, strict=True):
                    if not reached.wait(timeout=120):
                        return
                    rows = conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = %s",
                        (self.application_name,),
                    ).fetchall()
                    self.terminated.append(sum(1 for (ok,) in rows if ok))
                    killed.set()
        except BaseException as exc:
            self.error = exc
            for killed in self.killed:
                killed.set()

    def after_order(self, i: int) -> None:
        for n, (at, reached, killed) in enumerate(
            zip(self.at, self.reached, self.killed, strict=True)
        ):
            if i == at:
                reached.set()
            if i == at + 10:
                assert killed.wait(timeout=120), f"kill {n} did not happen"


def recover(store: HybridStore, attempts: int = 20) -> dict[str, int]:
    """Flush until nothing is pending. The pool may still hold connections the kill broke;
    each failed attempt discards one, so a few attempts may be needed (bounded, no sleeping)."""
    pending = store.flush()
    for _ in range(attempts):
        if not any(pending.values()):
            break
        pending = store.flush()
    return pending


def open_sheets_side(kind: str, tmp_path: Path) -> TradingStore:
    if kind == "sheets-fake":  # SheetsStore on the local Google Sheets API fake
        return open_sheets_store(tmp_path / "spreadsheet")
    return SqliteStore(tmp_path / "sheets.sqlite")


@pytest.mark.parametrize(
    ("mode", "sheets_kind"),
    [
        (DataSourceMode.DUAL_WRITE, "sqlite"),
        (DataSourceMode.DB_PRIMARY, "sqlite"),
        (DataSourceMode.DUAL_WRITE, "sheets-fake"),
    ],
    ids=lambda v: str(v),
)
def test_killing_the_database_connection_mid_burst_loses_and_doubles_nothing(
    tmp_path: Path, schema: str, mode: DataSourceMode, sheets_kind: str
) -> None:
    name = app_name(mode.lower())
    alerts = Alerts()
    sheets = open_sheets_side(sheets_kind, tmp_path)
    db = open_pg(schema, name)
    outbox = Outbox(tmp_path / "qts.outbox")
    store = HybridStore(sheets, db, outbox, mode, on_alert=alerts, base_delay=0.01)
    store.init_run(META)
    trader = Trader(store)
    killer = Killer(name, KILL_AT)
    killer.thread.start()
    try:
        burst(trader, ORDERS, after_each=killer.after_order)
    finally:
        killer.thread.join(timeout=120)
    assert killer.error is None, killer.error
    assert len(killer.terminated) == len(KILL_AT) and all(killer.terminated), killer.terminated
    assert ("unavailable", DB) in alerts.kinds(), "the kills were never noticed"

    assert recover(store) == {SHEETS: 0, DB: 0}
    report = ConsistencyChecker(sheets, db, outbox).check()
    assert report.differences == [] and report.clean
    assert report.rows["fills"] == len(trader.fills)
    # No row lost or doubled, on either side: each equals what the trader did, exactly.
    for side in (sheets, db):
        assert_store_matches(side, trader)
        decisions = side.load_decisions()
        assert [d.cycle_id for d in decisions] == [f"c{i}" for i in range(ORDERS)]
        assert len(side.load_safety_events()) == ORDERS // 3
        assert len(side.load_equity()) == ORDERS
        assert [e.seq for e in side.load_ledger()] == list(range(1, len(trader.fills) + 1))
    assert_store_matches(store, trader)
    store.close()


def test_the_retry_worker_catches_the_database_up_in_the_background(
    tmp_path: Path, schema: str
) -> None:
    """DUAL_WRITE with retries left to the worker: after a kill, the trading thread never
    retries the database itself; the worker's own connection replays what it missed."""
    name = app_name("worker")
    alerts = Alerts()
    sheets = SqliteStore(tmp_path / "sheets.sqlite")
    db = open_pg(schema, name)
    outbox = Outbox(tmp_path / "qts.outbox")
    store = HybridStore(
        sheets, db, outbox, DataSourceMode.DUAL_WRITE, on_alert=alerts, retry_inline=False
    )
    store.init_run(META)
    trader = Trader(store)
    killer = Killer(name, (5,))
    worker = RetryWorker(
        outbox, {DB: lambda: open_pg(schema, name + "_w")}, base_delay=0.01, poll=0.05
    )
    killer.thread.start()
    with worker:
        try:
            burst(trader, 20, after_each=killer.after_order)
        finally:
            killer.thread.join(timeout=120)
        assert killer.error is None, killer.error
        assert killer.terminated and killer.terminated[0] >= 1
        worker.wake()
        assert outbox.wait_caught_up(DB, timeout=60), store.pending()
    assert worker.replayed > 0
    # Checked over a connection of its own, as `qts db check` would: the trading store's
    # pool may still hold the connection the kill broke (it has not used it since).
    with open_pg(schema, name + "_check") as fresh:
        report = ConsistencyChecker(sheets, fresh, outbox).check()
        assert report.differences == [] and report.clean
        assert_store_matches(fresh, trader)
        assert len(fresh.load_decisions()) == 20
    store.close()
