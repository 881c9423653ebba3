"""The whole-day acceptance test of issue 9 over Kiwoom: ``qts run --broker kiwoom`` through one
simulated trading day against the local Kiwoom exchange, killed with SIGKILL and restarted,
with every token revoked and a VKOSPI spike (kill switch) in the afternoon; at the end the
books equal the venue's own record. Every restart reuses the access token the first process
was issued (kept beside the books, as Kiwoom rate-limits au10001) until the revoke.

The twin of test_live_day.py (KIS), leaner: three kills (Kiwoom's fills come from account
polling at one call a second per API, so a restart's catch-up is slower), no LOCKDOWN round
trip (the KIS test covers the safety commands on the live books; they are broker-blind). The
fake's replay ends at the day's close (``days=1``), so nothing can fill after it.

The account holds 300 shares of 005870 before QTS first starts (kt00018 lists them with their
average purchase price ``pur_pric``): the first start adopts them at that price, tagged
``adopted``, no restart adopts them again, and the micro risk loop protects them like any
position (the kill switch's exits cover them while they are held).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from test_live_day import Books, wait_until
from test_run_kis import Lines
from test_run_kiwoom import kiwoom_env

from qts.brokers.kiwoom.fake import (
    TEST_ACCOUNT_NO,
    TEST_APP_KEY,
    TEST_SECRET_KEY,
    FakeConfig,
    FakeKiwoomServer,
    MarketReplay,
    synthetic_venue,
)
from qts.brokers.kiwoom.fake.venue import FakeVenue, Kind
from qts.data.ports import SafetyEventRecord
from qts.data.sqlite import SqliteStore
from qts.execution.oms import EMERGENCY_STRATEGY
from qts.model.enums import OrderSide, OrderStatus

SEED = 20261208
KILLS = 3
SPEED = 200.0
RUN = ("run", "--broker", "kiwoom", "--account", "paper")
READY = 60.0
MORNING = (time(9, 20), time(11, 30))
HELD = {"005870": 300}  # a universe symbol the account already holds: adopted at start
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

VenueOrders = dict[str, tuple[str, str, int, int, int]]


@pytest.fixture
def fake() -> Iterator[tuple[FakeKiwoomServer, FakeVenue, MarketReplay]]:
    venue, market, day = synthetic_venue(7, date(2026, 3, 4), holdings=HELD)
    server = FakeKiwoomServer(venue, FakeConfig(ping_interval_s=0.5)).start()
    stop = threading.Event()
    replay = MarketReplay(venue, market, day, SPEED, stop=stop, days=1).start()
    yield server, venue, replay
    stop.set()
    replay.join(5)
    server.stop()


def start(server: FakeKiwoomServer, cwd: Path) -> tuple[subprocess.Popen[str], Lines]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "qts", *RUN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kiwoom_env(server),
        cwd=cwd,
    )
    return proc, Lines(proc)


def venue_record(venue: FakeVenue) -> tuple[VenueOrders, dict[str, int], int, dict[str, int]]:
    """Orders by number (symbol, side, qty, filled, amount), holdings, cash, fees by number."""
    orders = {
        o.ord_no: (o.symbol, o.side.value, o.qty, o.filled, o.amount)
        for o in venue.all_orders()
        if o.kind is Kind.NEW
    }
    fees = {o.ord_no: o.commission + o.tax for o in venue.all_orders() if o.kind is Kind.NEW}
    holdings = {s: p.qty for s, p, _ in venue.holdings() if p.qty}
    return orders, holdings, venue.cash()[0], fees


def safety_events(db: Path) -> list[SafetyEventRecord]:
    store = SqliteStore(db, writer=False)
    try:
        return store.load_safety_events()
    finally:
        store.close()


def test_a_whole_kiwoom_day_with_kills_and_revoked_tokens_ends_with_books_equal_to_the_venue(
    fake: tuple[FakeKiwoomServer, FakeVenue, MarketReplay], tmp_path: Path
) -> None:
    server, venue, replay = fake
    rng = random.Random(SEED)
    # the broker's average purchase price of the holding, as kt00018 reports it before QTS starts
    ((held_symbol, held_qty),) = HELD.items()
    held_avg = {s: p.cost // p.qty for s, p, _ in venue.holdings()}[held_symbol]

    def at(t: time) -> datetime:
        now = venue.now()
        return datetime.combine(now.date(), t, tzinfo=now.tzinfo)

    first, last = at(MORNING[0]), at(MORNING[1])
    span = (last - first).total_seconds()
    kill_at = sorted(first + timedelta(seconds=rng.uniform(0, span)) for _ in range(KILLS))
    outputs: list[str] = []
    for n, moment in enumerate(kill_at):
        proc, lines = start(server, tmp_path)
        try:
            lines.wait_match(r"^books: ", READY)
            if n == 0:
                lines.wait_for("1 holding(s) adopted at the broker's average price", 1)
                lines.wait_match(r" FILL (BUY|SELL) ", READY)
            wait_until(lambda m=moment: venue.now() >= m, READY, "the venue clock stalled")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        outputs.append(lines.rest(5))
    assert venue.now() < at(time(14, 0)), "the machine is too slow for the day"

    books_files = sorted((tmp_path / "var").glob("live-kiwoom-paper-*.sqlite"))
    assert len(books_files) == 1
    assert TEST_ACCOUNT_NO not in books_files[0].name
    db = books_files[0]

    proc, lines = start(server, tmp_path)
    try:
        resumed = lines.wait_match(r"^books: ", READY)
        assert "(resumed)" in resumed
        lines.wait_match(r"^venue time ", READY)
        # every restart reused the first process's token (kept beside the books)
        assert server.kiwoom.tokens_issued == 1, "a restart issued a token of its own"
        assert Path(f"{db}.token").stat().st_mode & 0o077 == 0
        issued = server.kiwoom.tokens_issued
        server.kiwoom.invalidate_tokens()
        wait_until(lambda: server.kiwoom.tokens_issued > issued, READY, "no new token after revoke")
        server.kiwoom.realtime.set_index("VKOSPI", 45.0)  # the kill switch fires (FS104)
        wait_until(
            lambda: any(e.code == "FS104" for e in safety_events(db)),
            READY,
            "the VKOSPI spike did not fire the kill switch",
        )
        close_line = lines.wait_match(r"^close \d{4}-\d\d-\d\d: ", 3 * READY)
        replay.join(READY)

        def caught_up() -> bool:
            orders = Books.read(db).orders
            if any(not o.status.is_terminal for o in orders):
                return False
            filled = {
                o.venue_order_id: o.filled_qty
                for o in orders
                if o.venue_order_id and o.strategy != "adopted"
            }
            return filled == {k: v[3] for k, v in venue_record(venue)[0].items()}

        wait_until(caught_up, 3 * READY, "the books never caught up with the venue")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    outputs.append(lines.rest(10))
    assert "report var/reports/live-kiwoom-paper-" in close_line

    books = Books.read(db)
    venue_orders, venue_holdings, venue_cash, venue_fees = venue_record(venue)
    assert venue_orders and any(v[3] for v in venue_orders.values())

    # the holding was adopted once (at the first start only), at the broker's average price
    adopted = [o for o in books.orders if o.strategy == "adopted"]
    assert [(o.symbol, o.qty, o.status) for o in adopted] == [
        (held_symbol, held_qty, OrderStatus.FILLED)
    ], "the holding was adopted once, at the first start only"
    adoption = [e for e in books.ledger if e.client_order_id == adopted[0].client_order_id]
    assert [(e.qty, e.price, e.commission + e.tax) for e in adoption] == [(held_qty, held_avg, 0)]
    # the micro risk loop protects it like any position: no strategy owns it, and the loop's
    # exits (a stop, else the kill switch's full exit for every position) sold it
    exits = [
        o
        for o in books.orders
        if o.strategy == EMERGENCY_STRATEGY and o.symbol == held_symbol and o.side is OrderSide.SELL
    ]
    assert sum(o.filled_qty for o in exits) >= held_qty, "the micro loop never sold the holding"
    sent = [o for o in books.orders if o.venue_order_id and o.strategy != "adopted"]
    by_no = {o.venue_order_id: o for o in sent}
    assert len(by_no) == len(sent), "two orders of the books claim one order number"
    assert set(by_no) == set(venue_orders), "books and venue disagree on the orders placed"
    for no, (symbol, side, qty, filled, amount) in venue_orders.items():
        o = by_no[no]
        assert (o.symbol, o.side.value, o.qty, o.filled_qty) == (symbol, side, qty, filled), no
        rows = [e for e in books.ledger if e.client_order_id == o.client_order_id]
        assert sum(e.qty * e.price for e in rows) == amount, no
    assert books.positions == venue_holdings
    bought = sum(e.qty for e in books.ledger if e.side is OrderSide.BUY)  # the adoption included
    sold = sum(e.qty for e in books.ledger if e.side is OrderSide.SELL)
    assert bought - sold == sum(books.positions.values())
    fees_books = sum(e.commission + e.tax for e in books.ledger)
    assert books.account.cash + fees_books == venue_cash + sum(venue_fees.values())
    assert len({e.fill_id for e in books.ledger}) == len(books.ledger), "a fill booked twice"

    text = "".join(outputs) + (tmp_path / "var" / "log" / "qts.log").read_text(encoding="utf-8")
    for secret in (TEST_APP_KEY, TEST_SECRET_KEY, TEST_ACCOUNT_NO):
        assert secret not in text
