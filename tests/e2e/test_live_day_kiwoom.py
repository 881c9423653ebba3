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

import subprocess
from collections.abc import Iterator
from datetime import time
from pathlib import Path

import pytest
from live_helpers import (
    KIWOOM_DAY,
    KIWOOM_SECRETS,
    READY,
    Books,
    Lines,
    assert_books_equal_venue,
    assert_no_secret,
    at_venue,
    end_the_day,
    kill_schedule,
    kiwoom_env,
    kiwoom_record,
    kiwoom_venue,
    reap,
    run_and_kill,
    safety_events,
    sqlite_reader,
    start_qts,
    stop_qts,
    wait_until,
)

from qts.brokers.kiwoom.fake import TEST_ACCOUNT_NO, FakeKiwoomServer, MarketReplay
from qts.brokers.kiwoom.fake.venue import FakeVenue
from qts.core.time import KST
from qts.execution.oms import EMERGENCY_STRATEGY
from qts.market.krx.calendar import KrxCalendar
from qts.model.enums import OrderSide

SEED = 20261208
KILLS = 3
SPEED = 200.0
RUN = ("run", "--broker", "kiwoom", "--account", "paper")
MORNING = (time(9, 20), time(11, 30))
HELD = {"005870": 300}  # a universe symbol the account already holds: adopted at start
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
def fake() -> Iterator[tuple[FakeKiwoomServer, FakeVenue, MarketReplay]]:
    with kiwoom_venue(SPEED, holdings=HELD, days=1) as v:
        yield v


def test_a_whole_kiwoom_day_with_kills_and_revoked_tokens_ends_with_books_equal_to_the_venue(
    fake: tuple[FakeKiwoomServer, FakeVenue, MarketReplay], tmp_path: Path
) -> None:
    server, venue, replay = fake
    # the broker's average purchase price of the holding, as kt00018 reports it before QTS starts
    ((held_symbol, held_qty),) = HELD.items()
    held_avg = {s: p.cost // p.qty for s, p, _ in venue.holdings()}[held_symbol]

    def start() -> tuple[subprocess.Popen[str], Lines]:
        return start_qts(RUN, kiwoom_env(server), tmp_path)

    def first_process(lines: Lines) -> None:
        lines.wait_for("1 holding(s) adopted at the broker's average price", 1)
        lines.wait_match(r" FILL (BUY|SELL) ", READY)

    kill_at = kill_schedule(SEED, KILLS, *(at_venue(venue.now(), t) for t in MORNING))
    outputs = run_and_kill(start, kill_at, venue.now, first_process)
    assert venue.now() < at_venue(venue.now(), time(14, 0)), "the machine is too slow for the day"

    books_files = sorted((tmp_path / "var").glob("live-kiwoom-paper-*.sqlite"))
    assert len(books_files) == 1
    assert TEST_ACCOUNT_NO not in books_files[0].name
    db = books_files[0]

    proc, lines = start()
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
        end_the_day(proc, lines, lambda: Books.read(db).orders, lambda: kiwoom_record(venue)[0])
    finally:
        reap(proc)
    outputs.append(lines.rest(10))
    assert "report var/reports/live-kiwoom-paper-" in close_line

    books = Books.read(db)
    venue_orders, venue_holdings, venue_cash, venue_fees = kiwoom_record(venue)
    # the same orders, fills and holdings; the holding was adopted once; no fill twice
    assert_books_equal_venue(books, venue_orders, venue_holdings, HELD)
    # adopted at the broker's average price, without fees
    (adopted,) = [o for o in books.orders if o.strategy == "adopted"]
    adoption = [e for e in books.ledger if e.client_order_id == adopted.client_order_id]
    assert [(e.qty, e.price, e.commission + e.tax) for e in adoption] == [(held_qty, held_avg, 0)]
    # the micro risk loop protects it like any position: no strategy owns it, and the loop's
    # exits (a stop, else the kill switch's full exit for every position) sold it
    exits = [
        o
        for o in books.orders
        if o.strategy == EMERGENCY_STRATEGY and o.symbol == held_symbol and o.side is OrderSide.SELL
    ]
    assert sum(o.filled_qty for o in exits) >= held_qty, "the micro loop never sold the holding"
    # Kiwoom reports each order's fees: the books' equal them, and cash is equal to the won
    fees_books = sum(e.commission + e.tax for e in books.ledger)
    assert books.account.cash + fees_books == venue_cash + sum(venue_fees.values())

    logged = (tmp_path / "var" / "log" / "qts.log").read_text(encoding="utf-8")
    assert_no_secret("".join(outputs) + logged, KIWOOM_SECRETS)


def test_a_kiwoom_run_crosses_the_night_closes_its_day_and_reconciles_the_next_cleanly(
    tmp_path: Path,
) -> None:
    """``qts run --broker kiwoom`` up through a day's close and into the next day (the replay
    starts late in the afternoon and crosses the night). The close chores run once for the
    day (the close line and ``var/reports/``) although the venue's next day follows at once on
    the replay's compressed clock, and the next pre-open's reconciliation is clean: no FS070,
    no execution of the day before read again as the new day's (re-dated under a new id), no
    fill booked twice."""
    with kiwoom_venue(60.0, days=2, fast_until=time(14, 50)) as (server, venue, _replay):
        first, calendar = KIWOOM_DAY, KrxCalendar()
        second = calendar.next_trading_day(first)
        proc, lines = start_qts(RUN, kiwoom_env(server), tmp_path)
        try:
            lines.wait_match(r"^books: ", READY)
            close_line = lines.wait_match(rf"^close {first}: ", 3 * READY)
            pre_open = lines.wait_match(rf"^pre-open {second}: ", READY)
            # a few polls of the new day's account after its pre-open
            wait_until(lambda: venue.now() >= at_venue(venue.now(), time(9, 10)), READY, "day 2")
            stop_qts(proc, 60, lines)
        finally:
            reap(proc)
        output = lines.rest(5)
    assert "report var/reports/live-kiwoom-paper-" in close_line
    (db,) = sorted((tmp_path / "var").glob("live-kiwoom-paper-*.sqlite"))
    assert (tmp_path / "var" / "reports" / f"{db.stem}-{first}.json").exists()
    assert "0 problem(s)" in pre_open, pre_open
    assert not [e for e in safety_events(db) if e.code == "FS070"]
    assert "not placed by QTS" not in output
    with sqlite_reader(db) as store:
        chores = store.load_state("trading_day")
    assert chores == {"pre_open": second.isoformat(), "close": first.isoformat()}
    books = Books.read(db)
    ids = [e.fill_id for e in books.ledger if e.fill_id.startswith("KW")]
    assert ids, "no Kiwoom fill in the books"
    assert len(ids) == len(set(ids)), "a fill booked twice"
    for e in books.ledger:  # a Kiwoom fill id carries the day it was made on
        if e.fill_id.startswith("KW"):
            assert e.fill_id[2:10] == e.ts.astimezone(KST).strftime("%Y%m%d"), e
