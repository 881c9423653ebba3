"""The matching engine: fill prices, priority, volume caps, latency, limits, expiry, rejections."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sim_kit import (
    D1,
    D2,
    D3,
    D4,
    HYNIX,
    INSTRUMENTS,
    KAKAO,
    KODEX,
    SAMSUNG,
    SYMBOLS,
    UNIVERSE,
    at,
    day_frame,
    flat,
    frame,
)

from qts.brokers.base import Ack, OrderRequest, OrderUpdate
from qts.brokers.sim import RejectCode, SimAccount, SimConfig, SimExchange
from qts.market.krx.fees import NoFees
from qts.market.krx.tick_size import is_on_tick
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill
from qts.model.frame import Universe

BUY, SELL = OrderSide.BUY, OrderSide.SELL
REF = {SAMSUNG: 70_000, HYNIX: 200_000, KAKAO: 50_000, KODEX: 35_000}


def exchange(config: SimConfig | None = None, account: SimAccount | None = None) -> SimExchange:
    return SimExchange(INSTRUMENTS, config, account=account, fees=NoFees(), reference_prices=REF)


def limit(cid: str, side: OrderSide, qty: int, price: int, symbol: str = SAMSUNG) -> OrderRequest:
    return OrderRequest(cid, symbol, side, OrderType.LIMIT, qty, price)


def market(cid: str, side: OrderSide, qty: int, symbol: str = SAMSUNG) -> OrderRequest:
    return OrderRequest(cid, symbol, side, OrderType.MARKET, qty)


def fills_of(events: list[Fill | OrderUpdate]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def updates_of(events: list[Fill | OrderUpdate]) -> list[OrderUpdate]:
    return [e for e in events if isinstance(e, OrderUpdate)]


# ---------------------------------------------------------------- fill prices


def test_market_order_fills_at_the_next_bar_open() -> None:
    ex = exchange()
    ack = ex.submit(market("m1", BUY, 10), at(D1, 9, 0, 30))
    assert ack.accepted and ack.venue_order_id == "S0000000001"
    # this bar started before the order arrived
    assert ex.on_frame(frame(at(D1, 9), {SAMSUNG: (70_000, 70_500, 69_800, 70_200, 5_000)})) == []
    events = ex.on_frame(frame(at(D1, 9, 1), {SAMSUNG: (70_300, 70_900, 70_100, 70_800, 5_000)}))
    [fill] = fills_of(events)
    assert (fill.price, fill.qty, fill.ts, fill.fill_id) == (
        70_300,
        10,
        at(D1, 9, 1),
        "F0000000001",
    )
    assert ex.order("m1") is not None and ex.order("m1").status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert ex.open_orders() == []


@pytest.mark.parametrize(
    ("side", "limit_price", "bar", "expected"),
    [
        # buy: open at or below the limit -> the open
        (BUY, 70_000, (69_500, 70_500, 69_000, 70_000, 1_000), 69_500),
        (BUY, 70_000, (70_000, 70_500, 69_000, 70_000, 1_000), 70_000),
        # buy: open above, low reaches the limit -> the limit
        (BUY, 70_000, (70_500, 71_000, 70_000, 70_800, 1_000), 70_000),
        (BUY, 70_000, (70_500, 71_000, 69_000, 70_800, 1_000), 70_000),
        # buy: the bar never trades at or below the limit -> nothing
        (BUY, 70_000, (70_500, 71_000, 70_100, 70_800, 1_000), None),
        # sells mirror it
        (SELL, 70_000, (70_500, 71_000, 69_000, 70_000, 1_000), 70_500),
        (SELL, 70_000, (69_500, 70_200, 69_000, 70_000, 1_000), 70_000),
        (SELL, 70_000, (69_500, 69_900, 69_000, 69_800, 1_000), None),
    ],
)
def test_limit_fill_price(
    side: OrderSide, limit_price: int, bar: tuple[int, int, int, int, int], expected: int | None
) -> None:
    ex = exchange()
    assert ex.submit(limit("l1", side, 5, limit_price), at(D1, 8, 50)).accepted
    fills = fills_of(ex.on_frame(frame(at(D1, 9), {SAMSUNG: bar})))
    if expected is None:
        assert fills == []
        assert ex.order("l1").status is OrderStatus.SUBMITTED  # type: ignore[union-attr]
    else:
        assert [(f.price, f.qty, f.side) for f in fills] == [(expected, 5, side)]


def test_resting_limit_fills_in_a_later_bar_at_the_gap_open() -> None:
    ex = exchange()
    ex.submit(limit("l1", BUY, 5, 70_000), at(D1, 8, 50))
    assert ex.on_frame(frame(at(D1, 9), {SAMSUNG: (70_500, 70_600, 70_100, 70_200, 100)})) == []
    [fill] = fills_of(
        ex.on_frame(frame(at(D1, 9, 1), {SAMSUNG: (69_800, 69_900, 69_500, 69_600, 100)}))
    )
    assert fill.price == 69_800


def test_no_fill_without_a_bar_or_without_volume() -> None:
    ex = exchange()
    ex.submit(market("m1", BUY, 5), at(D1, 8, 50))
    assert ex.on_frame(frame(at(D1, 9), {HYNIX: flat(200_000)})) == []  # SAMSUNG inactive
    assert ex.on_frame(frame(at(D1, 9, 1), {SAMSUNG: (70_000, 70_000, 70_000, 70_000, 0)})) == []
    assert len(fills_of(ex.on_frame(frame(at(D1, 9, 2), {SAMSUNG: flat(70_100)})))) == 1


def test_off_grid_open_is_moved_onto_the_grid_against_the_trader() -> None:
    ex = exchange()
    ex.submit(market("b", BUY, 1), at(D1, 8, 50))
    ex.submit(market("s", SELL, 1, HYNIX), at(D1, 8, 50))
    events = ex.on_frame(
        frame(
            at(D1, 9),
            {
                SAMSUNG: (70_050, 70_300, 69_900, 70_000, 10),
                HYNIX: (200_200, 201_000, 199_000, 200_000, 10),
            },
        )
    )
    prices = {f.symbol: f.price for f in fills_of(events)}
    assert prices == {SAMSUNG: 70_100, HYNIX: 200_000}


def test_etf_uses_the_five_won_tick() -> None:
    ex = exchange()
    assert ex.submit(limit("e1", BUY, 1, 35_005, KODEX), at(D1, 8, 50)).accepted
    ack = ex.submit(limit("e2", BUY, 1, 35_003, KODEX), at(D1, 8, 50))
    assert (ack.accepted, ack.code) == (False, RejectCode.OFF_TICK)


# ---------------------------------------------------------------- priority and volume


def test_price_time_priority_shares_the_volume_cap() -> None:
    ex = exchange()
    t = at(D1, 8, 50)
    ex.submit(limit("a", BUY, 10, 70_000), t)  # worse price, first
    ex.submit(limit("b", BUY, 10, 70_100), t + timedelta(seconds=1))  # best price
    ex.submit(limit("c", BUY, 10, 70_100), t + timedelta(seconds=2))  # best price, later
    events = ex.on_frame(frame(at(D1, 9), {SAMSUNG: (70_000, 70_200, 69_900, 70_000, 25)}))
    assert [(f.client_order_id, f.qty, f.price) for f in fills_of(events)] == [
        ("b", 10, 70_000),
        ("c", 10, 70_000),
        ("a", 5, 70_000),
    ]
    assert ex.order("a").status is OrderStatus.PARTIALLY_FILLED  # type: ignore[union-attr]
    # the rest of "a" fills in the next bar
    [rest] = fills_of(ex.on_frame(frame(at(D1, 9, 1), {SAMSUNG: flat(69_900, 100)})))
    assert (rest.client_order_id, rest.qty, rest.price) == ("a", 5, 69_900)


def test_market_orders_go_before_limit_orders() -> None:
    ex = exchange()
    t = at(D1, 8, 50)
    ex.submit(limit("l", BUY, 10, 71_000), t)
    ex.submit(market("m", BUY, 10), t + timedelta(seconds=1))
    events = ex.on_frame(frame(at(D1, 9), {SAMSUNG: (70_000, 70_000, 70_000, 70_000, 12)}))
    assert [(f.client_order_id, f.qty) for f in fills_of(events)] == [("m", 10), ("l", 2)]


def test_sell_priority_is_lowest_price_first() -> None:
    ex = exchange()
    t = at(D1, 8, 50)
    ex.submit(limit("s1", SELL, 10, 70_200), t)
    ex.submit(limit("s2", SELL, 10, 70_100), t + timedelta(seconds=1))
    events = ex.on_frame(frame(at(D1, 9), {SAMSUNG: (70_300, 70_300, 70_000, 70_100, 15)}))
    assert [(f.client_order_id, f.qty) for f in fills_of(events)] == [("s2", 10), ("s1", 5)]


def test_partial_fills_across_bars_with_participation() -> None:
    ex = exchange(SimConfig(participation=0.1))
    ex.submit(market("m", BUY, 30), at(D1, 8, 50))
    got = []
    for k in range(4):
        events = ex.on_frame(frame(at(D1, 9, k), {SAMSUNG: flat(70_000 + 100 * k, 109)}))
        got += [(f.qty, f.price) for f in fills_of(events)]
        if k == 0:
            assert ex.order("m").status is OrderStatus.PARTIALLY_FILLED  # type: ignore[union-attr]
    assert got == [(10, 70_000), (10, 70_100), (10, 70_200)]
    assert ex.order("m").status is OrderStatus.FILLED  # type: ignore[union-attr]


def test_participation_is_exact() -> None:
    """0.29 × 100 is 29 shares, not 28 (0.29 * 100 == 28.999… in floating point)."""
    ex = exchange(SimConfig(participation=0.29))
    ex.submit(market("m", BUY, 50), at(D1, 8, 50))
    [fill] = fills_of(ex.on_frame(frame(at(D1, 9), {SAMSUNG: flat(70_000, 100)})))
    assert fill.qty == 29


# ---------------------------------------------------------------- latency


def test_latency_keeps_an_order_out_of_a_bar_that_starts_before_it_arrives() -> None:
    ex = exchange(SimConfig(latency=timedelta(milliseconds=200)))
    bar_start = at(D1, 10)
    ex.submit(market("m", BUY, 1), bar_start - timedelta(milliseconds=100))
    one_second = timedelta(seconds=1)
    assert ex.on_frame(frame(bar_start, {SAMSUNG: flat(70_000)}, one_second)) == []
    [fill] = fills_of(
        ex.on_frame(frame(bar_start + one_second, {SAMSUNG: flat(70_100)}, one_second))
    )
    assert (fill.price, fill.ts) == (70_100, bar_start + one_second)


def test_without_latency_the_same_order_makes_that_bar() -> None:
    ex = exchange(SimConfig(latency=timedelta(milliseconds=50)))
    bar_start = at(D1, 10)
    ex.submit(market("m", BUY, 1), bar_start - timedelta(milliseconds=100))
    assert len(fills_of(ex.on_frame(frame(bar_start, {SAMSUNG: flat(70_000)})))) == 1


# ---------------------------------------------------------------- limits


def test_base_price_is_the_previous_days_last_close() -> None:
    ex = SimExchange(INSTRUMENTS, fees=NoFees())
    ex.on_frame(frame(at(D1, 15, 28), {SAMSUNG: flat(10_050)}))
    ex.on_frame(frame(at(D1, 15, 29), {HYNIX: flat(200_000)}))  # SAMSUNG silent in the last bar
    assert ex.price_limits(SAMSUNG, D2) is not None
    ex.on_frame(frame(at(D2, 9), {SAMSUNG: flat(10_500)}))
    limits = ex.price_limits(SAMSUNG, D2)
    assert limits is not None and (limits.base, limits.lower, limits.upper) == (
        10_050,
        7_040,
        13_060,
    )
    # during D2 the band stays on D1's close, whatever D2 trades at
    ex.on_frame(frame(at(D2, 9, 1), {SAMSUNG: flat(12_000)}))
    assert ex.price_limits(SAMSUNG, D2).base == 10_050  # type: ignore[union-attr]
    # an order for D3 (sent after D2's close) is checked against D2's last close
    assert ex.price_limits(SAMSUNG, D3).base == 12_000  # type: ignore[union-attr]


def test_limit_price_outside_the_band_is_rejected() -> None:
    ex = exchange()  # base 70,000 -> 49,000..91,000
    ok = ex.submit(limit("in", BUY, 1, 91_000), at(D1, 9))
    bad = ex.submit(limit("out", BUY, 1, 91_100), at(D1, 9))
    assert ok.accepted
    assert (bad.accepted, bad.code) == (False, RejectCode.OUTSIDE_PRICE_LIMIT)
    assert "49000..91000" in bad.reason
    low = ex.submit(limit("low", SELL, 1, 48_900), at(D1, 9))
    assert low.code == RejectCode.OUTSIDE_PRICE_LIMIT


def test_market_fill_is_clipped_into_the_band() -> None:
    ex = exchange()  # SAMSUNG band 49,000..91,000
    ex.submit(market("m", BUY, 1), at(D1, 8, 50))
    # a bar that opened above the upper limit (bad data or a stale base) but traded inside it
    [fill] = fills_of(
        ex.on_frame(frame(at(D1, 9), {SAMSUNG: (92_000, 92_000, 90_000, 91_000, 10)}))
    )
    assert fill.price == 91_000


def test_a_bar_entirely_outside_the_band_is_trusted() -> None:
    """A base reset (split) the venue does not know about: the bar wins over a stale band."""
    ex = exchange()
    ex.submit(market("m", BUY, 1), at(D1, 8, 50))
    [fill] = fills_of(
        ex.on_frame(frame(at(D1, 9), {SAMSUNG: (14_000, 14_100, 13_900, 14_000, 10)}))
    )
    assert fill.price == 14_000


def test_price_limits_can_be_switched_off() -> None:
    ex = exchange(SimConfig(price_limits=False))
    assert ex.submit(limit("far", BUY, 1, 200_000), at(D1, 9)).accepted


def test_reserved_order_is_checked_against_the_next_days_band() -> None:
    ex = SimExchange(INSTRUMENTS, fees=NoFees(), reference_prices={SAMSUNG: 70_000})
    ex.on_frame(day_frame(D1, {SAMSUNG: flat(60_000)}))
    # after D1's close the check uses D1's close: 60,000 -> 42,000..78,000
    assert ex.submit(limit("in", BUY, 1, 78_000), at(D1, 16)).accepted
    out = ex.submit(limit("out", BUY, 1, 78_500), at(D1, 16))
    assert out.code == RejectCode.OUTSIDE_PRICE_LIMIT
    sim = ex.sim_order("in")
    assert sim is not None and sim.day == D2


def test_order_is_rechecked_against_its_days_band_on_arrival() -> None:
    """A late bar moves the base after the order was checked: the venue rejects it on arrival."""
    ex = SimExchange(INSTRUMENTS, fees=NoFees())
    ex.on_frame(frame(at(D1, 15, 28), {SAMSUNG: flat(70_000)}))
    assert ex.submit(limit("r", BUY, 1, 90_000), at(D1, 15, 35)).accepted  # band 49,000..91,000
    ex.on_frame(frame(at(D1, 15, 29), {SAMSUNG: flat(60_000)}))  # the last bar, late
    events = ex.on_frame(frame(at(D2, 9), {SAMSUNG: flat(61_000)}))  # band 42,000..78,000
    [update] = updates_of(events)
    assert (update.client_order_id, update.status, update.ts) == (
        "r",
        OrderStatus.REJECTED,
        at(D2, 9),
    )
    assert update.reason.startswith(RejectCode.OUTSIDE_PRICE_LIMIT)
    assert ex.open_orders() == []


# ---------------------------------------------------------------- expiry and reservation


def test_day_order_expires_at_the_session_close() -> None:
    ex = exchange()
    ex.submit(limit("l", BUY, 5, 60_000), at(D1, 10))
    ex.on_frame(frame(at(D1, 10, 1), {SAMSUNG: flat(70_000)}))
    assert ex.advance(at(D1, 15, 29)) == []
    [update] = ex.advance(at(D1, 15, 30))
    assert update == OrderUpdate(
        "l", OrderStatus.EXPIRED, at(D1, 15, 30), "day order expired at the session close"
    )
    assert ex.open_orders() == []
    assert ex.drain_events() == [update]


def test_expiry_also_happens_on_the_next_days_first_frame() -> None:
    ex = exchange()
    ex.submit(limit("l", BUY, 5, 60_000), at(D1, 10))
    events = ex.on_frame(frame(at(D2, 9), {SAMSUNG: flat(59_000)}))
    assert [(type(e).__name__, e.client_order_id) for e in events] == [("OrderUpdate", "l")]
    [update] = updates_of(events)
    assert (update.status, update.ts) == (OrderStatus.EXPIRED, at(D1, 15, 30))


def test_order_after_the_close_is_reserved_for_the_next_session() -> None:
    ex = exchange()
    ex.on_frame(day_frame(D1, {SAMSUNG: flat(70_000)}))
    ex.submit(market("r", BUY, 3), at(D1, 18, 30))
    assert ex.advance(at(D1, 23, 59)) == []
    [fill] = fills_of(ex.on_frame(day_frame(D2, {SAMSUNG: (70_500, 71_000, 70_000, 70_800, 100)})))
    assert (fill.price, fill.ts) == (70_500, at(D2, 9))


def test_friday_evening_order_waits_for_monday() -> None:
    ex = exchange()
    ex.submit(limit("r", BUY, 3, 60_000), at(D3, 20))
    sim = ex.sim_order("r")
    assert sim is not None and (sim.day, sim.expires_at) == (D4, at(D4, 15, 30))
    assert ex.advance(at(D4, 9)) == []


def test_without_reservation_orders_outside_the_session_are_rejected() -> None:
    ex = exchange(SimConfig(allow_reservation=False))
    night = ex.submit(market("n", BUY, 1), at(D1, 20))
    assert (night.accepted, night.code) == (False, RejectCode.MARKET_CLOSED)
    assert ex.submit(market("d", BUY, 1), at(D1, 10)).accepted
    assert ex.submit(market("p", BUY, 1), at(D1, 8, 45)).accepted  # pre-open auction
    # after the close: the after-hours sessions take only their own order types
    for late in (at(D1, 15, 30), at(D1, 15, 45), at(D1, 16, 30)):
        refused = ex.submit(market(f"late{late:%H%M}", BUY, 1), late)
        assert (refused.accepted, refused.code) == (False, RejectCode.MARKET_CLOSED)


def test_order_late_in_the_day_may_not_roll_over() -> None:
    """A DAY order sent at 15:29:59 belongs to that day, even if no bar follows."""
    ex = exchange()
    ex.submit(market("late", BUY, 1), at(D1, 15, 29, 59))
    events = ex.on_frame(frame(at(D2, 9), {SAMSUNG: flat(70_000)}))
    assert [u.status for u in updates_of(events)] == [OrderStatus.EXPIRED]
    assert fills_of(events) == []


# ---------------------------------------------------------------- rejections, duplicates


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (OrderRequest("x", "999999", BUY, OrderType.MARKET, 1), RejectCode.UNKNOWN_SYMBOL),
        (OrderRequest("x", SAMSUNG, BUY, OrderType.MARKET, 0), RejectCode.INVALID_QTY),
        (OrderRequest("x", SAMSUNG, BUY, OrderType.MARKET, -5), RejectCode.INVALID_QTY),
        (OrderRequest("x", SAMSUNG, BUY, OrderType.LIMIT, 1), RejectCode.INVALID_PRICE),
        (OrderRequest("x", SAMSUNG, BUY, OrderType.LIMIT, 1, 0), RejectCode.INVALID_PRICE),
        (OrderRequest("x", SAMSUNG, BUY, OrderType.MARKET, 1, 70_000), RejectCode.INVALID_PRICE),
        (OrderRequest("x", SAMSUNG, BUY, OrderType.LIMIT, 1, 70_050), RejectCode.OFF_TICK),
        (
            OrderRequest("x", SAMSUNG, BUY, OrderType.LIMIT, 1, 95_000),
            RejectCode.OUTSIDE_PRICE_LIMIT,
        ),
        (
            OrderRequest("x", SAMSUNG, BUY, OrderType.LIMIT, 100, 70_000),
            RejectCode.INSUFFICIENT_CASH,
        ),
        (OrderRequest("x", SAMSUNG, SELL, OrderType.MARKET, 1), RejectCode.INSUFFICIENT_HOLDINGS),
        (
            OrderRequest("x", HYNIX, SELL, OrderType.LIMIT, 11, 200_000),
            RejectCode.INSUFFICIENT_HOLDINGS,
        ),
    ],
)
def test_rejection_codes(request_: OrderRequest, code: RejectCode) -> None:
    ex = exchange(account=SimAccount(1_000_000, {HYNIX: 10}))
    ack = ex.submit(request_, at(D1, 10))
    assert (ack.accepted, ack.code, ack.venue_order_id) == (False, code, None)
    assert ack.reason
    view = ex.order("x")
    assert view is not None and view.status is OrderStatus.REJECTED
    assert view.reason.startswith(code)
    assert ex.open_orders() == []


def test_market_buy_without_any_known_price_is_rejected() -> None:
    ex = SimExchange(INSTRUMENTS, account=SimAccount(10**9), fees=NoFees())
    ack = ex.submit(market("m", BUY, 1), at(D1, 10))
    assert ack.code == RejectCode.NO_REFERENCE_PRICE


def test_duplicate_client_order_id_returns_the_first_answer() -> None:
    ex = exchange()
    first = ex.submit(limit("dup", BUY, 1, 70_000), at(D1, 10))
    again = ex.submit(limit("dup", SELL, 99, 71_000), at(D1, 10, 1))
    assert again == Ack(first.client_order_id, True, first.venue_order_id, duplicate=True)
    assert len(ex.open_orders()) == 1
    bad = ex.submit(limit("bad", BUY, 1, 70_050), at(D1, 10))
    bad_again = ex.submit(limit("bad", BUY, 1, 70_000), at(D1, 10))
    assert (bad_again.accepted, bad_again.code, bad_again.duplicate) == (False, bad.code, True)
    assert len(ex.open_orders()) == 1


# ---------------------------------------------------------------- cancel / replace


def test_cancel() -> None:
    ex = exchange()
    ex.submit(limit("c", BUY, 5, 60_000), at(D1, 10))
    ack = ex.cancel("c", at(D1, 10, 5))
    assert (ack.accepted, ack.venue_order_id) == (True, "S0000000001")
    assert ex.order("c").status is OrderStatus.CANCELED  # type: ignore[union-attr]
    assert [u.status for u in updates_of(ex.drain_events())] == [OrderStatus.CANCELED]
    assert ex.on_frame(frame(at(D1, 10, 6), {SAMSUNG: flat(59_000)})) == []
    again = ex.cancel("c", at(D1, 10, 7))
    assert (again.accepted, again.code) == (False, RejectCode.UNKNOWN_ORDER)
    assert ex.cancel("nope", at(D1, 10, 7)).code == RejectCode.UNKNOWN_ORDER
    assert ex.replace("nope", 1, None, at(D1, 10, 7)).code == RejectCode.UNKNOWN_ORDER


def test_cancel_frees_the_cash_hold() -> None:
    account = SimAccount(1_000_000)
    ex = exchange(account=account)
    ex.submit(limit("c", BUY, 10, 70_000), at(D1, 10))
    assert account.free_cash == 300_000
    ex.cancel("c", at(D1, 10, 1))
    assert account.free_cash == 1_000_000


def _queue(ex: SimExchange) -> None:
    t = at(D1, 8, 50)
    ex.submit(limit("a", BUY, 10, 70_000), t)
    ex.submit(limit("b", BUY, 10, 70_000), t + timedelta(seconds=1))


def _order_of_fills(ex: SimExchange, minute: int = 0) -> list[tuple[str, int]]:
    events = ex.on_frame(frame(at(D1, 9, minute), {SAMSUNG: (70_000, 70_000, 70_000, 70_000, 12)}))
    return [(f.client_order_id, f.qty) for f in fills_of(events)]


def test_replace_reducing_qty_keeps_priority() -> None:
    ex = exchange()
    _queue(ex)
    assert ex.replace("a", 8, None, at(D1, 8, 55)).accepted
    assert _order_of_fills(ex) == [("a", 8), ("b", 4)]


def test_replace_increasing_qty_loses_priority() -> None:
    ex = exchange()
    _queue(ex)
    assert ex.replace("a", 12, None, at(D1, 8, 55)).accepted
    assert _order_of_fills(ex) == [("b", 10), ("a", 2)]


def test_replace_price_loses_time_priority_but_price_still_counts() -> None:
    ex = exchange()
    _queue(ex)
    assert ex.replace("a", 10, 69_900, at(D1, 8, 55)).accepted  # worse price
    assert _order_of_fills(ex) == [("b", 10)]  # 69,900 not reached
    ex2 = exchange()
    _queue(ex2)
    ex2.replace("a", 10, 70_100, at(D1, 8, 55))  # better price: first again
    assert _order_of_fills(ex2) == [("a", 10), ("b", 2)]
    assert ex2.order("a").limit_price == 70_100  # type: ignore[union-attr]


def test_replace_rules() -> None:
    ex = exchange(SimConfig(participation=0.5))
    ex.submit(limit("a", BUY, 10, 70_000), at(D1, 8, 50))
    ex.submit(market("m", BUY, 10), at(D1, 8, 50))
    ex.on_frame(frame(at(D1, 9), {SAMSUNG: flat(70_000, 24)}))  # m 10 filled, a 2
    assert ex.order("a").filled_qty == 2  # type: ignore[union-attr]
    below = ex.replace("a", 2, None, at(D1, 9, 5))
    assert (below.accepted, below.code) == (False, RejectCode.INVALID_QTY)
    assert ex.replace("a", 5, 70_050, at(D1, 9, 5)).code == RejectCode.OFF_TICK
    assert ex.replace("a", 5, 95_000, at(D1, 9, 5)).code == RejectCode.OUTSIDE_PRICE_LIMIT
    assert ex.replace("m", 20, None, at(D1, 9, 5)).code == RejectCode.UNKNOWN_ORDER  # filled
    ok = ex.replace("a", 3, None, at(D1, 9, 5))
    assert ok.accepted
    assert ex.order("a").qty == 3  # type: ignore[union-attr]


def test_replace_market_order_takes_no_price() -> None:
    ex = exchange()
    ex.submit(market("m", BUY, 10), at(D1, 8, 50))
    assert ex.replace("m", 5, 70_000, at(D1, 8, 51)).code == RejectCode.INVALID_PRICE
    assert ex.replace("m", 5, None, at(D1, 8, 51)).accepted


def test_replace_resends_after_latency() -> None:
    ex = exchange(SimConfig(latency=timedelta(seconds=2)))
    ex.submit(limit("a", BUY, 10, 70_000), at(D1, 8, 50))
    ex.replace("a", 10, 70_100, at(D1, 8, 59, 59))  # re-sent, at the venue at 09:00:01
    assert ex.on_frame(frame(at(D1, 9), {SAMSUNG: flat(70_000)})) == []
    assert len(fills_of(ex.on_frame(frame(at(D1, 9, 1), {SAMSUNG: flat(70_000)})))) == 1


def test_replace_checks_the_account() -> None:
    account = SimAccount(1_000_000, {HYNIX: 5})
    ex = exchange(account=account)
    ex.submit(limit("b", BUY, 10, 70_000), at(D1, 10))
    assert ex.replace("b", 15, None, at(D1, 10)).code == RejectCode.INSUFFICIENT_CASH
    assert ex.replace("b", 14, None, at(D1, 10)).accepted
    assert account.free_cash == 1_000_000 - 14 * 70_000
    ex.submit(limit("s", SELL, 5, 200_000, HYNIX), at(D1, 10))
    assert ex.replace("s", 6, None, at(D1, 10)).code == RejectCode.INSUFFICIENT_HOLDINGS


# ---------------------------------------------------------------- frames


def test_replayed_or_older_frame_is_ignored() -> None:
    ex = exchange()
    f0 = frame(at(D1, 9), {SAMSUNG: flat(70_000)})
    ex.on_frame(f0)
    ex.submit(market("m", BUY, 1), at(D1, 9, 1))
    assert ex.on_frame(f0) == []
    assert ex.on_frame(frame(at(D1, 8, 59), {SAMSUNG: flat(70_000)})) == []
    assert ex.fills() == []
    assert len(fills_of(ex.on_frame(frame(at(D1, 9, 1), {SAMSUNG: flat(70_000)})))) == 1


def test_universe_change_carries_prices_by_symbol() -> None:
    ex = SimExchange(INSTRUMENTS, fees=NoFees())
    ex.on_frame(day_frame(D1, {SAMSUNG: flat(10_000), HYNIX: flat(200_000)}))
    other = Universe((HYNIX, SAMSUNG))
    ex.on_frame(frame(at(D2, 9), {SAMSUNG: flat(10_100)}, universe=other))
    assert ex.price_limits(SAMSUNG, D2).base == 10_000  # type: ignore[union-attr]
    assert ex.price_limits(HYNIX, D2).base == 200_000  # type: ignore[union-attr]
    ex.submit(market("m", BUY, 1, HYNIX), at(D2, 9, 0, 30))
    [fill] = fills_of(ex.on_frame(frame(at(D2, 9, 1), {HYNIX: flat(201_000)}, universe=other)))
    assert fill.price == 201_000


def test_fills_are_always_on_the_grid_and_inside_the_bar() -> None:
    ex = exchange()
    for k, symbol in enumerate(SYMBOLS):
        ex.submit(market(f"m{k}", BUY, 1, symbol), at(D1, 8, 50))
    ex.on_frame(
        frame(
            at(D1, 9),
            {
                SAMSUNG: (70_000, 70_500, 69_500, 70_000, 5),
                HYNIX: (200_500, 201_000, 200_000, 200_500, 5),
                KAKAO: (50_100, 50_200, 49_900, 50_000, 5),
                KODEX: (35_015, 35_100, 35_000, 35_050, 5),
            },
        )
    )
    for f in ex.fills():
        assert is_on_tick(f.price, INSTRUMENTS[f.symbol].is_etf)


def test_universe_fixture_is_consistent() -> None:
    assert UNIVERSE.symbols == SYMBOLS
