"""Tokens, rate limits, 5xx, timeouts, dropped connections and restarts, over real HTTP.

Timing faults make the fake wait (``DELAY``) longer than the client's timeout; tests never
sleep: they wait on the fake's change notifications or on the broker's poll.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from kiwoom_kit import (
    HYNIX,
    INITIAL_CASH,
    SAMSUNG,
    Harness,
    assert_books,
    fast_fake,
    flat,
    start_harness,
    venue_order_count,
)

from qts.brokers.base import OrderRequest, OrderUpdate
from qts.brokers.kiwoom import (
    KiwoomAuthError,
    KiwoomReadInterrupted,
    RateLimit,
    RateLimits,
    RecordState,
    SqliteOrderStore,
)
from qts.brokers.kiwoom.fake import (
    TEST_APP_KEY,
    TEST_SECRET_KEY,
    CodeStyle,
    FaultKind,
    Limit,
    LimitReply,
    When,
)
from qts.brokers.token_cache import TokenCache
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def buy(coid: str, qty: int, price: int | None = None, symbol: str = SAMSUNG) -> OrderRequest:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderRequest(coid, symbol, BUY, kind, qty, price)


@pytest.fixture
def detail_h() -> Iterator[Harness]:
    """The fake answering with the detail code as return_code (the other observed style)."""
    harness = start_harness(fast_fake(code_style=CodeStyle.DETAIL))
    yield harness
    harness.close()


# ---------------------------------------------------------------------------------- tokens


def test_token_refreshed_before_expiry(h: Harness) -> None:
    h.fake.config.token_lifetime = timedelta(hours=1)
    broker = h.broker()
    assert broker.submit(buy("t1", 1, 70_000)).accepted
    assert h.fake.tokens_issued == 1
    h.walls_forward(timedelta(minutes=49))
    broker.open_orders()
    assert h.fake.tokens_issued == 1  # still well inside its hour
    h.walls_forward(timedelta(minutes=2))  # past expiry − min(600 s, lifetime / 4)
    assert broker.submit(buy("t2", 1, 70_000)).accepted
    assert h.fake.tokens_issued == 2
    assert h.fake.token_refusals == 0  # renewed before Kiwoom ever refused it
    assert venue_order_count(h) == 2
    h.bar({SAMSUNG: flat(70_000)})
    assert sorted(e.client_order_id for e in broker.drain_events()) == ["t1", "t2"]
    assert broker.open_orders() == []
    assert_books(h, broker)


def test_a_restart_reuses_the_cached_token(h: Harness, tmp_path: Path) -> None:
    """au10001 tokens live a day and Kiwoom rate-limits their issuance: a restarted adapter
    takes the token its predecessor kept beside the books instead of issuing one."""
    path = tmp_path / "books.sqlite.token"
    first = h.broker(token_cache_path=path)
    first.balance()
    assert h.fake.tokens_issued == 1 and first.rest.auth.issued == 1
    assert path.stat().st_mode & 0o077 == 0, "the token file is the owner's only"
    assert TEST_APP_KEY not in path.read_text() and TEST_SECRET_KEY not in path.read_text()
    first.close()  # killed or stopped: the token stays valid at Kiwoom

    second = h.broker(token_cache_path=path)
    second.balance()
    assert h.fake.tokens_issued == 1 and second.rest.auth.issued == 0  # reused, not issued
    assert h.broker().balance() is not None  # an adapter without the file issues its own
    assert h.fake.tokens_issued == 2
    # a cached token Kiwoom no longer honours (revoked server-side) is replaced once
    h.fake.invalidate_tokens()
    third = h.broker(token_cache_path=path)
    third.balance()
    assert h.fake.tokens_issued == 3 and h.fake.token_refusals == 1
    # the file follows the new token: the next restart reuses that one
    fourth = h.broker(token_cache_path=path)
    fourth.balance()
    assert h.fake.tokens_issued == 3 and h.fake.token_refusals == 1
    # a token due for refresh (the day nearly over) is not reused: a new one is issued
    h.walls_forward(timedelta(hours=23, minutes=55))
    fifth = h.broker(token_cache_path=path)
    fifth.balance()
    assert h.fake.tokens_issued == 4 and fifth.rest.auth.issued == 1
    # another app key (or another server) reads nothing from the file
    url = fifth.config.rest_url
    assert TokenCache(path, TEST_APP_KEY, url).load()["token"]
    assert TokenCache(path, "another-app-key", url).load() == {}
    assert TokenCache(path, TEST_APP_KEY, "https://api.kiwoom.com").load() == {}


@pytest.mark.parametrize("style", ["envelope", "detail"])
def test_token_expired_mid_session_is_reissued_once(style: str) -> None:
    """The fake's clock runs ahead: Kiwoom calls the token invalid (8005) before the client
    expected it. One re-issue, the request resent, nothing lost or doubled."""
    h = start_harness(fast_fake(code_style=CodeStyle(style)))
    try:
        broker = h.broker()
        assert broker.submit(buy("e1", 2, 70_000)).accepted
        h.fake_wall.advance(timedelta(hours=25))  # the fake now sees the token expired
        ack = broker.submit(buy("e2", 3, 70_000))  # an order: refused before acting, resent
        assert ack.accepted
        assert h.fake.token_refusals == 1 and h.fake.tokens_issued == 2
        h.fake.invalidate_tokens()  # and again, server-side, on a query
        assert {o.client_order_id for o in broker.open_orders()} == {"e1", "e2"}
        assert h.fake.token_refusals == 2 and h.fake.tokens_issued == 3
        assert venue_order_count(h) == 2
        h.bar({SAMSUNG: flat(70_000)})
        fills = [e for e in broker.drain_events() if isinstance(e, Fill)]
        assert sorted((f.client_order_id, f.qty) for f in fills) == [("e1", 2), ("e2", 3)]
        assert_books(h, broker)
    finally:
        h.close()


def test_token_refused_twice_raises_instead_of_looping(detail_h: Harness) -> None:
    h = detail_h
    broker = h.broker()
    issued = h.fake.tokens_issued
    h.faults.add(FaultKind.TOKEN_INVALID, "ka10075", times=2)
    with pytest.raises(KiwoomAuthError) as caught:
        broker.open_orders()
    assert caught.value.detail_code == 8005 or caught.value.return_code == 8005
    assert h.fake.tokens_issued == issued + 1  # one re-issue, then give up
    assert broker.open_orders() == []  # and the next call works
    assert venue_order_count(h) == 0
    assert_books(h, broker)


def test_bad_credentials_fail_at_start_with_a_typed_error(h: Harness) -> None:
    with pytest.raises(KiwoomAuthError) as caught:
        h.broker(secret_key="not-the-secret-key-of-this-app")
    assert caught.value.detail_code == 8002
    assert "8002" in str(caught.value)


# ---------------------------------------------------------------------------------- limits


def test_order_burst_is_paced_nothing_lost_nothing_doubled() -> None:
    """The fake allows 10 orders/s (burst 3); the client paces itself a little under that."""
    h = start_harness(fast_fake(limits={"kt10000": Limit(10.0, 3)}))
    try:
        limits = RateLimits(
            per_api=RateLimit(rate=1000.0, burst=200),
            overall=None,
            overrides={"kt10000": RateLimit(rate=8.0, burst=2)},
        )
        broker = h.broker(rate_limits=limits)
        requests = [buy(f"burst-{i:02d}", 1 + i % 3, 70_000) for i in range(12)]
        with ThreadPoolExecutor(max_workers=6) as pool:
            acks = list(pool.map(broker.submit, requests))
        assert all(a.accepted for a in acks), [a for a in acks if not a.accepted]
        assert len({a.venue_order_id for a in acks}) == 12
        assert h.fake.limited.get("kt10000", 0) == 0
        assert h.fake.requests["kt10000"] == 12
        assert venue_order_count(h) == 12
        h.bar({SAMSUNG: flat(70_000)})
        fills = [e for e in broker.drain_events() if isinstance(e, Fill)]
        assert sorted(f.client_order_id for f in fills) == sorted(
            r.client_order_id for r in requests
        )
        assert sum(f.qty for f in fills) == sum(r.qty for r in requests)
        assert_books(h, broker)
    finally:
        h.close()


def test_query_burst_over_the_limit_is_retried() -> None:
    """The client does not pace; the fake limits queries (answering 429 and return_code 5 in
    turn). Every query still returns the right answer."""
    h = start_harness(
        fast_fake(per_api=Limit(40.0, 2), limit_reply=LimitReply.ALTERNATE, page_size=50)
    )
    try:
        broker = h.broker(retries=30, backoff_s=0.02, backoff_max_s=0.1)
        assert broker.submit(buy("q1", 4, 70_000)).accepted
        with ThreadPoolExecutor(max_workers=8) as pool:
            views = list(pool.map(lambda _: broker.open_orders(), range(16)))
        assert all([(o.client_order_id, o.qty) for o in v] == [("q1", 4)] for v in views)
        limited = sum(h.fake.limited.values())
        assert limited > 0 and broker.rest.retried >= limited
        assert venue_order_count(h) == 1
        assert_books(h, broker)
    finally:
        h.close()


def test_order_refused_for_rate_limit_is_retried_and_not_doubled() -> None:
    """Kiwoom refuses an order over its rate limit before acting on it, so the client sends it
    again after a backoff (a restarted process's pacer cannot know the requests of the process
    before it); once accepted, it is at the venue once."""
    h = start_harness(fast_fake(limits={"kt10000": Limit(4.0, 1)}))
    try:
        broker = h.broker(backoff_s=0.1, backoff_max_s=0.4)
        first = broker.submit(buy("r1", 1, 70_000))
        second = broker.submit(buy("r2", 1, 70_000))  # 0.25 s before the next slot
        assert first.accepted and second.accepted, second
        sent = h.fake.requests["kt10000"]
        assert 3 <= sent <= 4 and h.fake.limited["kt10000"] == sent - 2
        assert broker.rest.retried == sent - 2
        assert venue_order_count(h) == 2
        assert_books(h, broker)
    finally:
        h.close()


def test_order_still_rate_limited_after_its_retries_is_refused_not_doubled() -> None:
    h = start_harness(fast_fake(limits={"kt10000": Limit(0.5, 1)}))
    try:
        broker = h.broker(backoff_s=0.02, backoff_max_s=0.05, order_rate_retries=2)
        first = broker.submit(buy("r1", 1, 70_000))
        second = broker.submit(buy("r2", 1, 70_000))
        assert first.accepted
        assert not second.accepted and second.code == "RATE_LIMITED"
        assert h.fake.requests["kt10000"] == 1 + 3  # the refused order: sent, then twice again
        again = broker.submit(buy("r2", 1, 70_000))
        assert again.duplicate and again.code == "RATE_LIMITED"
        assert h.fake.requests["kt10000"] == 4
        assert venue_order_count(h) == 1
        r2 = broker.order("r2")
        assert r2 is not None and r2.status is OrderStatus.REJECTED
        assert_books(h, broker)
    finally:
        h.close()


# ---------------------------------------------------------------------------------- faults


def test_queries_survive_5xx_drops_and_timeouts(h: Harness) -> None:
    broker = h.broker(timeout_s=0.3)
    assert broker.submit(buy("f1", 3, 70_000)).accepted
    h.faults.add(FaultKind.HTTP_ERROR, "ka10075", times=2)
    h.faults.add(FaultKind.HTTP_ERROR, "kt00009", status=503)
    h.faults.add(FaultKind.DROP, "kt00009")
    h.faults.add(FaultKind.DELAY, "kt00001", seconds=0.8)
    h.faults.add(FaultKind.DROP, "kt00018", when=When.AFTER)
    retried = broker.rest.retried
    assert [o.client_order_id for o in broker.open_orders()] == ["f1"]
    assert broker.balance().cash == INITIAL_CASH
    assert h.faults.pending() == 0
    assert broker.rest.retried - retried == 6
    assert venue_order_count(h) == 1
    assert_books(h, broker)


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        (FaultKind.DELAY, {"seconds": 0.8}),  # the answer comes after the client gave up
        (FaultKind.DROP, {}),  # the connection closes after the order was placed
        (FaultKind.HTTP_ERROR, {"status": 502}),  # a gateway error after the fact
    ],
)
def test_order_without_an_answer_is_found_not_resent(
    h: Harness, kind: FaultKind, extra: dict[str, float]
) -> None:
    broker = h.broker(timeout_s=0.3)
    h.faults.add(kind, "kt10000", when=When.AFTER, **extra)  # type: ignore[arg-type]
    ack = broker.submit(buy("lost", 6, 70_000))
    assert ack.accepted and ack.venue_order_id and not ack.code
    assert h.fake.requests["kt10000"] == 1
    assert venue_order_count(h) == 1
    again = broker.submit(buy("lost", 6, 70_000))
    assert again.duplicate and again.venue_order_id == ack.venue_order_id
    assert h.fake.requests["kt10000"] == 1 and venue_order_count(h) == 1
    h.bar({SAMSUNG: flat(70_000)})
    fills = [e for e in broker.drain_events() if isinstance(e, Fill)]
    assert [(f.client_order_id, f.qty) for f in fills] == [("lost", 6)]
    o = broker.order("lost")
    assert o is not None and o.status is OrderStatus.FILLED
    assert_books(h, broker)


def test_order_that_never_arrived_is_rejected_after_the_grace_period(h: Harness) -> None:
    broker = h.broker(unconfirmed_grace_s=120)
    h.faults.add(FaultKind.HTTP_ERROR, "kt10000", when=When.BEFORE)
    ack = broker.submit(buy("ghost", 2, 70_000))
    assert ack.accepted and ack.venue_order_id is None and ack.code == "UNCONFIRMED"
    assert venue_order_count(h) == 0
    again = broker.submit(buy("ghost", 2, 70_000))  # asked again: looked up, not resent
    assert again.duplicate and again.code == "UNCONFIRMED"
    assert h.fake.requests["kt10000"] == 1
    o = broker.order("ghost")
    assert o is not None and o.status is OrderStatus.SUBMITTED and o.venue_order_id == ""
    assert not broker.cancel("ghost").accepted

    h.bar({SAMSUNG: flat(70_000)})
    assert broker.drain_events() == []  # still inside the grace period
    h.venue.advance_time(h.clock.now() + timedelta(minutes=3))
    events = broker.drain_events()
    assert len(events) == 1 and isinstance(events[0], OrderUpdate)
    assert events[0].status is OrderStatus.REJECTED and events[0].reason.startswith("FS042")
    o = broker.order("ghost")
    assert o is not None and o.status is OrderStatus.REJECTED
    assert venue_order_count(h) == 0
    assert broker.balance().cash == INITIAL_CASH
    assert_books(h, broker)


def test_no_grace_period_runs_out_while_the_order_call_waits(h: Harness) -> None:
    """The grace period is for order calls that ended without an answer: one still waiting (its
    turn under the rate limit, or the answer) is never rejected meanwhile, however far the
    clock moves (a replay at 200x runs a 30 s grace out in 0.15 s). It was: the books had the
    order REJECTED (FS042), the venue filled it, and the run stopped on REJECTED -> FILLED."""
    broker = h.broker(timeout_s=30.0, unconfirmed_grace_s=30)
    held = h.faults.add(FaultKind.HOLD, "kt10000", when=When.BEFORE, seconds=30.0)
    with ThreadPoolExecutor(1) as pool:
        try:
            sent = pool.submit(broker.submit, buy("waiting", 2, 70_000))
            assert held.reached.wait(10)
            h.bar({HYNIX: flat(200_000)})
            h.bar({HYNIX: flat(200_000)})  # two minutes: the 30 s grace is long past
            assert broker.poll_once() == []
            rec = broker.store.get("waiting")
            assert rec is not None and rec.state is RecordState.PENDING
        finally:
            held.release()
        ack = sent.result(30)
    assert ack.accepted and ack.venue_order_id and not ack.code
    h.bar({SAMSUNG: flat(70_000)})
    events = broker.drain_events()
    assert [(e.client_order_id, e.qty) for e in events if isinstance(e, Fill)] == [("waiting", 2)]
    assert not [e for e in events if isinstance(e, OrderUpdate)]
    assert_books(h, broker)


def test_late_order_is_adopted_when_it_shows_up(h: Harness) -> None:
    """The fake sits on the request past the client's timeout and places it afterwards."""
    broker = h.broker(timeout_s=0.3)
    h.faults.add(FaultKind.DELAY, "kt10000", when=When.BEFORE, seconds=0.8)
    ack = broker.submit(buy("slow", 4, 70_000))
    assert ack.accepted and ack.code == "UNCONFIRMED"
    assert h.venue.wait_for(lambda v: len(v.all_orders()) == 1, timeout=5)
    assert broker.drain_events() == []  # the poll adopts it: no event, it was acked
    o = broker.order("slow")
    assert o is not None and o.status is OrderStatus.SUBMITTED and o.venue_order_id
    rec = broker.store.get("slow")
    assert rec is not None and rec.state is RecordState.PLACED
    h.bar({SAMSUNG: flat(70_000)})
    fills = [e for e in broker.drain_events() if isinstance(e, Fill)]
    assert [(f.client_order_id, f.qty) for f in fills] == [("slow", 4)]
    assert h.fake.requests["kt10000"] == 1 and venue_order_count(h) == 1
    assert_books(h, broker)


