"""A whole trading day of ``qts run --broker kis`` against the local KIS exchange, killed with
SIGKILL again and again: at the end the books equal the venue's own record.

The local KIS exchange (the same fake ``qts sim serve --broker kis`` serves) replays one seeded
synthetic trading day, from one minute before the open to the close, at ``SPEED`` × real time in
this process; ``qts run --broker kis --account paper`` runs as a subprocess with its default
durable books under ``var/``, exactly as a user starts it. The day, scripted and seeded:

* the run is killed with SIGKILL at five seeded moments of the morning (the first once it has
  traded, so kills land between and inside cycles, orders and fills) and started again with the
  same command each time; each start reconciles with the broker (what filled while it was down
  is booked once, open orders are adopted, orders the broker never got are closed here);
* while it is down the last time a LOCKDOWN is recorded in its books: the restarted run comes
  back in LOCKDOWN, ``qts safety status`` reads it from the live books, and the running process
  applies ``qts safety approve-recovery`` at its next cycle;
* in the afternoon every access token expires (EGW00123): the run gets a new one and goes on;
  then the broker's VKOSPI spikes to 45 and the micro risk loop's kill switch fires (FS104);
* at the close the run does its close chore (open day orders closed, the day's report in the
  store and in ``var/reports/``) and, once the venue has nothing more to report, its books equal
  the venue's: the same orders (each sent once, known by its ODNO), the same filled quantities
  and amounts per order, the same holdings, the same cash; the ledger reconciles; nothing it
  printed or logged (``var/log/``) holds a secret.

The account holds 300 shares of 005870 before QTS first starts: the first start adopts them
(at the broker's average price, tagged ``adopted``), no restart adopts them again, and the
micro risk loop protects them like any position.
"""

from __future__ import annotations

import json
import subprocess
import time as time_
from collections.abc import Iterator
from datetime import time
from pathlib import Path

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
    kill_schedule,
    kis_env,
    kis_record,
    kis_venue,
    lock_down,
    qts_safety,
    reap,
    run_and_kill,
    sqlite_reader,
    start_qts,
    wait_until,
)

from qts.app.live_books import account_hash
from qts.app.trading_day import REPORT_KEY
from qts.brokers.kis.fake import FakeKisServer
from qts.brokers.kis.fake.credentials import PAPER_APP
from qts.brokers.kis.fake.server import PacedClock

SEED = 20261207  # the kill schedule
KILLS = 5
SPEED = 200.0  # a minute bar every 0.3 s: the day's 390 minutes in about two minutes
RUN = ("run", "--broker", "kis", "--account", "paper")
MORNING = (time(9, 20), time(11, 30))  # the kills fall in here
TOKEN_MIN_INTERVAL_S = 62.0  # the adapter issues one token a minute (KIS's rule)
HELD = {"005870": 300}  # a universe symbol the account already holds: adopted at start
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
def venue() -> Iterator[tuple[FakeKisServer, PacedClock, Market]]:
    with kis_venue(SPEED, HELD) as v:  # HELD: in the account before QTS first starts
        yield v


def day_report(db: Path, day: str) -> dict[str, object] | None:
    with sqlite_reader(db) as store:
        return store.load_state(REPORT_KEY + day)


