"""The adapter under KIS's failure modes, injected by the fake: token expiry, rate limits,
5xx answers, timeouts, dropped WebSockets, restarts. No order may be lost or sent twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from kis_kit import (
    CASH,
    HYNIX,
    SAMSUNG,
    WAIT,
    Tape,
    buy,
    collect,
    config_for,
    expected_cash,
    filled_qty,
    fills_of,
)

from qts.brokers.base import Ack, Balance, OrderUpdate
from qts.brokers.kis import KisBroker, KisMode
from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.auth import TokenManager
from qts.brokers.kis.errors import ReadInterrupted
from qts.brokers.kis.fake import FakeApp, FakeKisServer
from qts.brokers.sim import SimConfig
from qts.model.enums import OrderStatus

ORDER_PATH = ep.ORDER_BUY.path


def test_token_expiry_mid_session_reissues_and_continues(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    broker = connect()
    tape = Tape()
    assert broker.submit(buy("t1", 5, 70_000)).accepted
    fake.expire_tokens()  # KIS now answers EGW00123 to the token the adapter holds
    assert broker.submit(buy("t2", 7, 70_000)).accepted
    fake.expire_tokens()
    assert len(broker.open_orders()) == 2  # a GET after expiry too
    fake.advance(tape.frame())
    events = collect(broker, lambda ev: filled_qty(ev) == 12)
    assert fake.stats.token_expired_hits == 2
    assert fake.stats.tokens_issued == 3 and broker.rest.auth.issued == 3
    assert fake.stats.paths["order-cash(buy)"] == 2  # the refused POST was not processed
    assert broker.open_orders() == []
    bal = broker.balance()
    assert bal.holdings == {SAMSUNG: 12} and bal.cash == expected_cash(fills_of(events))


def test_burst_from_many_threads_stays_under_the_limit(
    fake: FakeKisServer, app: FakeApp, connect: Callable[..., KisBroker]
) -> None:
    # real mode: 19/s against KIS's 20/s; a wide margin so a loaded test machine's jitter
    # cannot squeeze 20 sends into one second of arrivals
    broker = connect(rate_window_margin_s=0.25)
    acks: list[Ack] = []
    lock = threading.Lock()

    def trader(k: int) -> None:
        for i in range(4):
            ack = broker.submit(buy(f"burst-{k}-{i}", 1, 70_000 if k % 2 else None))
            with lock:
                acks.append(ack)
        broker.quote(HYNIX)

    threads = [threading.Thread(target=trader, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 3)
    assert len(acks) == 32 and all(a.accepted for a in acks)
    assert len({a.venue_order_id for a in acks}) == 32
    assert fake.stats.rate_limited == 0
    assert fake.stats.max_in_window(app.app_key) <= broker.config.rate < fake.options.limit
    assert fake.stats.orders_placed == 32
    assert len(broker.open_orders()) == 32


@pytest.mark.parametrize("fake_options", [{"rate_limit": 8}], indirect=True)
def test_rate_limited_requests_are_retried_and_no_order_is_lost(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    # the adapter believes it may send 1000/s; the fake allows 8/s and answers EGW00201
    broker = connect(rate_limit_per_s=1000.0, rate_limit_retries=40)
    acks: list[Ack] = []
    lock = threading.Lock()

    def trader(k: int) -> None:
        for i in range(3):
            ack = broker.submit(buy(f"rl-{k}-{i}", 1, 70_000))
            with lock:
                acks.append(ack)

    threads = [threading.Thread(target=trader, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 3)
    assert len(acks) == 12 and all(a.accepted for a in acks)
    assert fake.stats.rate_limited > 0 and broker.rest.stats.rate_limited == fake.stats.rate_limited
    assert fake.stats.orders_placed == 12  # each exactly once
    tape = Tape()
    fake.advance(tape.frame())
    events = collect(broker, lambda ev: filled_qty(ev) == 12)
    bal = broker.balance()
    assert bal.holdings == {SAMSUNG: 12} and bal.cash == expected_cash(fills_of(events))


@pytest.mark.parametrize("fake_options", [{"mode": KisMode.PAPER}], indirect=True)
def test_paper_pacing_two_per_second(
    fake: FakeKisServer, app: FakeApp, connect: Callable[..., KisBroker]
) -> None:
    # paper defaults: 2/s at the adapter and at the fake, paper TR ids (margin: see above)
    broker = connect(rate_window_margin_s=0.25)
    for i in range(3):
        assert broker.submit(buy(f"p{i}", 1, 70_000)).accepted
    assert len(broker.open_orders()) == 3
    assert fake.stats.rate_limited == 0
    assert fake.stats.max_in_window(app.app_key) <= 2
    assert fake.stats.paths["order-cash(buy)"] == 3
    bal = broker.balance()  # resting limit orders: nothing bought, nothing spent
    assert bal.cash == CASH and bal.holdings == {}
    assert fake.stats.rate_limited == 0


def test_gets_are_retried_on_5xx_and_timeouts(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    broker = connect(timeout_s=0.5)
    assert broker.submit(buy("g1", 2, 70_000)).accepted
    fake.faults.fail(ep.DAILY_CCLD.path, status=500, count=2)
    assert [o.client_order_id for o in broker.open_orders()] == ["g1"]
    fake.faults.fail(ep.BALANCE.path, status=503, count=1, msg_cd="EGW00002")
    fake.faults.delay(ep.BALANCE.path, 1.0, after=False)  # longer than the client's timeout
    assert broker.balance() == Balance(CASH, {})
    assert fake.stats.faults_fired == 4
    assert broker.rest.stats.retries >= 4


@pytest.mark.parametrize(
    "inject",
    [
        pytest.param(lambda f: f.faults.delay(ORDER_PATH, 0.6, after=True), id="timeout"),
        pytest.param(lambda f: f.faults.fail(ORDER_PATH, status=500, after=True), id="5xx"),
        pytest.param(lambda f: f.faults.drop(ORDER_PATH, after=True), id="connection-reset"),
    ],
)
def test_order_placed_but_unanswered_is_found_not_resent(
    fake: FakeKisServer,
    connect: Callable[..., KisBroker],
    inject: Callable[[FakeKisServer], None],
) -> None:
    broker = connect(order_timeout_s=0.3)
    inject(fake)
    ack = broker.submit(buy("u1", 10, 70_000))  # processed by the fake, answer lost
    assert ack.accepted and ack.venue_order_id
    assert fake.stats.paths["order-cash(buy)"] == 1 and fake.stats.orders_placed == 1
    again = broker.submit(buy("u1", 10, 70_000))
    assert again.duplicate and again.venue_order_id == ack.venue_order_id
    fake.advance(Tape().frame())
    events = collect(broker, lambda ev: filled_qty(ev, "u1") == 10)
    assert broker.order("u1").status is OrderStatus.FILLED  # type: ignore[union-attr]
    bal = broker.balance()
    assert bal.holdings == {SAMSUNG: 10} and bal.cash == expected_cash(fills_of(events))
    assert fake.stats.paths["order-cash(buy)"] == 1


def test_order_refused_before_processing_is_sent_once_more(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    broker = connect()
    fake.faults.fail(ORDER_PATH, status=500, after=False)  # not processed
    ack = broker.submit(buy("n1", 3, 70_000))
    assert ack.accepted
    assert fake.stats.paths["order-cash(buy)"] == 1  # the refused one never reached routing
    assert fake.stats.orders_placed == 1 and fake.stats.faults_fired == 1
    assert [o.client_order_id for o in broker.open_orders()] == ["n1"]
    fake.advance(Tape().frame())
    events = collect(broker, lambda ev: filled_qty(ev) == 3)
    assert broker.balance().cash == expected_cash(fills_of(events))


@pytest.mark.parametrize("abrupt", [True, False], ids=["reset", "close-frame"])
def test_websocket_drop_reconnects_resubscribes_and_books_the_gap(
    fake: FakeKisServer, app: FakeApp, connect: Callable[..., KisBroker], abrupt: bool
) -> None:
    broker = connect()
    assert broker.ws is not None
    broker.subscribe_trades(SAMSUNG)
    tr = ep.notice_tr(fake.options.paper)
    assert fake.wait_subscribed(ep.WS_TRADES, SAMSUNG, 1, WAIT)
    tape = Tape()
    assert broker.submit(buy("w1", 10, 70_000)).accepted
    fake.refuse_websockets()
    assert fake.drop_websockets(abrupt=abrupt) == 1
    fake.advance(tape.frame())  # w1 fills while nobody listens: its notice is lost
    notices_before = fake.stats.notices_sent
    fake.refuse_websockets(False)
    assert fake.wait_subscribed(tr, app.hts_id, 2, WAIT)  # reconnected, registered again
    assert fake.wait_subscribed(ep.WS_TRADES, SAMSUNG, 2, WAIT)
    assert broker.ws.wait_generation(2, WAIT)
    events = collect(broker, lambda ev: filled_qty(ev, "w1") == 10)  # booked from inquiry
    assert fake.stats.notices_sent == notices_before

    assert broker.submit(buy("w2", 4, 70_000)).accepted
    fake.advance(tape.frame())
    events += collect(broker, lambda ev: filled_qty(ev, "w2") == 4)  # a decrypted notice
    assert fake.stats.notices_sent > notices_before
    assert broker.ws.stats.undecryptable == 0 and broker.ws.generation == 2
    assert any(t.symbol == SAMSUNG for t in broker.drain_market())
    assert broker.fills() == fills_of(events)
    bal = broker.balance()
    assert bal.holdings == {SAMSUNG: 14} and bal.cash == expected_cash(fills_of(events))


@pytest.mark.parametrize(
    "fake_options", [{"sim_config": SimConfig(participation=0.5)}], indirect=True
)
def test_restart_with_open_orders_recovers_from_the_map_and_inquiry(
    fake: FakeKisServer, connect: Callable[..., KisBroker], tmp_path: Path
) -> None:
    state = tmp_path / "kis-orders.sqlite"
    first = connect(state_path=state)
    tape = Tape()
    assert first.submit(buy("big", 100, 70_000)).accepted
    assert first.submit(buy("low", 5, 65_000)).accepted
    fake.advance(tape.frame(volume=60))  # big: 30 of 100
    seen = collect(first, lambda ev: filled_qty(ev) == 30)
    before_fills, before_open = first.fills(), first.open_orders()
    first.close()
    fake.advance(tape.frame(volume=60))  # 30 more while the adapter is down

    second = connect(state_path=state)
    reopened = {o.client_order_id: o for o in second.open_orders()}
    assert set(reopened) == {o.client_order_id for o in before_open} == {"big", "low"}
    assert reopened["big"].filled_qty == 60 and reopened["big"].venue_order_id
    assert reopened["low"] == next(o for o in before_open if o.client_order_id == "low")
    after = second.fills()
    assert after[: len(before_fills)] == before_fills == fills_of(seen)  # same ids as before
    assert [(f.client_order_id, f.qty) for f in after[1:]] == [("big", 30)]
    new_events = second.drain_events()  # the fill made while down, for the OMS to book
    assert fills_of(new_events) == after[1:]
    assert second.submit(buy("big", 100, 70_000)).duplicate  # still known after the restart

    bal = second.balance()
    assert bal.holdings == {SAMSUNG: 60} and bal.cash == expected_cash(after)
    second.close()  # KIS allows one WebSocket session per app key

    blank = connect()  # no order map at all: ids rebuilt from KIS's numbers
    rebuilt = sorted(blank.open_orders(), key=lambda o: o.venue_order_id)
    assert [(o.qty, o.filled_qty) for o in rebuilt] == [(100, 60), (5, 0)]
    assert all(o.client_order_id.startswith("KIS:20260304:") for o in rebuilt)
    assert [(f.qty, f.price) for f in blank.fills()] == [(60, 70_000)]  # per order, not per fill
    assert blank.balance() == bal


def test_unanswered_cancel_and_revise_are_found_by_inquiry(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    broker = connect(order_timeout_s=0.3)
    assert broker.submit(buy("cr", 10, 69_000)).accepted
    change = ep.REVISE_CANCEL.path
    fake.faults.fail(change, status=500, after=True)  # the partial cancel happens, no answer
    fake.faults.delay(change, 0.6, after=True)  # so does the revision, answered too late
    ack = broker.replace("cr", 6, 69_500)
    assert ack.accepted
    (view,) = broker.open_orders()
    assert (view.qty, view.limit_price, view.venue_order_id) == (6, 69_500, ack.venue_order_id)
    assert fake.stats.paths["order-rvsecncl"] == 2  # neither was sent twice
    fake.faults.fail(change, status=502, after=True)
    assert broker.cancel("cr").accepted
    events = collect(broker, lambda ev: len(ev) > 0)
    assert events == [OrderUpdate("cr", OrderStatus.CANCELED, events[0].ts, "canceled")]
    assert fake.stats.paths["order-rvsecncl"] == 3
    assert broker.open_orders() == [] and broker.balance().cash == CASH


@pytest.mark.parametrize("fake_options", [{"token_reissue_interval_s": 0.0}], indirect=True)
def test_token_refreshed_before_expiry_and_never_twice_a_minute(
    fake: FakeKisServer, app: FakeApp
) -> None:
    now = [1_000_000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    cfg = config_for(fake, app, token_min_interval_s=60.0, token_refresh_margin_s=600.0)
    with httpx.Client() as http:
        tokens = TokenManager(cfg, http, time_fn=lambda: now[0], sleep=sleep)
        first = tokens.token()
        now[0] += 30
        assert tokens.token() == first and tokens.issued == 1  # valid and not due
        now[0] += 86_400 - 30 - 300  # five minutes before expiry: inside the 600 s margin
        assert tokens.token() == first and tokens.issued == 2  # KIS answers the same token
        assert slept == [] and fake.stats.tokens_issued == 1
        tokens.invalidate(first)  # as after EGW00123, 10 s after the last issue
        now[0] += 10
        tokens.token()
        assert slept == [pytest.approx(50.0)] and tokens.issued == 3  # waited out the minute


def _requests(fake: FakeKisServer) -> int:
    return sum(fake.stats.paths.values())


def test_once_the_run_stops_reads_are_given_up_and_orders_still_go_out(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    """A SIGTERM must not wait behind paged inquiries; an order the books already hold is
    still sent (its outcome is the venue's record, whatever the run does next)."""
    broker = connect()
    stop = threading.Event()
    broker.rest.interrupt = stop
    assert broker.balance().cash == CASH  # not stopping: reads work
    stop.set()
    before = _requests(fake)
    with pytest.raises(ReadInterrupted, match="the run is stopping"):
        broker.balance()
    with pytest.raises(ReadInterrupted):
        broker.open_orders()
    assert _requests(fake) == before  # nothing was asked of KIS
    assert broker.submit(buy("t1", 5, 70_000)).accepted
    assert fake.stats.paths["order-cash(buy)"] == 1


def test_a_read_waiting_for_the_rate_limit_ends_when_the_run_stops(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    # one call per 4 s: the second read waits for its slot
    broker = connect(rate_limit_per_s=1.0, rate_window_margin_s=3.0)
    stop = threading.Event()
    broker.rest.interrupt = stop
    broker.balance()
    outcome: list[BaseException | None] = []
    limiter = broker.rest.limiter

    def read() -> None:
        try:
            broker.balance()
            outcome.append(None)
        except ReadInterrupted as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    wait_for_lock(limiter._lock)  # the reader holds the limiter while it waits for the slot
    stop.set()
    reader.join(1.5)  # well before the slot frees up (4 s after the first read)
    assert not reader.is_alive(), "the read still waits for the rate limit"
    assert len(outcome) == 1 and isinstance(outcome[0], ReadInterrupted)


def wait_for_lock(lock: threading.Lock) -> None:
    """Until another thread holds ``lock`` (bounded by WAIT)."""
    done = threading.Event()
    for _ in range(int(WAIT / 0.01)):
        if lock.locked():
            return
        done.wait(0.01)
    raise AssertionError("the reader never reached the rate limiter")