def test_fills_read_before_the_order_is_named_are_the_orders_own(h: Harness) -> None:
    """A poll reads the order rows, then an order is placed and fills, then the poll reads the
    fills: the order's answer (its number) waits for the poll, so the fills name a number the
    map does not know yet. They are held back until it does, never taken for fills QTS did not
    place (they were lost for good: the books never caught up)."""
    broker = h.broker(timeout_s=30.0)
    assert broker.submit(buy("resting", 1, 60_000)).accepted  # the poller has work
    held = h.faults.add(FaultKind.HOLD, "kt00009", when=When.AFTER, seconds=30.0)
    with ThreadPoolExecutor(2) as pool:
        try:
            polled = pool.submit(broker.poll_once)
            assert held.reached.wait(10)  # the poll has read the order rows: none for it yet
            sent = pool.submit(broker.submit, buy("quick", 3))
            assert h.venue.wait_for(lambda v: len(v.all_orders()) == 2, timeout=10)
            h.bar({SAMSUNG: flat(70_000)})  # it fills before the poll reads the fills
        finally:
            held.release()
        assert polled.result(30) == []  # the fill is there, its order not named yet
        ack = sent.result(30)
    assert ack.accepted and ack.venue_order_id and not ack.code
    fills = [e for e in broker.drain_events() if isinstance(e, Fill)]
    assert [(f.client_order_id, f.qty) for f in fills] == [("quick", 3)]
    assert h.fake.requests["kt10000"] == 2
    assert_books(h, broker)