def test_a_whole_day_with_kills_lockdown_and_token_expiry_ends_with_books_equal_to_the_venue(
    venue: tuple[FakeKisServer, PacedClock, Market], tmp_path: Path
) -> None:
    fake, clock, market = venue

    def start() -> tuple[subprocess.Popen[str], Lines]:
        return start_qts(RUN, kis_env(fake), tmp_path)

    def first_process(lines: Lines) -> None:
        lines.wait_for("1 holding(s) adopted at the broker's average price", 1)
        # the first process trades before the first kill, so every later kill can land on
        # open orders and fills
        lines.wait_match(r" FILL (BUY|SELL) ", READY)

    kill_at = kill_schedule(SEED, KILLS, *(at_venue(clock.now(), t) for t in MORNING))
    first_token = time_.monotonic()  # the first process issues the first token
    outputs = run_and_kill(start, kill_at, clock.now, first_process)
    assert clock.now() < at_venue(clock.now(), time(14, 0)), "the machine is too slow for the day"

    # the books: the default file of this account, named without its number
    books_files = sorted((tmp_path / "var").glob("live-kis-paper-*.sqlite"))
    digest = account_hash("kis", PAPER_APP.cano + PAPER_APP.acnt_prdt_cd)
    assert [p.name for p in books_files] == [f"live-kis-paper-{digest}.sqlite"]
    assert PAPER_APP.cano not in books_files[0].name
    db = books_files[0]

    with sqlite_reader(db) as store:
        lock_down(store)  # while no process runs
    proc, lines = start()  # the last start: it runs through the close
    try:
        account = lines.wait_match(r"^account: ", READY)
        assert "the books' own positions are kept" in account and "adopted" not in account
        resumed = lines.wait_match(r"^books: ", READY)
        assert "(resumed)" in resumed and "safety LOCKDOWN" in resumed
        lines.wait_match(r"^venue time ", READY)
        assert "state: LOCKDOWN" in qts_safety(tmp_path, "status", ("--db", str(db)))
        # the run's own books by the run's own options (no --db): the same file, the same state
        live, env = ("--broker", "kis", "--account", "paper"), kis_env(fake)
        assert "state: LOCKDOWN" in qts_safety(tmp_path, "status", live, env=env)
        approve = ("--operator", "ops", "--reason", "test")
        qts_safety(tmp_path, "approve-recovery", live, *approve, env=env)
        wait_until(
            lambda: "state: NORMAL" in qts_safety(tmp_path, "status", live, env=env),
            READY,
            "the running process did not apply the approval",
        )
        history = qts_safety(tmp_path, "history", live, env=env)
        assert "recovery_requested" in history and "[ops]" in history

        # every token expires (the adapter may issue its next one a minute after its last)
        wait_until(
            lambda: time_.monotonic() - first_token >= TOKEN_MIN_INTERVAL_S, 120, "no time left"
        )
        assert clock.now() < at_venue(clock.now(), time(15, 0)), "the machine is too slow"
        issued = fake.stats.tokens_issued
        fake.expire_tokens()
        wait_until(
            lambda: fake.stats.token_expired_hits >= 1 and fake.stats.tokens_issued > issued,
            READY,
            "the run did not renew its expired token",
        )

        # a VKOSPI spike at the broker: the micro risk loop's kill switch fires (FS104)
        fake.set_index("VKOSPI", 45.0)
        wait_until(
            lambda: "FS104" in qts_safety(tmp_path, "history", ("--db", str(db))),
            READY,
            "the VKOSPI spike did not fire the kill switch",
        )

        # the close: the chore's line, then the books catch up with a venue that has ended
        close_line = lines.wait_match(r"^close \d{4}-\d\d-\d\d: ", 2 * READY)
        assert market.ended.wait(READY)
        # the adapter ends its day orders a minute of venue time after the close, and the venue
        # clock runs at wall speed once the prints have stopped
        end_the_day(proc, lines, lambda: Books.read(db).orders, lambda: kis_record(fake)[0])
    finally:
        reap(proc)
    outputs.append(lines.rest(10))
    assert fake.stats.tokens_issued >= 2

    books = Books.read(db)
    venue_orders, venue_holdings, venue_cash, venue_fees = kis_record(fake)
    # every order the venue has was sent once, by an order of the books that knows its ODNO;
    # the holding was adopted once; the same holdings; no fill booked twice
    sent = assert_books_equal_venue(books, venue_orders, venue_holdings, HELD)
    assert_kis_cash_and_fees(books, sent, venue_cash, venue_fees)

    # the day's report, in the store and as a file
    day = clock.now().date().isoformat()
    report_file = tmp_path / "var" / "reports" / f"live-kis-paper-{digest}-{day}.json"
    assert str(report_file.relative_to(tmp_path)) in close_line
    report = json.loads(report_file.read_text())
    assert report == day_report(db, day)
    todays = [e for e in books.ledger if e.ts.date().isoformat() == day]
    assert report["fills"] == len(todays)
    assert report["commission"] == sum(e.commission for e in todays)
    codes = {ev["code"] for ev in report["safety_events"]}
    assert {"FS080", "FS104"} <= codes

    # the console and the rotating log file under var/log/ (INFO and up), without a secret
    log_file = tmp_path / "var" / "log" / "qts.log"
    logged = log_file.read_text(encoding="utf-8")
    assert "INFO" in logged and "KIS paper adapter started" in logged
    assert_no_secret("".join(outputs) + logged, KIS_SECRETS)
