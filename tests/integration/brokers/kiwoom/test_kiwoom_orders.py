"""KiwoomBroker against the fake over real HTTP: orders, fills, cancel, modify, expiry.

Every test ends by checking orders, positions and cash at the broker against the venue.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kiwoom_kit import (
    HYNIX,
    INITIAL_CASH,
    OPEN,
    SAMSUNG,
    Harness,
    assert_books,
    flat,
    venue_order_count,
)

from qts.brokers.base import OrderRequest, OrderUpdate
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill

BUY, SELL = OrderSide.BUY, OrderSide.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET


def req(
    coid: str, side: OrderSide, qty: int, price: int | None = None, symbol: str = SAMSUNG
) -> OrderRequest:
    return OrderRequest(coid, symbol, side, MARKET if price is None else LIMIT, qty, price)


def test_buy_sell_and_fills_reach_drain_events(h: Harness) -> None:
    broker = h.broker()
    a = broker.submit(req("buy-1", BUY, 10, 70_000))
    b = broker.submit(req("buy-2", BUY, 5))
    c = broker.submit(req("sell-1", SELL, 8, 201_000, symbol=HYNIX))
    assert a.accepted and b.accepted and c.accepted
    assert len({a.venue_order_id, b.venue_order_id, c.venue_order_id}) == 3
    assert all(len(x.venue_order_id or "") == 7 for x in (a, b, c))
    assert broker.drain_events() == []

    h.bar({SAMSUNG: (70_100, 70_200, 69_900, 70_000, 1_000), HYNIX: flat(201_000)})
    events = broker.drain_events()
    fills = [e for e in events if isinstance(e, Fill)]
    assert {(f.client_order_id, f.qty, f.price) for f in fills} == {
        ("buy-1", 10, 70_000),
        ("buy-2", 5, 70_100),
        ("sell-1", 8, 201_000),
    }
    sell = next(f for f in fills if f.client_order_id == "sell-1")
    assert sell.tax > 0 and sell.commission > 0
    assert all(f.ts == OPEN for f in fills)
    assert broker.drain_events() == []  # nothing twice

    for coid, qty in (("buy-1", 10), ("buy-2", 5), ("sell-1", 8)):
        o = broker.order(coid)
        assert o is not None and o.status is OrderStatus.FILLED and o.filled_qty == qty
    assert broker.open_orders() == []
    books = assert_books(h, broker)
    assert sorted(f.fill_id for f in books) == sorted(f.fill_id for f in fills)
    assert broker.balance().holdings == {SAMSUNG: 15, HYNIX: 12}
    assert h.fake.continued > 0  # lists came back in pages (cont-yn / next-key)


def test_duplicate_client_id_is_answered_not_resent(h: Harness) -> None:
    broker = h.broker()
    first = broker.submit(req("dup", BUY, 3, 70_000))
    again = broker.submit(req("dup", BUY, 99, 60_000))  # whatever the second request says
    assert again.duplicate and again.accepted and again.venue_order_id == first.venue_order_id
    assert venue_order_count(h) == 1
    refused = broker.submit(req("poor", BUY, 10_000, 70_000))
    assert not refused.accepted and refused.code == "INSUFFICIENT_CASH"
    requests_before = h.fake.requests.get("kt10000", 0)
    again = broker.submit(req("poor", BUY, 1, 70_000))
    assert again.duplicate and not again.accepted and again.code == "INSUFFICIENT_CASH"
    assert h.fake.requests.get("kt10000", 0) == requests_before
    assert venue_order_count(h) == 1


def test_rejections_carry_codes(h: Harness) -> None:
    broker = h.broker()
    cases = {
        "cash": (req("cash", BUY, 1_000, 70_000), "INSUFFICIENT_CASH"),
        "short": (req("short", SELL, 5, 70_000), "INSUFFICIENT_HOLDINGS"),
        "tick": (req("tick", BUY, 1, 70_050), "OFF_TICK"),
        "band": (req("band", BUY, 1, 95_000), "OUTSIDE_PRICE_LIMIT"),
        "symbol": (req("symbol", BUY, 1, 10_000, symbol="999999"), "UNKNOWN_SYMBOL"),
        "qty": (req("qty", BUY, 0, 70_000), "INVALID_QTY"),
        "price": (OrderRequest("price", SAMSUNG, BUY, LIMIT, 1, None), "INVALID_PRICE"),
    }
    for coid, (request, code) in cases.items():
        ack = broker.submit(request)
        assert not ack.accepted and ack.code == code, (coid, ack)
        assert ack.venue_order_id is None
        o = broker.order(coid)
        assert o is not None and o.status is OrderStatus.REJECTED and o.reason.startswith(code)
    assert venue_order_count(h) == 0
    assert broker.open_orders() == []
    assert broker.balance().cash == INITIAL_CASH
    assert_books(h, broker)


def test_partial_fills_modify_and_cancel(h: Harness) -> None:
    broker = h.broker()
    ack = broker.submit(req("part", BUY, 100, 70_000))
    assert ack.accepted
    h.bar({SAMSUNG: (70_000, 70_100, 69_900, 70_000, 30)})  # only 30 shares trade
    first = broker.drain_events()
    assert [(f.client_order_id, f.qty) for f in first if isinstance(f, Fill)] == [("part", 30)]
    o = broker.order("part")
    assert o is not None and o.status is OrderStatus.PARTIALLY_FILLED and o.filled_qty == 30
    assert [x.client_order_id for x in broker.open_orders()] == ["part"]

    grow = broker.replace("part", 120, None)  # KRX cannot raise an order's qty
    assert not grow.accepted and grow.code == "INVALID_QTY"
    too_low = broker.replace("part", 30, None)
    assert not too_low.accepted and too_low.code == "INVALID_QTY"

    moved = broker.replace("part", 80, 69_800)  # cancel 20, then move 50 to 69,800
    assert moved.accepted and moved.venue_order_id != ack.venue_order_id
    o = broker.order("part")
    assert o is not None
    assert (o.qty, o.filled_qty, o.limit_price, o.venue_order_id) == (
        80,
        30,
        69_800,
        moved.venue_order_id,
    )
    h.bar({SAMSUNG: (69_900, 70_000, 69_900, 69_900, 1_000)})  # low 69,900: no fill at 69,800
    assert broker.drain_events() == []
    h.bar({SAMSUNG: (69_900, 69_900, 69_700, 69_800, 20)})
    fills = [e for e in broker.drain_events() if isinstance(e, Fill)]
    assert [(f.client_order_id, f.qty, f.price) for f in fills] == [("part", 20, 69_800)]

    same_price = broker.replace("part", 70, None)  # lower qty only: a partial cancel
    assert same_price.accepted and same_price.venue_order_id == moved.venue_order_id
    o = broker.order("part")
    assert o is not None and (o.qty, o.filled_qty) == (70, 50)

    cancelled = broker.cancel("part")
    assert cancelled.accepted
    events = broker.drain_events()
    assert [(type(e).__name__, e.client_order_id) for e in events] == [("OrderUpdate", "part")]
    assert isinstance(events[0], OrderUpdate) and events[0].status is OrderStatus.CANCELED
    o = broker.order("part")
    assert o is not None and o.status is OrderStatus.CANCELED and o.filled_qty == 50
    again = broker.cancel("part")
    assert not again.accepted and again.code == "UNKNOWN_ORDER"
    assert broker.open_orders() == []
    books = assert_books(h, broker)
    assert sum(f.qty for f in books if f.client_order_id == "part") == 50
    assert broker.balance().holdings[SAMSUNG] == 50


def test_fill_and_cancel_in_the_same_poll_come_in_venue_order(h: Harness) -> None:
    broker = h.broker()
    broker.submit(req("race", BUY, 10, 70_000))
    h.bar({SAMSUNG: (70_000, 70_000, 70_000, 70_000, 4)})
    assert broker.cancel("race").accepted
    events = broker.drain_events()
    assert [type(e).__name__ for e in events] == ["Fill", "OrderUpdate"]
    fill, update = events
    assert isinstance(fill, Fill) and fill.qty == 4
    assert isinstance(update, OrderUpdate) and update.status is OrderStatus.CANCELED
    assert_books(h, broker)


def test_unfilled_orders_expire_at_the_close(h: Harness) -> None:
    broker = h.broker()
    broker.submit(req("late", BUY, 5, 60_000))
    h.bar({SAMSUNG: flat(70_000)})
    h.venue.advance_time(OPEN.replace(hour=15, minute=31))
    events = broker.drain_events() + broker.drain_events()  # gone twice in a row: expired
    assert [(e.client_order_id, e.status) for e in events if isinstance(e, OrderUpdate)] == [
        ("late", OrderStatus.EXPIRED)
    ]
    o = broker.order("late")
    assert o is not None and o.status is OrderStatus.EXPIRED and o.filled_qty == 0
    closed = broker.submit(req("after-close", BUY, 1, 70_000))
    assert not closed.accepted and closed.code == "MARKET_CLOSED"
    assert broker.balance().cash == INITIAL_CASH
    assert_books(h, broker)


def test_background_poller_delivers_fills(h: Harness) -> None:
    broker = h.broker(poll_interval_s=0.02)
    broker.submit(req("bg", BUY, 7))
    h.bar({SAMSUNG: flat(70_500)})
    broker.sync()
    events = broker.drain_events()
    assert [(e.client_order_id, e.qty) for e in events if isinstance(e, Fill)] == [("bg", 7)]
    broker.sync()
    assert broker.drain_events() == []
    assert broker.consecutive_failures == 0
    assert_books(h, broker)
    assert broker.balance().holdings[SAMSUNG] == 7


def test_fees_are_the_venues_to_the_won(h: Harness) -> None:
    """Polled fill by fill, each fill carries the venue's fees exactly; fills found together
    share their order's fees, and every order's total is exact to the won."""
    broker = h.broker()
    broker.submit(req("fee-b", BUY, 37, 70_000))
    drained: list[Fill] = []
    for volume in (10, 13, 100):
        h.bar({SAMSUNG: (70_000, 70_000, 70_000, 70_000, volume)})
        drained += [e for e in broker.drain_events() if isinstance(e, Fill)]
    venue = {(f.cntr_no, f.qty, f.commission, f.tax) for f in h.venue.executions()}
    mine = {(f.fill_id.rsplit("-", 1)[1], f.qty, f.commission, f.tax) for f in drained}
    assert mine == venue and len(drained) == 3

    broker.submit(req("fee-s", SELL, 37, 70_100))
    for _ in range(3):
        h.bar({SAMSUNG: (70_100, 70_100, 70_100, 70_100, 15)})
    batch = [e for e in broker.drain_events() if isinstance(e, Fill)]
    assert [f.qty for f in batch] == [15, 15, 7]
    sells = [f for f in h.venue.executions() if f.side is SELL]
    assert sum(f.commission for f in batch) == sum(f.commission for f in sells)
    assert sum(f.tax for f in batch) == sum(f.tax for f in sells)
    assert_books(h, broker)
    assert broker.balance().holdings == {HYNIX: 20}
    assert h.clock.now() == OPEN + timedelta(minutes=6)


def test_fills_wait_for_their_fees_and_come_before_the_cancel(h: Harness) -> None:
    """ka10076 (fees per order) lags kt00009 (executions) for two polls: the fills wait, the
    cancel waits behind them, and the fees come out exact once the totals catch up."""
    real = h.fake._handlers["ka10076"]
    stale = {"left": 2}

    def lagging(api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if stale["left"] > 0:
            stale["left"] -= 1
            return {"cntr": []}
        return real(api_id, body)

    h.fake._handlers["ka10076"] = lagging
    broker = h.broker()
    broker.submit(req("lag", BUY, 10, 70_000))
    h.bar({SAMSUNG: (70_000, 70_000, 70_000, 70_000, 6)})
    assert broker.cancel("lag").accepted
    assert broker.drain_events() == []  # fees unknown: the fill (and the cancel) wait
    assert broker.drain_events() == []
    events = broker.drain_events()
    assert [type(e).__name__ for e in events] == ["Fill", "OrderUpdate"]
    fill = events[0]
    assert isinstance(fill, Fill) and fill.qty == 6
    (venue_fill,) = h.venue.executions()
    assert (fill.commission, fill.tax) == (venue_fill.commission, venue_fill.tax)
    assert_books(h, broker)
