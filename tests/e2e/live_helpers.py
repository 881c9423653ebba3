"""What the end-to-end tests of ``qts run --broker kis|kiwoom`` share.

The local exchanges (the fakes ``qts sim serve`` serves) replaying the seeded synthetic market in
this process; ``qts run`` as a subprocess with the fake's credentials in its environment and its
output read line by line as it comes (:class:`Lines`); the books a run keeps, read back while it
writes; each venue's own record of the day; and the comparison of the two that the whole-day
tests end with. Synchronisation is on data (output lines, the fakes' records, the books), each
wait with a ceiling, never a sleep.
"""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time as time_
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from qts.brokers.kis import KisMode
from qts.brokers.kis.fake import FakeKisServer
from qts.brokers.kis.fake.credentials import PAPER_APP
from qts.brokers.kis.fake.serve import build_replay_server
from qts.brokers.kis.fake.server import FakeKisOptions, PacedClock
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
from qts.core.clock import WallClock
from qts.data.ports import AccountState, SafetyEventRecord, TradingStore
from qts.data.sqlite import SqliteStore
from qts.model.enums import OrderSide, OrderStatus
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.safety.supervisor import SafetySupervisor

READY = 60.0  # ceiling for a (re)started run to report its books
REPLAY_SPEED = 120.0  # runs of a few minutes: two minute bars per second
FIRST_FILL_S = 45.0  # ceiling for a KIS run to place and fill its first order
KIWOOM_DAY = date(2026, 3, 4)  # the day the Kiwoom fake replays
# orders by the venue's number: (symbol, side, qty, filled qty, filled amount)
VenueOrders = dict[str, tuple[str, str, int, int, int]]
KisFees = dict[str, tuple[int, int]]  # ODNO -> (fills, commission + tax)

# ------------------------------------------------------------------ the local exchanges


class Market:
    """The KIS fake's bars; ``ended`` once the day's last bar has been traded."""

    def __init__(self) -> None:
        self.ended = threading.Event()

    def frames(self, frames: Iterator[object]) -> Iterator[object]:
        try:
            yield from frames
        finally:
            self.ended.set()


@contextmanager
def kis_venue(
    speed: float, holdings: dict[str, int] | None = None
) -> Iterator[tuple[FakeKisServer, PacedClock, Market]]:
    """The local KIS exchange replaying seed 7's day at ``speed``; ``holdings``: what the
    paper account holds before QTS first starts."""
    server, clock, frames = build_replay_server(
        seed=7,
        speed=speed,
        mode=KisMode.PAPER,
        options=FakeKisOptions(mode=KisMode.PAPER),
        holdings={PAPER_APP.app_key: holdings} if holdings else None,
    )
    market = Market()
    server.start()
    server.replay(market.frames(frames), clock)  # type: ignore[arg-type]
    try:
        yield server, clock, market
    finally:
        server.stop()


@contextmanager
def kiwoom_venue(
    speed: float,
    *,
    holdings: dict[str, int] | None = None,
    days: int | None = None,
    fast_until: time | None = None,
) -> Iterator[tuple[FakeKiwoomServer, FakeVenue, MarketReplay]]:
    """The local Kiwoom exchange (REST and WebSocket) replaying seed 7's market from
    :data:`KIWOOM_DAY` at ``speed`` (``days``: how many; None: on and on; ``fast_until``: the
    first day's bars before this time are traded at once)."""
    venue, market, day = synthetic_venue(7, KIWOOM_DAY, holdings=holdings)
    server = FakeKiwoomServer(venue, FakeConfig(ping_interval_s=0.5)).start()
    stop = threading.Event()
    replay = MarketReplay(
        venue, market, day, speed, stop=stop, days=days, fast_until=fast_until
    ).start()
    try:
        yield server, venue, replay
    finally:
        stop.set()
        replay.join(5)
        server.stop()


def kis_env(server: FakeKisServer) -> dict[str, str]:
    """The run's environment: the KIS fake's URLs and the paper app's credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIS_")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
            "KIS_VTS_APP_KEY": PAPER_APP.app_key,
            "KIS_VTS_APP_SECRET": PAPER_APP.app_secret,
            "KIS_VTS_ACCOUNT_NO": PAPER_APP.account_no,
            "KIS_VTS_HTS_ID": PAPER_APP.hts_id,
            "KIS_VTS_BASE_URL": server.rest_url,
            "KIS_VTS_WS_URL": server.ws_url,
        }
    )
    return env


def kiwoom_env(server: FakeKiwoomServer) -> dict[str, str]:
    """The run's environment: the Kiwoom fake's URLs and its test credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIWOOM_")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
            "KIWOOM_VTS_APP_KEY": TEST_APP_KEY,
            "KIWOOM_VTS_APP_SECRET": TEST_SECRET_KEY,
            "KIWOOM_VTS_ACCOUNT_NO": TEST_ACCOUNT_NO,
            "KIWOOM_VTS_BASE_URL": server.base_url,
            "KIWOOM_VTS_WEBSOCKET_URL": server.base_url.replace("http://", "ws://")
            + "/api/dostk/websocket",
        }
    )
    return env


