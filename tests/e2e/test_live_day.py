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
import random
import signal
import subprocess
import sys
import threading
import time as time_
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from test_run_kis import Lines, kis_env

from qts.app.live_books import account_hash
from qts.app.trading_day import REPORT_KEY
from qts.brokers.kis import KisMode
from qts.brokers.kis.fake import FakeKisServer
from qts.brokers.kis.fake.credentials import PAPER_APP
from qts.brokers.kis.fake.serve import build_replay_server
from qts.brokers.kis.fake.server import FakeKisOptions, PacedClock
from qts.core.clock import WallClock
from qts.data.ports import AccountState
from qts.data.sqlite import SqliteStore
from qts.model.enums import OrderSide, OrderStatus
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.safety.supervisor import SafetySupervisor

SEED = 20261207  # the kill schedule
KILLS = 5
SPEED = 200.0  # a minute bar every 0.3 s: the day's 390 minutes in about two minutes
RUN = ("run", "--broker", "kis", "--account", "paper")
READY = 60.0  # ceiling for a (re)started run to report its books
MORNING = (time(9, 20), time(11, 30))  # the kills fall in here
TOKEN_MIN_INTERVAL_S = 62.0  # the adapter issues one token a minute (KIS's rule)
HELD = {"005870": 300}  # a universe symbol the account already holds: adopted at start
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


class Market:
    """The fake's bars; ``ended`` once the day's last bar has been traded."""

    def __init__(self) -> None:
        self.ended = threading.Event()

    def frames(self, frames: Iterator[object]) -> Iterator[object]:
        try:
            yield from frames
        finally:
            self.ended.set()


@pytest.fixture
def venue() -> Iterator[tuple[FakeKisServer, PacedClock, Market]]:
    server, clock, frames = build_replay_server(
        seed=7,
        speed=SPEED,
        mode=KisMode.PAPER,
        options=FakeKisOptions(mode=KisMode.PAPER),
        holdings={PAPER_APP.app_key: HELD},  # in the account before QTS first starts
    )
    market = Market()
    server.start()
    server.replay(market.frames(frames), clock)  # type: ignore[arg-type]
    yield server, clock, market
    server.stop()


@dataclass(frozen=True)
class Books:
    orders: list[Order]
    positions: dict[str, int]
    account: AccountState
    ledger: list[LedgerEntry]

    path: Path

    def report(self, day: str) -> dict[str, object] | None:
        store = SqliteStore(self.path, writer=False)
        try:
            return store.load_state(REPORT_KEY + day)
        finally:
            store.close()

    @staticmethod
    def read(path: Path) -> Books:
        """The books as the run's file holds them (readable while the run writes: WAL)."""
        store = SqliteStore(path, writer=False)
        try:
            state = store.load_account()
            assert state is not None
            positions = {s: p.qty for s, p in store.load_positions().items() if p.qty}
            return Books(store.load_orders(), positions, state, store.load_ledger(), path)
        finally:
            store.close()


VenueOrders = dict[str, tuple[str, str, int, int, int]]
VenueFees = dict[str, tuple[int, int]]  # ODNO -> (fills, commission + tax)


def venue_record(fake: FakeKisServer) -> tuple[VenueOrders, dict[str, int], int, VenueFees]:
    """The venue's own record: orders by ODNO (symbol, side, qty, filled qty, filled amount),
    holdings, cash, and each order's fills and fees, read on the fake's own loop."""

    def read() -> tuple[VenueOrders, dict[str, int], int, VenueFees]:
        acct = fake.account()
        placed = {
            o.odno: (o.symbol, o.side.value, o.qty, o.filled_qty, o.filled_amt)
            for o in acct.orders.values()
            if o.kind == "order"
        }
        odno_of = {o.sim_id: o.odno for o in acct.orders.values() if o.kind == "order"}
        fees: dict[str, tuple[int, int]] = {}
        for f in acct.sim.fills():
            n, paid = fees.get(odno_of[f.client_order_id], (0, 0))
            fees[odno_of[f.client_order_id]] = (n + 1, paid + f.commission + f.tax)
        return placed, dict(acct.sim.account.holdings), acct.sim.account.cash, fees

    return fake.call(read)


