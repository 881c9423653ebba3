"""Live books in PostgreSQL: ``qts run --broker kis --account paper`` with ``data.backend:
postgres`` through a whole simulated day against the local KIS exchange, killed with SIGKILL
twice and started again with the same command; at the end the books in the schema equal the
venue's own record.

The twin of test_live_day.py (which keeps its books in the default SQLite file) on the other
store: the same replayed day at ``SPEED`` × real time, an adopted holding, and the same
comparison (orders by ODNO, filled quantities and amounts, holdings, cash, each fill booked
once). While it is down the last time a LOCKDOWN is recorded in its books: the last process
comes back in LOCKDOWN, ``qts safety status --dsn … --schema …`` reads it (and names the
writer) from PostgreSQL, and the process applies ``qts safety approve-recovery`` at its next
cycle. While the first process runs, a second start on the same schema is refused naming the
holder before it touches the broker (no token, no WebSocket session of the app key); each
restart after a SIGKILL takes the books over (the server ended the killed process's session,
and with it its advisory lock) and reconciles with the broker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import time
from pathlib import Path

import psycopg
import pytest
from live_helpers import (
    KIS_SECRETS,
    READY,
    Books,
    Lines,
    Market,
    assert_books_equal_venue,
    assert_kis_cash_and_fees,
    assert_no_secret,
    at_venue,
    end_the_day,
    kill,
    kill_schedule,
    kis_env,
    kis_record,
    kis_venue,
    lock_down,
    qts_safety,
    reap,
    start_qts,
    wait_until,
)
from psycopg import sql

from qts.brokers.kis.fake import FakeKisServer
from qts.brokers.kis.fake.server import PacedClock
from qts.data.postgres import PostgresStore

DSN = os.environ.get("QTS_TEST_PG_DSN") or "postgresql://postgres@127.0.0.1:5432/test"
RUN = ("run", "--broker", "kis", "--account", "paper")
SEED = 20260516  # the kill schedule
SPEED = 200.0  # a minute bar every 0.3 s
MORNING = (time(9, 30), time(11, 30))  # the second kill falls in here
HELD = {"005870": 300}  # adopted at the first start
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
def venue() -> Iterator[tuple[FakeKisServer, PacedClock, Market]]:
    with kis_venue(SPEED, HELD) as v:
        yield v


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"qts_e2e_live_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@contextmanager
def reader(schema: str) -> Iterator[PostgresStore]:
    """The books in the schema, as a reader: no lock, the run may be writing."""
    store = PostgresStore(DSN, schema=schema, migrate=False, min_size=1, max_size=1)
    try:
        yield store
    finally:
        store.close()


def read_books(schema: str) -> Books:
    with reader(schema) as store:
        return Books.of(store)


def test_live_books_in_postgres_survive_kills_and_equal_the_venue_at_the_close(
    venue: tuple[FakeKisServer, PacedClock, Market], schema: str, tmp_path: Path
) -> None:
    fake, clock, market = venue
    config = tmp_path / "qts.yaml"
    config.write_text(f"data:\n  backend: postgres\n  dsn: {DSN}\n  pg_schema: {schema}\n")
    run = (*RUN, "--config", str(config))
    where = ("--dsn", DSN, "--schema", schema)

    def start() -> tuple[subprocess.Popen[str], Lines]:
        return start_qts(run, kis_env(fake), tmp_path)

    (second_kill,) = kill_schedule(SEED, 1, *(at_venue(clock.now(), t) for t in MORNING))
    outputs: list[str] = []

    # the first process: it adopts the holding and trades; a second start is refused meanwhile
    proc, lines = start()
    try:
        new = lines.wait_match(r"^books: ", READY)
        assert "books: postgres (run live-kis-paper-" in new and "(new)" in new, new
        lines.wait_for("1 holding(s) adopted at the broker's average price", 1)
        lines.wait_match(r" FILL (BUY|SELL) ", READY)
        tokens, sockets = fake.stats.tokens_issued, fake.stats.ws_connections
        refused = subprocess.run(
            [sys.executable, "-m", "qts", *run],
            capture_output=True,
            text=True,
            env=kis_env(fake),
            cwd=tmp_path,
            check=False,
            timeout=60,
        )
        assert refused.returncode != 0
        assert "in use by another writer" in refused.stderr, refused.stderr
        assert f"pid {proc.pid} on host " in refused.stderr and f"[{schema}]" in refused.stderr
        assert "Traceback" not in refused.stderr + refused.stdout
        # refused before it touched the broker: no token, no WebSocket session of the app key
        assert (fake.stats.tokens_issued, fake.stats.ws_connections) == (tokens, sockets)
        assert proc.poll() is None, "the refused run disturbed the holder"
    finally:
        kill(proc)  # the first kill: right after it traded
    outputs.append(lines.rest(5))
    killed = [proc.pid]

    # the second process: resumes, runs into the morning, and is killed too
    proc, lines = start()
    try:
        resumed = lines.wait_match(r"^books: ", READY)
        assert "(resumed)" in resumed, resumed
        wait_until(lambda: clock.now() >= second_kill, 2 * READY, "the venue clock stalled")
    finally:
        kill(proc)
    outputs.append(lines.rest(5))
    killed.append(proc.pid)
    assert clock.now() < at_venue(clock.now(), time(14, 30)), "the machine is too slow for the day"

    with reader(schema) as store:
        lock_down(store)  # while no process runs
    # the last process runs through the close
    proc, lines = start()
    try:
        resumed = lines.wait_match(r"^books: ", READY)
        assert "(resumed)" in resumed and "safety LOCKDOWN" in resumed, resumed
        # the operator reads the live books in PostgreSQL and approves; the run applies it
        status = qts_safety(tmp_path, "status", where)
        assert "state: LOCKDOWN" in status and f"writer: pid {proc.pid} on host " in status
        qts_safety(tmp_path, "approve-recovery", where, "--operator", "ops", "--reason", "test")
        wait_until(
            lambda: "state: NORMAL" in qts_safety(tmp_path, "status", where),
            READY,
            "the running process did not apply the approval",
        )
        assert "FS080" in qts_safety(tmp_path, "history", where)
        lines.wait_match(r"^close \d{4}-\d\d-\d\d: ", 3 * READY)
        assert market.ended.wait(READY)
        end_the_day(proc, lines, lambda: read_books(schema).orders, lambda: kis_record(fake)[0])
    finally:
        reap(proc)
    outputs.append(lines.rest(10))
    text = "".join(outputs)
    # each restart found the killed process's lock released by the server and took over
    for pid in killed:
        assert f"taking over the writer lock left by pid {pid}" in text, text[-3000:]

    books = read_books(schema)
    venue_orders, venue_holdings, venue_cash, venue_fees = kis_record(fake)
    sent = assert_books_equal_venue(books, venue_orders, venue_holdings, HELD)
    # fees as in test_live_day: a fill booked by a restart from the daily inquiry is one lot
    assert_kis_cash_and_fees(books, sent, venue_cash, venue_fees)
    assert_no_secret(text, KIS_SECRETS)