KIS_SECRETS = (PAPER_APP.app_key, PAPER_APP.app_secret, PAPER_APP.cano, PAPER_APP.hts_id)
KIWOOM_SECRETS = (TEST_APP_KEY, TEST_SECRET_KEY, TEST_ACCOUNT_NO)


def assert_no_secret(text: str, secrets: Sequence[str]) -> None:
    for secret in secrets:
        assert secret not in text


# ------------------------------------------------------------------ running qts


class Lines:
    """The subprocess's output, line by line, as it comes (a reader thread per stream)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.q: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        for stream in (proc.stdout, proc.stderr):
            assert stream is not None
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.q.put(line)
        self.q.put(None)

    def wait_for(self, text: str, timeout: float) -> str:
        return self.wait_match(re.escape(text), timeout)

    def wait_match(self, pattern: str, timeout: float) -> str:
        text = pattern
        deadline = time_.monotonic() + timeout
        for line in self.seen:
            if re.search(pattern, line):
                return line
        while True:
            left = deadline - time_.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} in {timeout} s; output:\n{''.join(self.seen)}")
            try:
                got = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if got is None:
                raise AssertionError(f"output ended without {text!r}:\n{''.join(self.seen)}")
            line = got
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def rest(self, timeout: float) -> str:
        deadline = time_.monotonic() + timeout
        ends = 0
        while ends < 2 and time_.monotonic() < deadline:
            try:
                line = self.q.get(timeout=max(0.0, deadline - time_.monotonic()))
            except queue.Empty:
                break
            if line is None:
                ends += 1
            else:
                self.seen.append(line)
        return "".join(self.seen)


def start_qts(
    args: Sequence[str], env: dict[str, str], cwd: Path
) -> tuple[subprocess.Popen[str], Lines]:
    """``python -m qts ARGS`` in ``cwd``, its output read as it comes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "qts", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )
    return proc, Lines(proc)


def stop_qts(proc: subprocess.Popen[str], timeout: float = 30, lines: Lines | None = None) -> None:
    """SIGTERM: the run stops cleanly (exit 0) within ``timeout``; if not, the assertion carries
    what the run printed (a stuck run's watchdog report names the held locks and every stack)."""
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout)
    if code != 0:
        said = lines.rest(5)[-20_000:] if lines is not None else "(output not captured)"
        raise AssertionError(f"qts exited {code} after SIGTERM; its output:\n{said}")


def reap(proc: subprocess.Popen[str]) -> None:
    """Whatever happened, no process is left behind."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def wait_until(condition: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time_.monotonic() + timeout
    while not condition():
        if time_.monotonic() > deadline:
            raise AssertionError(message)
        threading.Event().wait(0.2)


def assert_traded(lines: Lines) -> None:
    """The run's closing summary: prints came, cycles ran, orders were placed and booked."""
    summary = lines.wait_for("stopped: stop requested", 1)
    assert "trade prints ->" in summary and " 0 cycles" not in summary
    assert " 0 orders" not in summary and " 0 ledger rows" not in summary