def test_cancel_without_an_answer_is_confirmed_by_inquiry(h: Harness) -> None:
    broker = h.broker(timeout_s=0.3)
    assert broker.submit(buy("c1", 5, 69_000)).accepted
    h.faults.add(FaultKind.DELAY, "kt10003", when=When.AFTER, seconds=0.8)
    assert broker.cancel("c1").accepted
    events = broker.drain_events()
    assert [(e.client_order_id, e.status) for e in events if isinstance(e, OrderUpdate)] == [
        ("c1", OrderStatus.CANCELED)
    ]
    assert h.fake.requests["kt10003"] == 1
    o = broker.order("c1")
    assert o is not None and o.status is OrderStatus.CANCELED and o.filled_qty == 0
    assert broker.balance().cash == INITIAL_CASH
    assert_books(h, broker)


# ---------------------------------------------------------------------------------- restart


def test_restart_with_open_orders(h: Harness, tmp_path: Path) -> None:
    state = tmp_path / "kiwoom-orders.sqlite"
    first = h.broker(state_path=state)
    assert first.submit(buy("big", 100, 70_000)).accepted
    assert first.submit(buy("small", 5)).accepted
    assert first.submit(OrderRequest("sell", HYNIX, SELL, OrderType.LIMIT, 20, 250_000)).accepted
    h.bar({SAMSUNG: (70_000, 70_000, 70_000, 70_000, 45), HYNIX: flat(200_000)})
    before = [e for e in first.drain_events() if isinstance(e, Fill)]
    assert sorted((f.client_order_id, f.qty) for f in before) == [("big", 40), ("small", 5)]
    first.close()  # the process stops ...
    h.bar({SAMSUNG: (70_000, 70_000, 70_000, 70_000, 20)})  # ... and the market goes on

    second = h.broker(state_path=state)
    assert second.drain_events() == []  # what happened while down is for reconciliation
    opened = {o.client_order_id: o for o in second.open_orders()}
    assert set(opened) == {"big", "sell"}
    big = opened["big"]
    assert (big.status, big.qty, big.filled_qty, big.limit_price) == (
        OrderStatus.PARTIALLY_FILLED,
        100,
        60,
        70_000,
    )
    small = second.order("small")
    assert small is not None and small.status is OrderStatus.FILLED
    fills = second.fills()
    assert {f.fill_id for f in before} < {f.fill_id for f in fills}
    assert [f.qty for f in fills if f.client_order_id == "big"] == [40, 20]
    assert second.submit(buy("big", 100, 70_000)).duplicate  # known again: not resent
    assert h.fake.requests["kt10000"] == 2

    h.bar({SAMSUNG: flat(70_000), HYNIX: flat(250_000)})
    events = second.drain_events()
    assert sorted((e.client_order_id, e.qty) for e in events if isinstance(e, Fill)) == [
        ("big", 40),
        ("sell", 20),
    ]
    assert second.open_orders() == []
    assert_books(h, second)
    assert second.balance().holdings == {SAMSUNG: 105}

    # without the order store the orders are still there, named after their Kiwoom numbers
    anonymous = h.broker()
    names = {f.client_order_id for f in anonymous.fills()}
    assert len(names) == 3 and all(n.startswith("KW-20260304-") for n in names)


