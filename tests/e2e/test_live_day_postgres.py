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
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from test_live_day import Market, venue_record, venue_time, wait_until
from test_run_kis import Lines, kis_env

from qts.brokers.kis import KisMode
from qts.brokers.kis.fake import FakeKisServer
from qts.brokers.kis.fake.credentials import PAPER_APP
from qts.brokers.kis.fake.serve import build_replay_server
from qts.brokers.kis.fake.server import FakeKisOptions, PacedClock
from qts.core.clock import WallClock
from qts.data.ports import AccountState
from qts.data.postgres import PostgresStore
from qts.model.enums import OrderSide, OrderStatus
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.safety.supervisor import SafetySupervisor

DSN = os.environ.get("QTS_TEST_PG_DSN") or "postgresql://postgres@127.0.0.1:5432/test"
RUN = ("run", "--broker", "kis", "--account", "paper")
SEED = 20260516  # the kill schedule
SPEED = 200.0  # a minute bar every 0.3 s
READY = 60.0  # ceiling for a (re)started run to report its books
MORNING = (time(9, 30), time(11, 30))  # the second kill falls in here
HELD = {"005870": 300}  # adopted at the first start
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
def venue() -> Iterator[tuple[FakeKisServer, PacedClock, Market]]:
    server, clock, frames = build_replay_server(
        seed=7,
        speed=SPEED,
        mode=KisMode.PAPER,
        options=FakeKisOptions(mode=KisMode.PAPER),
        holdings={PAPER_APP.app_key: HELD},
    )
    market = Market()
    server.start()
    server.replay(market.frames(frames), clock)  # type: ignore[arg-type]
    yield server, clock, market
    server.stop()


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"qts_e2e_live_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@dataclass(frozen=True)
class Books:
    orders: list[Order]
    positions: dict[str, int]
    account: AccountState
    ledger: list[LedgerEntry]

    @staticmethod
    def read(schema: str) -> Books:
        """The books as the schema holds them (a reader: no lock, the run may be writing)."""
        store = PostgresStore(DSN, schema=schema, migrate=False, min_size=1, max_size=1)
        try:
            state = store.load_account()
            assert state is not None
            positions = {s: p.qty for s, p in store.load_positions().items() if p.qty}
            return Books(store.load_orders(), positions, state, store.load_ledger())
        finally:
            store.close()


def lock_down(schema: str) -> None:
    """Record a LOCKDOWN in the books, as a run that hit FS080 would have."""
    store = PostgresStore(DSN, schema=schema, migrate=False, min_size=1, max_size=1)
    try:
        SafetySupervisor(store, WallClock()).report("FS080", "test: lockdown while down")
    finally:
        store.close()


def qts_safety(cwd: Path, command: str, schema: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "qts", "safety", command, "--dsn", DSN, "--schema", schema, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def start(fake: FakeKisServer, cwd: Path, config: Path) -> tuple[subprocess.Popen[str], Lines]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "qts", *RUN, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kis_env(fake),
        cwd=cwd,
    )
    return proc, Lines(proc)