def assert_real_account_refused(broker: str, cwd: Path) -> None:
    """``qts run --broker BROKER --account real`` without the live switches refuses to start."""
    env = {k: v for k, v in os.environ.items() if k not in ("ENABLE_REAL_ORDER", "QTS_LIVE_ACK")}
    proc = subprocess.run(
        [sys.executable, "-m", "qts", "run", "--broker", broker, "--account", "real"],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        cwd=cwd,
        check=False,
        timeout=60,
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "mode" in out and "live" in out


# ------------------------------------------------------------------ a day with kills


def kill_schedule(seed: int, kills: int, first: datetime, last: datetime) -> list[datetime]:
    """``kills`` seeded moments between ``first`` and ``last``, in order."""
    rng = random.Random(seed)
    span = (last - first).total_seconds()
    return sorted(first + timedelta(seconds=rng.uniform(0, span)) for _ in range(kills))


def run_and_kill(
    start: Callable[[], tuple[subprocess.Popen[str], Lines]],
    moments: Sequence[datetime],
    now: Callable[[], datetime],
    first: Callable[[Lines], None],
) -> list[str]:
    """Start the run, let it reach each of ``moments`` (venue time), SIGKILL it there; the
    first process is checked by ``first`` before it may die. The outputs, one per process."""
    outputs: list[str] = []
    for n, moment in enumerate(moments):
        proc, lines = start()
        try:
            lines.wait_match(r"^books: ", READY)
            if n == 0:
                first(lines)
            wait_until(lambda m=moment: now() >= m, READY, "the venue clock stalled")
        finally:
            kill(proc)
        outputs.append(lines.rest(5))
    return outputs


def at_venue(now: datetime, t: time) -> datetime:
    """Time of day ``t`` on the venue's day (``now`` is its clock)."""
    return datetime.combine(now.date(), t, tzinfo=now.tzinfo)


# ------------------------------------------------------------------ the books


@dataclass(frozen=True)
class Books:
    orders: list[Order]
    positions: dict[str, int]
    account: AccountState
    ledger: list[LedgerEntry]

    @staticmethod
    def of(store: TradingStore) -> Books:
        state = store.load_account()
        assert state is not None
        positions = {s: p.qty for s, p in store.load_positions().items() if p.qty}
        return Books(store.load_orders(), positions, state, store.load_ledger())

    @staticmethod
    def read(path: Path) -> Books:
        """The books as the run's SQLite file holds them (readable while the run writes)."""
        with sqlite_reader(path) as store:
            return Books.of(store)


@contextmanager
def sqlite_reader(path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(path, writer=False)
    try:
        yield store
    finally:
        store.close()


def safety_events(path: Path) -> list[SafetyEventRecord]:
    with sqlite_reader(path) as store:
        return store.load_safety_events()


def lock_down(store: TradingStore) -> None:
    """Record a LOCKDOWN in the books, as a run that hit FS080 would have."""
    SafetySupervisor(store, WallClock()).report("FS080", "test: lockdown while down")


def qts_safety(
    cwd: Path, command: str, where: Sequence[str], *args: str, env: dict[str, str] | None = None
) -> str:
    """``qts safety COMMAND`` on the books ``where`` names (``--db FILE``, ``--dsn … --schema
    …``, or ``--broker kis --account paper`` found from ``env`` as ``qts run`` found them)."""
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


# ------------------------------------------------------------------ the venues' record


def kis_record(fake: FakeKisServer) -> tuple[VenueOrders, dict[str, int], int, KisFees]:
    """The KIS venue's own record: orders by ODNO, holdings, cash, and each order's fills and
    fees (commission + tax), read on the fake's own loop."""

    def read() -> tuple[VenueOrders, dict[str, int], int, KisFees]:
        acct = fake.account()
        placed = {
            o.odno: (o.symbol, o.side.value, o.qty, o.filled_qty, o.filled_amt)
            for o in acct.orders.values()
            if o.kind == "order"
        }
        odno_of = {o.sim_id: o.odno for o in acct.orders.values() if o.kind == "order"}
        fees: KisFees = {}
        for f in acct.sim.fills():
            n, paid = fees.get(odno_of[f.client_order_id], (0, 0))
            fees[odno_of[f.client_order_id]] = (n + 1, paid + f.commission + f.tax)
        return placed, dict(acct.sim.account.holdings), acct.sim.account.cash, fees

    return fake.call(read)


def kiwoom_record(venue: FakeVenue) -> tuple[VenueOrders, dict[str, int], int, dict[str, int]]:
    """The Kiwoom venue's own record: orders by number, holdings, cash, each order's fees."""
    orders = {
        o.ord_no: (o.symbol, o.side.value, o.qty, o.filled, o.amount)
        for o in venue.all_orders()
        if o.kind is Kind.NEW
    }
    fees = {o.ord_no: o.commission + o.tax for o in venue.all_orders() if o.kind is Kind.NEW}
    holdings = {s: p.qty for s, p, _ in venue.holdings() if p.qty}
    return orders, holdings, venue.cash()[0], fees


def caught_up(orders: list[Order], venue_orders: VenueOrders) -> bool:
    """The books know every order as ended and filled as the venue does."""
    if any(not o.status.is_terminal for o in orders):
        return False  # the venue ended every day order at the close
    filled = {
        o.venue_order_id: o.filled_qty
        for o in orders
        if o.venue_order_id and o.strategy != "adopted"
    }
    return filled == {k: v[3] for k, v in venue_orders.items()}


def end_the_day(
    proc: subprocess.Popen[str],
    lines: Lines,
    orders: Callable[[], list[Order]],
    venue_orders: Callable[[], VenueOrders],
) -> None:
    """Once the books have caught up with a venue that has ended its day, SIGTERM: exit 0."""
    wait_until(
        lambda: caught_up(orders(), venue_orders()),
        3 * READY,
        "the books never caught up with the venue",
    )
    stop_qts(proc, 60, lines)


def assert_books_equal_venue(
    books: Books, venue_orders: VenueOrders, venue_holdings: dict[str, int], held: dict[str, int]
) -> list[Order]:
    """Books == venue at the end of the day: the same orders (each sent once, known by the
    venue's number), the same filled quantities and amounts per order, the same holdings; the
    holdings ``held`` before QTS first started were adopted once; nothing is still open and no
    fill was booked twice. Returns the orders the books sent (cash and fees are the caller's:
    the brokers differ there)."""
    orders, ledger = books.orders, books.ledger
    assert venue_orders, "the run placed orders"
    assert any(filled for *_, filled, _amt in venue_orders.values()), "and some filled"
    assert not [o for o in orders if not o.status.is_terminal], "an order still open after close"
    adopted = [o for o in orders if o.strategy == "adopted"]
    assert [(o.symbol, o.qty, o.status) for o in adopted] == [
        (s, q, OrderStatus.FILLED) for s, q in sorted(held.items())
    ], "the holding was adopted once, at the first start only"
    sent = [o for o in orders if o.venue_order_id and o.strategy != "adopted"]
    by_number = {o.venue_order_id: o for o in sent}
    assert len(by_number) == len(sent), "two orders of the books claim one order number"
    assert set(by_number) == set(venue_orders), "books and venue disagree on the orders placed"
    for number, (symbol, side, qty, filled, amount) in venue_orders.items():
        o = by_number[number]
        assert (o.symbol, o.side.value, o.qty) == (symbol, side, qty), number
        assert o.filled_qty == filled, f"order {number}: filled {o.filled_qty} here, {filled} there"
        booked = sum(e.qty * e.price for e in ledger if e.client_order_id == o.client_order_id)
        assert booked == amount, f"order {number}: {booked} KRW booked, {amount} at the venue"
    # orders the venue never got were never sent: nothing stays open for them
    for o in orders:
        if not o.venue_order_id:
            assert o.status in (OrderStatus.CANCELED, OrderStatus.REJECTED), o
    assert books.positions == venue_holdings
    bought = sum(e.qty for e in ledger if e.side is OrderSide.BUY)  # the adoption included
    sold = sum(e.qty for e in ledger if e.side is OrderSide.SELL)
    assert bought - sold == sum(books.positions.values())
    assert len({e.fill_id for e in ledger}) == len(ledger), "a fill booked twice"
    return sent


def assert_kis_cash_and_fees(
    books: Books, sent: list[Order], venue_cash: int, venue_fees: KisFees
) -> None:
    """KIS's notices carry no fees: the adapter computes them per fill it books. A restart
    books what filled while it was down from the daily inquiry, one fill per order for the
    lot, so the won-rounding of the venue's per-fill fees can differ there (at most 1 KRW per
    merged fill for commission and for tax); everywhere else the fees are equal to the won,
    and cash before fees is equal exactly."""
    books_fees: KisFees = {}
    for o in sent:
        rows = [e for e in books.ledger if e.client_order_id == o.client_order_id]
        if rows:
            books_fees[o.venue_order_id] = (len(rows), sum(e.commission + e.tax for e in rows))
    assert set(books_fees) == set(venue_fees)
    for odno, (n_venue, paid_venue) in venue_fees.items():
        n_books, paid_books = books_fees[odno]
        assert n_books <= n_venue, f"ODNO {odno}: more fills booked than made"
        assert abs(paid_books - paid_venue) <= 2 * (n_venue - n_books), odno
    total_books = sum(paid for _, paid in books_fees.values())
    total_venue = sum(paid for _, paid in venue_fees.values())
    assert books.account.cash + total_books == venue_cash + total_venue


__all__ = [
    "FIRST_FILL_S",
    "KIS_SECRETS",
    "KIWOOM_DAY",
    "KIWOOM_SECRETS",
    "READY",
    "REPLAY_SPEED",
    "Books",
    "KisFees",
    "Lines",
    "Market",
    "VenueOrders",
    "assert_books_equal_venue",
    "assert_kis_cash_and_fees",
    "assert_no_secret",
    "assert_real_account_refused",
    "assert_traded",
    "at_venue",
    "caught_up",
    "end_the_day",
    "kill",
    "kill_schedule",
    "kis_env",
    "kis_record",
    "kis_venue",
    "kiwoom_env",
    "kiwoom_record",
    "kiwoom_venue",
    "lock_down",
    "qts_safety",
    "reap",
    "run_and_kill",
    "safety_events",
    "sqlite_reader",
    "start_qts",
    "stop_qts",
    "wait_until",
]
