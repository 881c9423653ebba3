"""Kiwoom's real-time WebSocket against the fake: LOGIN, REG, 0B prints, PING echo, re-login and
re-registration after a cut, refusal of a bad token, and ka10080's trading date."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kiwoom_kit import DAY, HYNIX, SAMSUNG, Harness

from qts.brokers.kiwoom.quotes import stock_info, trading_date
from qts.brokers.kiwoom.realtime import TRADE, KiwoomRealtime, RealRecord, RealTrade, parse_real
from qts.core.errors import InputError

WAIT = 10.0


def ws_url(h: Harness) -> str:
    return h.server.base_url.replace("http://", "ws://") + "/api/dostk/websocket"


def wait_until(check: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll a condition the fake or the client exposes, with a deadline."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def drain_until(rt: KiwoomRealtime, count: int) -> list[RealRecord]:
    got: list[RealRecord] = []
    wait_until(lambda: len(got.__iadd__(rt.drain())) >= count)
    return got


def test_prints_arrive_after_login_and_registration(h: Harness) -> None:
    broker = h.broker()
    token = broker.rest.auth.header()[1]
    rt = KiwoomRealtime(ws_url(h), lambda: token, reconnect_min_s=0.05)
    try:
        rt.register(TRADE, SAMSUNG)
        rt.start()
        assert rt.wait_logged_in(WAIT)
        wait_until(lambda: h.fake.realtime.registered(TRADE, SAMSUNG) == 1)
        h.bar({SAMSUNG: (70_000, 70_500, 69_900, 70_300, 1_234), HYNIX: (200_000,) * 4 + (5,)})
        (trade,) = drain_until(rt, 1)  # HYNIX is not registered
        assert trade == RealTrade(SAMSUNG, "090100", 70_300, 1_234)
        assert trading_date(broker.rest, SAMSUNG) == DAY
        info = stock_info(broker.rest, SAMSUNG)
        assert info.base_price == 70_000 and info.last == 70_300 and info.name

        # the server's PINGs are echoed and the session stays up
        h.fake.realtime.ping_interval_s = 0.05
        wait_until(lambda: rt.pings >= 2 and h.fake.realtime.pings_echoed >= 2)
        # a cut: the client logs in again and registers again (registrations do not survive)
        assert h.fake.realtime.drop_sessions() == 1
        wait_until(lambda: rt.logged_in >= 2 and h.fake.realtime.registered(TRADE, SAMSUNG) == 1)
        h.bar({SAMSUNG: (70_300, 70_300, 70_300, 70_400, 10)})
        (after,) = drain_until(rt, 1)
        assert isinstance(after, RealTrade) and after.price == 70_400
    finally:
        rt.close()


def test_a_bad_token_is_refused_at_login(h: Harness) -> None:
    refused: list[str] = []
    rt = KiwoomRealtime(ws_url(h), lambda: "not-a-token", invalidate_token=refused.append,
                        reconnect_min_s=0.05)  # fmt: skip
    try:
        rt.start()
        wait_until(lambda: len(refused) >= 1)
        assert rt.logged_in == 0 and h.fake.realtime.logins == 0
    finally:
        rt.close()


def test_parse_real_rejects_bad_values() -> None:
    good = {"type": "0B", "item": "005930", "values": {"20": "090100", "10": "-69900", "15": "-7"}}
    assert parse_real(good) == RealTrade("005930", "090100", 69_900, 7)
    with pytest.raises(InputError, match="20"):
        parse_real({**good, "values": {"20": "9:1", "10": "1", "15": "1"}})
    with pytest.raises(InputError):
        parse_real({**good, "values": {"20": "090100", "10": "", "15": "1"}})
    assert parse_real({"type": "0D", "item": "005930", "values": {"20": "090100"}}) is None
