"""Order life cycles through the KIS adapter and the KIS fake, over real HTTP and WebSocket.

Every test ends by checking the venue's view (open orders, fills) and the account (cash to the
won, holdings) against what the events told the client.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time

import pytest
from kis_kit import (
    CASH,
    DAY,
    HYNIX,
    SAMSUNG,
    Tape,
    buy,
    collect,
    expected_cash,
    filled_qty,
    fills_of,
    sell,
)

from qts.brokers.base import OrderUpdate
from qts.brokers.kis import KisBroker
from qts.brokers.kis.fake import FakeKisServer
from qts.brokers.sim import SimConfig
from qts.core.time import at
from qts.model.enums import OrderSide, OrderStatus


def test_buy_then_sell_books_notices_fees_and_cash(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    broker = connect()
    tape = Tape()
    ack = broker.submit(buy("b1", 10, 70_000))
    assert ack.accepted and ack.venue_order_id and len(ack.venue_order_id) == 10
    fake.advance(tape.frame())
    events = collect(broker, lambda ev: filled_qty(ev, "b1") == 10)
    assert broker.submit(sell("s1", 4)).accepted  # a MARKET sell
    fake.advance(tape.frame({SAMSUNG: 71_000}))
    events += collect(broker, lambda ev: filled_qty(ev, "s1") == 4)

    fills = fills_of(events)
    assert [(f.side, f.qty, f.price) for f in fills] == [
        (OrderSide.BUY, 10, 70_000),
        (OrderSide.SELL, 4, 71_000),
    ]
    assert fills[0].commission > 0 and fills[0].tax == 0
    assert fills[1].tax > 0  # KOSPI sell tax, settlement 2026-03-06: 0.20 %
    assert broker.fills() == fills  # inquiry agrees with the notices, ids included
    assert broker.open_orders() == []
    assert broker.order("b1").status is OrderStatus.FILLED  # type: ignore[union-attr]
    bal = broker.balance()
    assert bal.holdings == {SAMSUNG: 6}
    assert bal.cash == expected_cash(fills) == fake.call(lambda: fake.account().sim.account.cash)


@pytest.mark.parametrize(
    "fake_options", [{"sim_config": SimConfig(participation=0.5)}], indirect=True
)
def test_partial_fills_arrive_as_separate_fills(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    broker = connect()
    tape = Tape()
    assert broker.submit(buy("p1", 150, 70_000)).accepted
    fake.advance(tape.frame(volume=100))  # 50 of it
    first = collect(broker, lambda ev: filled_qty(ev) == 50)
    view = broker.order("p1")
    assert view is not None and view.status is OrderStatus.PARTIALLY_FILLED
    assert view.filled_qty == 50
    assert [o.client_order_id for o in broker.open_orders()] == ["p1"]
    fake.advance(tape.frame(volume=100))
    fake.advance(tape.frame(volume=100))
    rest = collect(broker, lambda ev: filled_qty(ev) == 100)
    fills = fills_of(first + rest)
    assert [f.qty for f in fills] == [50, 50, 50]
    assert [f.fill_id.rsplit("-", 1)[1] for f in fills] == ["50", "100", "150"]
    assert broker.order("p1").status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert broker.fills() == fills
    assert broker.balance().holdings == {SAMSUNG: 150}
    assert broker.balance().cash == expected_cash(fills)


def test_replace_lowers_qty_moves_price_then_cancel(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    broker = connect()
    tape = Tape()
    first = broker.submit(buy("r1", 20, 69_000))
    assert first.accepted
    fake.advance(tape.frame())  # 70,000 all bar: the 69,000 bid rests
    ack = broker.replace("r1", 12, 69_500)  # partial cancel of 8, then a price revision
    assert ack.accepted and ack.venue_order_id != first.venue_order_id
    (view,) = broker.open_orders()
    assert (view.qty, view.limit_price, view.venue_order_id) == (12, 69_500, ack.venue_order_id)
    refused = broker.replace("r1", 30, None)
    assert not refused.accepted and refused.code == "INVALID_QTY"

    fake.advance(tape.frame(low={SAMSUNG: 69_500}))  # touches the new price: fills 12
    events = collect(broker, lambda ev: filled_qty(ev, "r1") == 12)
    (fill,) = fills_of(events)
    assert fill.price == 69_500 and f"-{ack.venue_order_id}-" in fill.fill_id
    assert broker.order("r1").status is OrderStatus.FILLED  # type: ignore[union-attr]

    assert broker.submit(buy("c1", 5, 68_000, symbol=HYNIX)).accepted is False  # off tick
    assert broker.submit(buy("c2", 5, 175_000, symbol=HYNIX)).accepted
    assert broker.cancel("c2").accepted
    events = collect(broker, lambda ev: any(isinstance(e, OrderUpdate) for e in ev))
    assert [(e.client_order_id, e.status) for e in events if isinstance(e, OrderUpdate)] == [
        ("c2", OrderStatus.CANCELED)
    ]
    assert not broker.cancel("c2").accepted  # already closed
    assert broker.open_orders() == []
    bal = broker.balance()
    assert bal.holdings == {SAMSUNG: 12}
    assert bal.cash == expected_cash([fill])


@pytest.mark.parametrize(
    "fake_options", [{"sim_config": SimConfig(participation=0.5)}], indirect=True
)
def test_cancel_after_partial_fill_keeps_the_fill(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    broker = connect()
    tape = Tape()
    assert broker.submit(buy("x1", 100, 70_000)).accepted
    fake.advance(tape.frame(volume=60))  # 30 filled
    events = collect(broker, lambda ev: filled_qty(ev) == 30)
    assert broker.cancel("x1").accepted
    events += collect(broker, lambda ev: any(isinstance(e, OrderUpdate) for e in ev))
    assert isinstance(events[-1], OrderUpdate) and events[-1].status is OrderStatus.CANCELED
    fake.advance(tape.frame(volume=60))  # nothing more fills
    assert broker.drain_events() == []
    view = broker.order("x1")
    assert view is not None and (view.status, view.filled_qty) == (OrderStatus.CANCELED, 30)
    bal = broker.balance()
    assert bal.holdings == {SAMSUNG: 30}
    assert bal.cash == expected_cash(fills_of(events))


def test_a_refused_cancel_brings_the_orders_fill_at_once(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    """No notices, no poll due: the order filled at KIS unseen, so the cancel is refused; the
    refusal itself looks the order up, and the fill is there on the next drain."""
    broker = connect(ws_enabled=False, inquiry_cache_s=3600.0)
    tape = Tape()
    assert broker.submit(buy("f1", 10, 70_000)).accepted
    assert broker.drain_events() == []  # the first poll, before anything filled
    fake.advance(tape.frame())  # 70,000 all bar: filled at the venue
    assert broker.drain_events() == []  # no poll due: unseen
    refused = broker.cancel("f1")
    assert not refused.accepted and refused.code == "APBK9008"
    events = broker.drain_events()
    assert [(f.client_order_id, f.qty, f.price) for f in fills_of(events)] == [("f1", 10, 70_000)]
    view = broker.order("f1")
    assert view is not None and (view.status, view.filled_qty) == (OrderStatus.FILLED, 10)
    assert broker.balance().holdings == {SAMSUNG: 10}


def test_refusals_in_a_burst_look_the_orders_up_once(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    """One inquiry shows every order of the day: refused changes right after it add none."""
    broker = connect(ws_enabled=False, inquiry_cache_s=3600.0)
    tape = Tape()
    assert broker.submit(buy("r1", 10, 69_000)).accepted
    assert broker.drain_events() == []
    fake.advance(tape.frame())  # 70,000 all bar: the 69,000 bid rests
    inquiries = fake.stats.paths["inquire-daily-ccld"]
    off_tick = broker.replace("r1", 10, 69_010)  # KIS refuses a price off the tick grid
    assert not off_tick.accepted and off_tick.code == "APBK9003"
    assert fake.stats.paths["inquire-daily-ccld"] == inquiries + 1
    again = broker.replace("r1", 10, 69_020)
    assert not again.accepted and again.code == "APBK9003"
    assert fake.stats.paths["inquire-daily-ccld"] == inquiries + 1
    assert broker.order("r1").status is OrderStatus.SUBMITTED  # type: ignore[union-attr]


def test_rejections_duplicates_and_expiry(
    fake: FakeKisServer, connect: Callable[..., KisBroker]
) -> None:
    broker = connect()
    tape = Tape()
    poor = broker.submit(buy("big", 10_000, 70_000))  # 700 M won, the account has 100 M
    assert not poor.accepted and poor.code == "APBK9001" and poor.reason
    again = broker.submit(buy("big", 1, 70_000))  # the same id answers as before
    assert again.duplicate and not again.accepted and again.code == "APBK9001"
    short = broker.submit(sell("short", 1, 70_000))
    assert not short.accepted and short.code == "APBK9002"
    assert broker.order("big").status is OrderStatus.REJECTED  # type: ignore[union-attr]

    rest = broker.submit(buy("rest", 3, 65_000))
    assert rest.accepted
    dup = broker.submit(buy("rest", 3, 65_000))
    assert dup.duplicate and dup.venue_order_id == rest.venue_order_id
    fake.advance(tape.frame())
    fake.set_time(at(DAY, time(15, 31)))  # past the close: a day order dies
    events = collect(broker, lambda ev: len(ev) > 0)
    assert [(e.client_order_id, e.status) for e in events if isinstance(e, OrderUpdate)] == [
        ("rest", OrderStatus.EXPIRED)
    ]
    late = broker.submit(buy("late", 1, 70_000))
    assert not late.accepted and late.code == "APBK0918"  # 장운영시간이 아닙니다
    assert broker.open_orders() == []
    assert broker.fills() == []
    assert broker.balance().cash == CASH and broker.balance().holdings == {}
    # each POST reached the venue exactly once (the duplicates never left the adapter)
    assert fake.stats.paths["order-cash(buy)"] == 3 and fake.stats.paths["order-cash(sell)"] == 1
    assert fake.stats.orders_placed == 1