def test_order_store_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    h = start_harness()
    try:
        broker = h.broker(state_path=path)
        ack = broker.submit(buy("kept", 1, 70_000))
        broker.close()
        reopened = SqliteOrderStore(path)
        rec = reopened.get("kept")
        assert rec is not None and rec.state is RecordState.PLACED
        assert rec.ord_nos == (ack.venue_order_id,)
        assert reopened.by_ord_no(rec.day, rec.current) == rec
        reopened.close()
    finally:
        h.close()


def test_once_the_run_stops_reads_are_given_up_and_orders_still_go_out(h: Harness) -> None:
    """A SIGTERM must not wait behind paged inquiries; an order the books already hold is
    still sent."""
    broker = h.broker()
    stop = threading.Event()
    broker.rest.interrupt = stop
    assert broker.balance().cash == INITIAL_CASH  # not stopping: reads work
    stop.set()
    before = sum(h.fake.requests.values())
    with pytest.raises(KiwoomReadInterrupted, match="the run is stopping"):
        broker.balance()
    assert sum(h.fake.requests.values()) == before  # nothing was asked of Kiwoom
    assert broker.submit(buy("s1", 3, 70_000)).accepted
    assert venue_order_count(h) == 1


def test_a_read_waiting_for_the_rate_limit_ends_when_the_run_stops(h: Harness) -> None:
    # one query every 4 s: the second read waits for its slot
    limits = RateLimits(per_api=RateLimit(rate=0.25, burst=1), overall=None)
    broker = h.broker(rate_limits=limits)
    stop = threading.Event()
    broker.rest.interrupt = stop
    broker.open_orders()
    outcome: list[BaseException | None] = []
    waited = broker.rest.limiter.waited_s

    def read() -> None:
        try:
            broker.open_orders()
            outcome.append(None)
        except KiwoomReadInterrupted as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(500):  # until the reader has reserved its slot and waits for it
        if broker.rest.limiter.waited_s > waited:
            break
        threading.Event().wait(0.01)
    else:
        raise AssertionError("the reader never reached the rate limiter")
    stop.set()
    reader.join(1.5)  # well before its slot comes (4 s after the first read)
    assert not reader.is_alive(), "the read still waits for the rate limit"
    assert len(outcome) == 1 and isinstance(outcome[0], KiwoomReadInterrupted)
