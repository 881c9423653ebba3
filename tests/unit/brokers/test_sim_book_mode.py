"""The simulated exchange in book mode: fills at once against quotes, resting orders and prints,
cancel/expiry, and bar mode untouched for symbols without quotes."""

from __future__ import annotations

from datetime import timedelta

from sim_kit import D1, HYNIX, INSTRUMENTS, SAMSUNG, UNIVERSE, at, frame

from qts.brokers.base import OrderRequest, OrderUpdate
from qts.brokers.sim import SimBroker, SimConfig
from qts.brokers.sim.bar_quotes import BarBook, bar_path
from qts.core.clock import SimulatedClock
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def broker() -> tuple[SimBroker, SimulatedClock]:
    clock = SimulatedClock(at(D1, 10))
    b = SimBroker(
        INSTRUMENTS,
        clock,
        initial_cash=100_000_000,
        config=SimConfig(latency=timedelta(milliseconds=20)),
        reference_prices={SAMSUNG: 75_000, HYNIX: 200_000},
    )
    b.on_quotes(SAMSUNG, [(75_000, 100), (74_900, 200)], [(75_100, 50), (75_200, 300)])
    return b, clock


def test_market_buy_fills_at_once_across_levels() -> None:
    b, clock = broker()
    ack = b.submit(OrderRequest("m1", SAMSUNG, BUY, OrderType.MARKET, 120))
    assert ack.accepted
    fills = [e for e in b.drain_events() if isinstance(e, Fill)]
    assert [(f.qty, f.price) for f in fills] == [(50, 75_100), (70, 75_200)]
    assert fills[0].ts == clock.now() + timedelta(milliseconds=20)
    assert b.order("m1").status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert b.depth(SAMSUNG, 1) == ([(75_000, 100)], [(75_200, 230)])


def test_marketable_limit_takes_up_to_its_price_and_rests_the_rest() -> None:
    b, _ = broker()
    b.submit(OrderRequest("l1", SAMSUNG, BUY, OrderType.LIMIT, 80, 75_100))
    fills = [e for e in b.drain_events() if isinstance(e, Fill)]
    assert [(f.qty, f.price) for f in fills] == [(50, 75_100)]
    view = b.order("l1")
    assert view is not None and view.status is OrderStatus.PARTIALLY_FILLED
    bids, _ = b.depth(SAMSUNG, 1)  # type: ignore[misc]
    assert bids == [(75_100, 30)]  # our rest is now the best bid


def test_resting_limit_fills_by_queue_then_cancel_frees_it() -> None:
    b, _ = broker()
    b.submit(OrderRequest("r1", SAMSUNG, BUY, OrderType.LIMIT, 40, 75_000))
    assert b.drain_events() == []
    b.on_print(SAMSUNG, 75_000, 110)  # 100 were ahead: 10 for us
    fills = [e for e in b.drain_events() if isinstance(e, Fill)]
    assert [(f.qty, f.price) for f in fills] == [(10, 75_000)]
    assert b.cancel("r1").accepted
    (update,) = b.drain_events()
    assert isinstance(update, OrderUpdate) and update.status is OrderStatus.CANCELED
    assert b.depth(SAMSUNG, 1)[0] == [(74_900, 200)]  # type: ignore[index]
    b.on_print(SAMSUNG, 74_000, 1)
    assert b.drain_events() == []  # a cancelled order never fills


def test_a_crossing_snapshot_fills_a_resting_order() -> None:
    b, _ = broker()
    b.submit(OrderRequest("r1", SAMSUNG, BUY, OrderType.LIMIT, 40, 75_000))
    b.on_quotes(SAMSUNG, [(74_800, 10)], [(74_900, 25), (75_000, 100)])
    fills = [e for e in b.drain_events() if isinstance(e, Fill)]
    assert [(f.qty, f.price) for f in fills] == [(25, 74_900), (15, 75_000)]


def test_sell_needs_holdings_and_book_is_per_symbol() -> None:
    b, _ = broker()
    ack = b.submit(OrderRequest("s1", SAMSUNG, SELL, OrderType.MARKET, 5))
    assert not ack.accepted and ack.code == "INSUFFICIENT_HOLDINGS"
    # HYNIX has no quotes: bar mode, nothing fills before a bar
    assert b.submit(OrderRequest("h1", HYNIX, BUY, OrderType.MARKET, 5)).accepted
    assert b.drain_events() == []
    assert b.depth(HYNIX) is None


def test_day_orders_in_the_book_expire_at_the_close() -> None:
    b, clock = broker()
    b.submit(OrderRequest("r1", SAMSUNG, BUY, OrderType.LIMIT, 40, 74_000))
    clock.advance_to(at(D1, 15, 30))
    b.on_print(SAMSUNG, 75_000, 1)
    events = b.drain_events()
    assert [type(e) for e in events] == [OrderUpdate]
    assert b.order("r1").status is OrderStatus.EXPIRED  # type: ignore[union-attr]
    assert b.depth(SAMSUNG, 5)[0][0] == (75_000, 100)  # type: ignore[index]


def test_bar_book_prints_the_path_then_quotes_around_the_close() -> None:
    b, clock = broker()
    feed = BarBook(b, INSTRUMENTS)
    b.submit(OrderRequest("r1", SAMSUNG, BUY, OrderType.LIMIT, 40, 74_500))
    start = at(D1, 10, 1)
    clock.advance_to(start + timedelta(minutes=1))
    feed.on_frame(
        frame(start, {SAMSUNG: (75_000, 75_200, 74_400, 74_600, 4_000)}, universe=UNIVERSE)
    )
    fills = [e for e in b.drain_events() if isinstance(e, Fill)]
    assert [(f.qty, f.price) for f in fills] == [(40, 74_500)]  # the low traded through
    assert b.depth(SAMSUNG, 1) == ([(74_600, 800)], [(74_700, 800)])
    assert bar_path(1, 3, 0, 2) == (1, 0, 3, 2) and bar_path(2, 3, 0, 1) == (2, 3, 0, 1)