def wait_until(condition: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time_.monotonic() + timeout
    while not condition():
        if time_.monotonic() > deadline:
            raise AssertionError(message)
        threading.Event().wait(0.2)


def lock_down(path: Path) -> None:
    """Record a LOCKDOWN in the books, as a run that hit FS080 would have."""
    store = SqliteStore(path, writer=False)
    try:
        SafetySupervisor(store, WallClock()).report("FS080", "test: lockdown while down")
    finally:
        store.close()


def qts_safety(
    cwd: Path,
    command: str,
    books: Path | tuple[str, ...],
    *args: str,
    env: dict[str, str] | None = None,
) -> str:
    """``qts safety COMMAND`` on ``books``: a ``--db`` file, or options (``--broker kis --account
    paper``) naming the live run's own books, found from ``env`` as ``qts run`` found them."""
    where = ["--db", str(books)] if isinstance(books, Path) else list(books)
    proc = subprocess.run(
        [sys.executable, "-m", "qts", "safety", command, *where, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def start(fake: FakeKisServer, cwd: Path) -> tuple[subprocess.Popen[str], Lines]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "qts", *RUN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kis_env(fake),
        cwd=cwd,
    )
    return proc, Lines(proc)


def venue_time(clock: PacedClock, at: time) -> datetime:
    now = clock.now()
    return datetime.combine(now.date(), at, tzinfo=now.tzinfo)


def test_a_whole_day_with_kills_lockdown_and_token_expiry_ends_with_books_equal_to_the_venue(
    venue: tuple[FakeKisServer, PacedClock, Market], tmp_path: Path
) -> None:
    fake, clock, market = venue
    rng = random.Random(SEED)
    first, last = (venue_time(clock, t) for t in MORNING)
    span = (last - first).total_seconds()
    kill_at = sorted(first + timedelta(seconds=rng.uniform(0, span)) for _ in range(KILLS))
    outputs: list[str] = []
    first_token = time_.monotonic()  # the first process issues the first token
    for n, moment in enumerate(kill_at):
        proc, lines = start(fake, tmp_path)
        try:
            lines.wait_match(r"^books: ", READY)
            if n == 0:
                lines.wait_for("1 holding(s) adopted at the broker's average price", 1)
                # the first process trades before the first kill, so every later kill can
                # land on open orders and fills
                lines.wait_match(r" FILL (BUY|SELL) ", READY)
            wait_until(lambda m=moment: clock.now() >= m, READY, "the venue clock stalled")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        outputs.append(lines.rest(5))
    assert clock.now() < venue_time(clock, time(14, 0)), "the machine is too slow for the day"

    # the books: the default file of this account, named without its number
    books_files = sorted((tmp_path / "var").glob("live-kis-paper-*.sqlite"))
    digest = account_hash("kis", PAPER_APP.cano + PAPER_APP.acnt_prdt_cd)
    assert [p.name for p in books_files] == [f"live-kis-paper-{digest}.sqlite"]
    assert PAPER_APP.cano not in books_files[0].name
    db = books_files[0]

    lock_down(db)  # while no process runs
    proc, lines = start(fake, tmp_path)  # the last start: it runs through the close
    try:
        resumed = lines.wait_match(r"^books: ", READY)
        assert "(resumed)" in resumed and "safety LOCKDOWN" in resumed
        lines.wait_match(r"^venue time ", READY)
        assert "state: LOCKDOWN" in qts_safety(tmp_path, "status", db)
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
        assert clock.now() < venue_time(clock, time(15, 0)), "the machine is too slow"
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
            lambda: "FS104" in qts_safety(tmp_path, "history", db),
            READY,
            "the VKOSPI spike did not fire the kill switch",
        )

        # the close: the chore's line, then the books catch up with a venue that has ended
        close_line = lines.wait_match(r"^close \d{4}-\d\d-\d\d: ", 2 * READY)
        assert market.ended.wait(READY)

        def caught_up() -> bool:
            orders = Books.read(db).orders
            if any(not o.status.is_terminal for o in orders):
                return False  # the venue ended every day order at the close
            filled = {
                o.venue_order_id: o.filled_qty
                for o in orders
                if o.venue_order_id and o.strategy != "adopted"
            }
            return filled == {k: v[3] for k, v in venue_record(fake)[0].items()}

        # the adapter ends its day orders a minute of venue time after the close, and the venue
        # clock runs at wall speed once the prints have stopped
        wait_until(caught_up, 3 * READY, "the books never caught up with the venue")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    outputs.append(lines.rest(10))
    assert fake.stats.tokens_issued >= 2

    books = Books.read(db)
    orders, positions, account, ledger = books.orders, books.positions, books.account, books.ledger
    venue_orders, venue_holdings, venue_cash, venue_fees = venue_record(fake)
    assert venue_orders, "the run placed orders"
    assert any(filled for *_, filled, _amt in venue_orders.values()), "and some filled"
    assert not [o for o in orders if not o.status.is_terminal], "an order still open after close"

    # the day's report, in the store and as a file
    day = clock.now().date().isoformat()
    report_file = tmp_path / "var" / "reports" / f"live-kis-paper-{digest}-{day}.json"
    assert str(report_file.relative_to(tmp_path)) in close_line
    report = json.loads(report_file.read_text())
    assert report == books.report(day)
    todays = [e for e in ledger if e.ts.date().isoformat() == day]
    assert report["fills"] == len(todays)
    assert report["commission"] == sum(e.commission for e in todays)
    codes = {ev["code"] for ev in report["safety_events"]}
    assert {"FS080", "FS104"} <= codes

    # every order the venue has was sent once, by an order of the books that knows its ODNO
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
    # orders the venue never got were never sent: nothing stays open for them
    for o in orders:
        if not o.venue_order_id:
            assert o.status in (OrderStatus.CANCELED, OrderStatus.REJECTED), o

    # holdings, cash and the ledger
    assert positions == venue_holdings
    # KIS's notices carry no fees: the adapter computes them per fill it books. A restart books
    # what filled while it was down from the daily inquiry, one fill per order for the lot, so
    # the won-rounding of the venue's per-fill fees can differ there (at most 1 KRW per merged
    # fill for commission and for tax); everywhere else the fees are equal to the won, and cash
    # before fees is equal exactly.
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
    bought = sum(e.qty for e in ledger if e.side is OrderSide.BUY)  # the adoption included
    sold = sum(e.qty for e in ledger if e.side is OrderSide.SELL)
    assert bought - sold == sum(positions.values())
    assert len({e.fill_id for e in ledger}) == len(ledger), "a fill booked twice"

    # the console and the rotating log file under var/log/ (INFO and up), without a secret
    log_file = tmp_path / "var" / "log" / "qts.log"
    logged = log_file.read_text(encoding="utf-8")
    assert "INFO" in logged and "KIS paper adapter started" in logged
    text = "".join(outputs) + logged
    for secret in (PAPER_APP.app_key, PAPER_APP.app_secret, PAPER_APP.cano, PAPER_APP.hts_id):
        assert secret not in text
