"""The simulated exchange applies the tick table and price limit of the order's own day and market:
a 2010 backtest is checked with 2010 ticks and ±15 %, a KOSDAQ stock with KOSDAQ's table."""

from __future__ import annotations

from datetime import date

from sim_kit import INSTRUMENTS, KAKAO, SAMSUNG, at, flat, frame

from qts.brokers.base import OrderRequest
from qts.brokers.sim import RejectCode, SimExchange
from qts.market.krx.fees import NoFees
from qts.model.enums import OrderSide, OrderType

BUY = OrderSide.BUY
OLD = date(2010, 6, 8)  # a Tuesday: KOSPI ticks 5 KRW below 5,000, 500 from 100,000; ±15 %
NEW = date(2024, 6, 11)


def exchange(ref: dict[str, int]) -> SimExchange:
    return SimExchange(INSTRUMENTS, None, fees=NoFees(), reference_prices=ref)


def limit(cid: str, price: int, symbol: str = SAMSUNG) -> OrderRequest:
    return OrderRequest(cid, symbol, BUY, OrderType.LIMIT, 1, price)


def test_a_2010_order_is_checked_on_the_2010_grid() -> None:
    ex = exchange({SAMSUNG: 150_000, KAKAO: 60_000})
    # 150,100 is on today's 100-won grid but not on 2010's 500-won KOSPI grid
    ack = ex.submit(limit("a", 150_100), at(OLD, 8, 50))
    assert (ack.accepted, ack.code) == (False, RejectCode.OFF_TICK)
    assert "KOSPI until 2010-10-03" in ack.reason
    assert ex.submit(limit("b", 150_500), at(OLD, 8, 50)).accepted
    # KOSDAQ ticked 100 above 50,000 then: 60,100 is fine for Kakao (a KOSDAQ listing here)
    assert ex.submit(limit("c", 60_100, KAKAO), at(OLD, 8, 50)).accepted


def test_the_same_price_is_fine_on_todays_grid() -> None:
    ex = exchange({SAMSUNG: 150_000})
    assert ex.submit(limit("a", 150_100), at(NEW, 8, 50)).accepted


def test_2010_limits_are_15_percent_on_the_2010_grid() -> None:
    ex = exchange({SAMSUNG: 150_000})
    ex.on_frame(frame(at(OLD, 9), {SAMSUNG: flat(150_000)}))
    limits = ex.price_limits(SAMSUNG, OLD)
    assert limits is not None and (limits.lower, limits.upper) == (127_500, 172_500)
    ack = ex.submit(limit("a", 173_000), at(OLD, 9, 1))
    assert (ack.accepted, ack.code) == (False, RejectCode.OUTSIDE_PRICE_LIMIT)