def test_live_books_in_postgres_survive_kills_and_equal_the_venue_at_the_close(
    venue: tuple[FakeKisServer, PacedClock, Market], schema: str, tmp_path: Path
) -> None:
    fake, clock, market = venue
    config = tmp_path / "qts.yaml"
    config.write_text(f"data:\n  backend: postgres\n  dsn: {DSN}\n  pg_schema: {schema}\n")
    first, last = (venue_time(clock, t) for t in MORNING)
    second_kill = first + timedelta(
        seconds=random.Random(SEED).uniform(0, (last - first).total_seconds())
    )
    outputs: list[str] = []

    # the first process: it adopts the holding and trades; a second start is refused meanwhile
    proc, lines = start(fake, tmp_path, config)
    try:
        new = lines.wait_match(r"^books: ", READY)
        assert "books: postgres (run live-kis-paper-" in new and "(new)" in new, new
        lines.wait_for("1 holding(s) adopted at the broker's average price", 1)
        lines.wait_match(r" FILL (BUY|SELL) ", READY)
        tokens, sockets = fake.stats.tokens_issued, fake.stats.ws_connections
        refused = subprocess.run(
            [sys.executable, "-m", "qts", *RUN, "--config", str(config)],
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
        proc.send_signal(signal.SIGKILL)  # the first kill: right after it traded
        proc.wait(30)
    outputs.append(lines.rest(5))
    killed = [proc.pid]

    # the second process: resumes, runs into the morning, and is killed too
    proc, lines = start(fake, tmp_path, config)
    try:
        resumed = lines.wait_match(r"^books: ", READY)
        assert "(resumed)" in resumed, resumed
        wait_until(lambda: clock.now() >= second_kill, 2 * READY, "the venue clock stalled")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    outputs.append(lines.rest(5))
    killed.append(proc.pid)
    assert clock.now() < venue_time(clock, time(14, 30)), "the machine is too slow for the day"

    lock_down(schema)  # while no process runs
    # the last process runs through the close
    proc, lines = start(fake, tmp_path, config)
    try:
        resumed = lines.wait_match(r"^books: ", READY)
        assert "(resumed)" in resumed and "safety LOCKDOWN" in resumed, resumed
        # the operator reads the live books in PostgreSQL and approves; the run applies it
        status = qts_safety(tmp_path, "status", schema)
        assert "state: LOCKDOWN" in status and f"writer: pid {proc.pid} on host " in status
        qts_safety(tmp_path, "approve-recovery", schema, "--operator", "ops", "--reason", "test")
        wait_until(
            lambda: "state: NORMAL" in qts_safety(tmp_path, "status", schema),
            READY,
            "the running process did not apply the approval",
        )
        assert "FS080" in qts_safety(tmp_path, "history", schema)
        lines.wait_match(r"^close \d{4}-\d\d-\d\d: ", 3 * READY)
        assert market.ended.wait(READY)

        def caught_up() -> bool:
            orders = Books.read(schema).orders
            if any(not o.status.is_terminal for o in orders):
                return False
            filled = {
                o.venue_order_id: o.filled_qty
                for o in orders
                if o.venue_order_id and o.strategy != "adopted"
            }
            return filled == {k: v[3] for k, v in venue_record(fake)[0].items()}

        wait_until(caught_up, 3 * READY, "the books never caught up with the venue")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    outputs.append(lines.rest(10))
    text = "".join(outputs)
    # each restart found the killed process's lock released by the server and took over
    for pid in killed:
        assert f"taking over the writer lock left by pid {pid}" in text, text[-3000:]

    books = Books.read(schema)
    orders, positions, account, ledger = books.orders, books.positions, books.account, books.ledger
    venue_orders, venue_holdings, venue_cash, venue_fees = venue_record(fake)
    assert venue_orders, "the run placed orders"
    assert any(filled for *_, filled, _amt in venue_orders.values()), "and some filled"
    assert not [o for o in orders if not o.status.is_terminal], "an order still open after close"

    adopted = [o for o in orders if o.strategy == "adopted"]
    assert [(o.symbol, o.qty, o.status) for o in adopted] == [
        ("005870", 300, OrderStatus.FILLED)
    ], "the holding was adopted once, at the first start only"
    sent = [o for o in orders if o.venue_order_id and o.strategy != "adopted"]
    by_odno = {o.venue_order_id: o for o in sent}
    assert len(by_odno) == len(sent), "two orders of the books claim one ODNO"
    assert set(by_odno) == set(venue_orders), "books and venue disagree on the orders placed"
    for odno, (symbol, side, qty, filled, amount) in venue_orders.items():
        o = by_odno[odno]
        assert (o.symbol, o.side.value, o.qty) == (symbol, side, qty), odno
        assert o.filled_qty == filled, f"ODNO {odno}: filled {o.filled_qty} here, {filled} there"
        booked = sum(e.qty * e.price for e in ledger if e.client_order_id == o.client_order_id)
        assert booked == amount, f"ODNO {odno}: {booked} KRW booked, {amount} at the venue"
    for o in orders:
        if not o.venue_order_id:
            assert o.status in (OrderStatus.CANCELED, OrderStatus.REJECTED), o

    assert positions == venue_holdings
    # fees as in test_live_day: a fill booked by a restart from the daily inquiry is one lot,
    # whose won-rounding may differ by 1 KRW each for commission and tax
    books_fees: dict[str, tuple[int, int]] = {}
    for o in sent:
        rows = [e for e in ledger if e.client_order_id == o.client_order_id]
        if rows:
            books_fees[o.venue_order_id] = (len(rows), sum(e.commission + e.tax for e in rows))
    assert set(books_fees) == set(venue_fees)
    for odno, (n_venue, paid_venue) in venue_fees.items():
        n_books, paid_books = books_fees[odno]
        assert n_books <= n_venue, f"ODNO {odno}: more fills booked than made"
        assert abs(paid_books - paid_venue) <= 2 * (n_venue - n_books), odno
    total_books = sum(paid for _, paid in books_fees.values())
    total_venue = sum(paid for _, paid in venue_fees.values())
    assert account.cash + total_books == venue_cash + total_venue
    bought = sum(e.qty for e in ledger if e.side is OrderSide.BUY)
    sold = sum(e.qty for e in ledger if e.side is OrderSide.SELL)
    assert bought - sold == sum(positions.values())
    assert len({e.fill_id for e in ledger}) == len(ledger), "a fill booked twice"
    for secret in (PAPER_APP.app_key, PAPER_APP.app_secret, PAPER_APP.cano, PAPER_APP.hts_id):
        assert secret not in text
