"""The simulated limit order book: taking depth, queue position, prints, price-time priority."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qts.brokers.sim.book import BookFill, OrderBook
from qts.brokers.sim.quotes import synthetic_depth
from qts.model.enums import OrderSide

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def book() -> OrderBook:
    b = OrderBook("005930")
    b.set_quotes([(75_000, 100), (74_900, 200)], [(75_100, 50), (75_200, 300)])
    return b


def test_market_buy_takes_the_asks_best_first() -> None:
    b = book()
    assert b.take(BUY, 120, None) == [(75_100, 50), (75_200, 70)]
    assert b.asks == {75_200: 230}
    assert b.best_ask() == 75_200


def test_marketable_limit_stops_at_its_price() -> None:
    b = book()
    assert b.take(SELL, 500, 74_950) == [(75_000, 100)]
    assert b.bids == {74_900: 200}


def test_resting_order_queues_behind_the_displayed_quantity() -> None:
    b = book()
    r = b.rest("o1", BUY, 75_000, 30)
    assert r.queue_ahead == 100
    assert b.on_print(75_000, 80) == []
    assert b.resting("o1") is not None and b.resting("o1").queue_ahead == 20  # type: ignore[union-attr]
    assert b.on_print(75_000, 40) == [BookFill("o1", 20, 75_000)]
    assert b.on_print(75_000, 40) == [BookFill("o1", 10, 75_000)]
    assert b.resting("o1") is None


def test_print_through_the_level_fills_everything_at_the_limit() -> None:
    b = book()
    b.rest("o1", BUY, 75_000, 30)
    assert b.on_print(74_900, 1) == [BookFill("o1", 30, 75_000)]


def test_price_time_priority_among_our_orders() -> None:
    b = OrderBook("X")
    b.set_quotes([(10_000, 5)], [(10_050, 5)])
    b.rest("late_better", SELL, 10_050, 10)
    b.rest("first", SELL, 10_050, 10)
    b.rest("worse", SELL, 10_100, 10)
    fills = b.on_print(10_050, 18)
    # 5 market shares were ahead; then time priority at the level
    assert fills == [BookFill("late_better", 10, 10_050), BookFill("first", 3, 10_050)]
    fills = b.on_print(10_150, 1)  # through both remaining levels: better price first
    assert fills == [BookFill("first", 7, 10_050), BookFill("worse", 10, 10_100)]


def test_quotes_only_improve_the_queue_position() -> None:
    b = book()
    r = b.rest("o1", BUY, 75_000, 30)
    b.set_quotes([(75_000, 40)], [(75_100, 50)])
    assert r.queue_ahead == 40
    b.set_quotes([(75_000, 400)], [(75_100, 50)])
    assert r.queue_ahead == 40


def test_depth_shows_our_resting_orders() -> None:
    b = book()
    b.rest("o1", BUY, 75_000, 30)
    bids, asks = b.depth(2)
    assert bids == [(75_000, 130), (74_900, 200)]
    assert asks == [(75_100, 50), (75_200, 300)]


def test_synthetic_depth_is_on_the_grid_and_one_tick_wide() -> None:
    bids, asks = synthetic_depth(50_000, 10)
    assert bids[0] == (50_000, 10) and asks[0] == (50_100, 10)
    assert bids[1][0] == 49_950  # below 50,000 the tick is 50
    assert len(bids) == len(asks) == 10


@given(
    st.lists(st.tuples(st.integers(1, 5), st.integers(1, 50)), min_size=1, max_size=8),
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 60)), max_size=20),
)
def test_prints_never_overfill_and_keep_time_priority(
    orders: list[tuple[int, int]], prints: list[tuple[int, int]]
) -> None:
    b = OrderBook("X")
    b.set_quotes([(1_000 + k, 10) for k in range(6)], [])
    size = {}
    for i, (lvl, qty) in enumerate(orders):
        b.rest(f"o{i}", BUY, 1_000 + lvl, qty)
        size[f"o{i}"] = qty
    filled = dict.fromkeys(size, 0)
    for lvl, vol in prints:
        for f in b.on_print(1_000 + lvl, vol):
            filled[f.order_id] += f.qty
            assert f.qty > 0
    for oid, qty in size.items():
        assert 0 <= filled[oid] <= qty
        r = b.resting(oid)
        assert (r.qty if r else 0) == qty - filled[oid]
    # at one price, a later order never has more filled while an earlier one is still open
    for i in range(len(orders)):
        for j in range(i + 1, len(orders)):
            if orders[i][0] == orders[j][0] and b.resting(f"o{i}") is not None:
                assert filled[f"o{j}"] == 0
