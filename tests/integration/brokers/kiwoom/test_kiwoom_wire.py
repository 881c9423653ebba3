"""The wire itself: number formats, envelopes and headers, configuration, and ``serve``."""

from __future__ import annotations

import threading
from datetime import date, datetime

import httpx
import pytest
from kiwoom_kit import HYNIX, SAMSUNG, Harness, assert_books, fast_fake, flat, start_harness

from qts.brokers.base import Broker, OrderRequest
from qts.brokers.kiwoom import KiwoomBroker, KiwoomConfig, KiwoomMode
from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.errors import Failure, classify, reject_code
from qts.brokers.kiwoom.fake import (
    TEST_ACCOUNT_NO,
    TEST_APP_KEY,
    TEST_SECRET_KEY,
    FakeKiwoomServer,
    NumberStyle,
    check_loopback,
    serve,
    synthetic_venue,
)
from qts.core.clock import SimulatedClock
from qts.core.errors import ConfigError, InputError
from qts.core.time import KST, kst
from qts.model.enums import OrderSide, OrderType
from qts.model.fill import Fill


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("000000010000000", 10_000_000),
        ("+71000", 71_000),
        ("-3,780", -3_780),
        ("+001,002.0", 1_002),
        ("001,250.00", 1_250),
        ("  42 ", 42),
        ("", 0),
        (7, 7),
    ],
)
def test_numbers_in_every_observed_format(text: object, value: int) -> None:
    assert m.parse_int(text, "f") == value


@pytest.mark.parametrize("text", ["1.5", "abc", "+-1", "1e3", True])
def test_numbers_that_are_not_whole_are_refused(text: object) -> None:
    with pytest.raises(InputError):
        m.parse_int(text, "f")


def test_codes_times_and_texts() -> None:
    assert m.parse_symbol("A005930") == "005930" and m.parse_symbol("005930") == "005930"
    hms = [m.parse_hms(t, "cntr_tm") for t in ("13:08:00", "130800", "20260304130800")]
    assert hms[0] == hms[1] == hms[2]
    assert m.side_of("+매수") is OrderSide.BUY and m.side_of("현금매도정정") is OrderSide.SELL
    assert m.type_of("시장가") is OrderType.MARKET and m.type_of("보통") is OrderType.LIMIT
    assert m.order_no("138") == "0000138" and m.order_no("0000000") == ""
    assert m.parse_expires_dt("20241107083713").isoformat() == "2024-11-07T08:37:13+09:00"


def test_failure_classification_accepts_both_code_styles() -> None:
    token = "인증에 실패했습니다[8005:Token이 유효하지 않습니다]"
    limit = (
        "허용된 요청 개수를 초과하였습니다[1700:허용된 요청 개수를 초과하였습니다. API ID=kt00001]"
    )
    assert classify(200, 3, token) is Failure.AUTH_TOKEN
    assert classify(200, 8005, "") is Failure.AUTH_TOKEN
    assert classify(401, 0, "") is Failure.AUTH_TOKEN
    assert classify(200, 5, limit) is Failure.RATE_LIMIT
    assert classify(429, 0, "") is Failure.RATE_LIMIT
    assert classify(200, 1700, "") is Failure.RATE_LIMIT
    assert classify(200, 5, "[1634:허용된 요청 개수를 초과하였습니다]") is Failure.REFUSED
    assert classify(200, 3, "[8001:App Key 검증에 실패했습니다]") is Failure.AUTH
    assert classify(200, 0, "") is Failure.OK


def test_wire_envelope_headers_and_paging(h: Harness) -> None:
    broker = h.broker()
    for i in range(5):
        broker.submit(OrderRequest(f"p{i}", SAMSUNG, OrderSide.BUY, OrderType.LIMIT, 1, 69_000))
    _, token = broker.rest.auth.header()
    url = h.server.base_url + m.ACCOUNT_PATH
    base = {"authorization": f"Bearer {token}", "Content-Type": "application/json;charset=UTF-8"}
    with httpx.Client() as http:
        first = http.post(url, json=m.OPEN_ORDERS_QUERY, headers={**base, "api-id": "ka10075"})
        body = first.json()
        assert first.headers["api-id"] == "ka10075" and first.headers["cont-yn"] == "Y"
        assert body["return_code"] == 0 and len(body["oso"]) == 2
        assert all(isinstance(row["oso_qty"], str) for row in body["oso"])
        nxt = http.post(
            url,
            json=m.OPEN_ORDERS_QUERY,
            headers={
                **base,
                "api-id": "ka10075",
                "cont-yn": "Y",
                "next-key": first.headers["next-key"],
            },
        )
        assert [r["ord_no"] for r in nxt.json()["oso"]] != [r["ord_no"] for r in body["oso"]]
        wrong_uri = http.post(url, json={}, headers={**base, "api-id": "kt10000"})
        assert "[1504:" in wrong_uri.json()["return_msg"]
        unknown = http.post(url, json={}, headers={**base, "api-id": "ka99999"})
        assert "[1505:" in unknown.json()["return_msg"]
        missing = http.post(url, json={}, headers={**base, "api-id": "ka10075"})
        assert "[1511:" in missing.json()["return_msg"]
        no_token = http.post(url, json=m.OPEN_ORDERS_QUERY, headers={"api-id": "ka10075"})
        assert no_token.status_code == 200 and no_token.json()["return_code"] != 0
        nxt_market = http.post(
            h.server.base_url + m.ORDER_PATH,
            json={"dmst_stex_tp": "NXT", "stk_cd": SAMSUNG, "ord_qty": "1", "trde_tp": "3"},
            headers={**base, "api-id": "kt10000"},
        )
        assert "KRX만" in nxt_market.json()["return_msg"]  # the mock server is KRX only
    assert len(broker.open_orders()) == 5


def test_reject_codes_from_kiwoom_texts() -> None:
    from qts.brokers.kiwoom import KiwoomApiError

    def err(msg: str) -> KiwoomApiError:
        return KiwoomApiError(msg, return_code=2, return_msg=msg)

    assert reject_code(err("모의투자 주문가능금액을 초과합니다")) == "INSUFFICIENT_CASH"
    assert reject_code(err("모의투자 매도가능수량이 부족합니다")) == "INSUFFICIENT_HOLDINGS"
    assert reject_code(err("장운영시간이 아닙니다")) == "MARKET_CLOSED"
    assert reject_code(err("무엇인가 잘못되었습니다")) == "BROKER_REJECTED"


def test_config_from_the_legacy_environment() -> None:
    env = {
        "KIWOOM_MODE": "KIWOOM_REAL",
        "KIWOOM_REAL_APP_KEY": "real-app-key-1234",
        "KIWOOM_REAL_APP_SECRET": "real-secret-5678",
        "KIWOOM_REAL_ACCOUNT_NO": "1234567890",
    }
    cfg = KiwoomConfig.from_env(env)
    assert cfg.mode is KiwoomMode.REAL and cfg.rest_url == "https://api.kiwoom.com"
    assert cfg.ws_url == "wss://api.kiwoom.com:10000/api/dostk/websocket"
    assert "real-secret-5678" not in repr(cfg)
    mock = KiwoomConfig.from_env(
        {
            "KIWOOM_VTS_APP_KEY": "k" * 8,
            "KIWOOM_VTS_SECRET_KEY": "s" * 8,
            "KIWOOM_VTS_BASE_URL": "http://127.0.0.1:1/",
        }
    )
    assert mock.mode is KiwoomMode.MOCK and mock.rest_url == "http://127.0.0.1:1"
    with pytest.raises(ConfigError) as missing:
        KiwoomConfig.from_env({"KIWOOM_MODE": "KIWOOM_VTS", "KIWOOM_VTS_APP_KEY": "k" * 8})
    assert "KIWOOM_VTS_APP_SECRET" in str(missing.value)
    with pytest.raises(ConfigError):
        KiwoomConfig.from_env({"KIWOOM_MODE": "somewhere"})


def test_fake_binds_loopback_only() -> None:
    check_loopback("127.0.0.1")
    check_loopback("::1")
    with pytest.raises(ValueError, match="loopback"):
        check_loopback("0.0.0.0")
    venue, _, _ = synthetic_venue(1, date(2026, 3, 4))
    with pytest.raises(ValueError, match="loopback"):
        FakeKiwoomServer(venue, host="192.168.0.10")


def test_serve_replays_the_synthetic_market() -> None:
    """``serve`` as the CLI runs it: the seeded market at 600× real time; a market buy
    placed through the adapter fills on a replayed bar. The adapter's clock is on the replayed
    day (as ``qts run``'s venue clock is): it asks for that day's orders and executions."""
    ready = threading.Event()
    stop = threading.Event()
    urls: list[str] = []

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    thread = threading.Thread(
        target=serve,
        kwargs={
            "port": 0,
            "seed": 3,
            "speed": 600.0,
            "start": date(2026, 3, 4),
            "stop": stop,
            "on_ready": on_ready,
        },
        daemon=True,
    )
    thread.start()
    try:
        assert ready.wait(10)
        cfg = KiwoomConfig(
            app_key=TEST_APP_KEY,
            secret_key=TEST_SECRET_KEY,
            account_no=TEST_ACCOUNT_NO,
            base_url=urls[0],
            poll_interval_s=0.02,
        )
        day_clock = SimulatedClock(datetime(2026, 3, 4, 9, 30, tzinfo=KST))
        with KiwoomBroker(cfg, clock=day_clock) as broker:
            ack = broker.submit(OrderRequest("cli", "005870", OrderSide.BUY, OrderType.MARKET, 3))
            assert ack.accepted, ack
            fills: list[Fill] = []
            for _ in range(200):
                broker.sync()
                fills += [e for e in broker.drain_events() if isinstance(e, Fill)]
                if fills:
                    break
            assert [(f.client_order_id, f.qty) for f in fills] == [("cli", 3)]
            assert broker.balance().holdings == {"005870": 3}
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


@pytest.mark.parametrize("style", list(NumberStyle))
def test_every_number_style_books_the_same(style: NumberStyle) -> None:
    h = start_harness(fast_fake(numbers=style))
    try:
        broker: Broker = h.broker()  # KiwoomBroker is a Broker (checked by mypy)
        broker.submit(OrderRequest("n1", SAMSUNG, OrderSide.BUY, OrderType.LIMIT, 12, 70_000))
        broker.submit(OrderRequest("n2", HYNIX, OrderSide.SELL, OrderType.MARKET, 5, None))
        h.bar({SAMSUNG: (70_000, 70_000, 69_900, 70_000, 7), HYNIX: flat(199_000)})
        fills = [e for e in broker.drain_events() if isinstance(e, Fill)]
        assert sorted((f.client_order_id, f.qty, f.price) for f in fills) == [
            ("n1", 7, 70_000),
            ("n2", 5, 199_000),
        ]
        (open_order,) = broker.open_orders()
        assert (open_order.client_order_id, open_order.filled_qty) == ("n1", 7)
        assert isinstance(broker, KiwoomBroker)
        assert_books(h, broker)
    finally:
        h.close()


def test_stock_info_and_token_revoke(h: Harness) -> None:
    broker = h.broker()
    h.bar({SAMSUNG: (70_500, 71_000, 70_000, 70_900, 100)})
    info = broker.rest.call(m.STOCK_INFO_PATH, m.STOCK_INFO, {"stk_cd": SAMSUNG}, idempotent=True)
    assert m.parse_amount(info.body["cur_prc"], "cur_prc") == 70_900
    assert m.parse_amount(info.body["upl_pric"], "upl_pric") == 91_000  # +30 % of 70,000
    assert m.parse_int(info.body["pred_pre"], "pred_pre") == 900
    live = h.fake.tokens_issued
    broker.close(revoke=True)
    with httpx.Client() as http:
        token = h.fake.issued_tokens()[-1]
        reply = http.post(
            h.server.base_url + m.ACCOUNT_PATH,
            json=m.DEPOSIT_QUERY,
            headers={"api-id": "kt00001", "authorization": f"Bearer {token}"},
        )
    assert "[8005:" in reply.json()["return_msg"] and h.fake.tokens_issued == live


def test_orders_and_executions_keep_their_day_and_a_new_day_starts_with_none(h: Harness) -> None:
    """kt00009 answers the day ``ord_dt`` names (blank: the venue's today), as Kiwoom does: the
    day's executions are not read again, re-dated, on the next day. The adapter asks for its
    clock's day, so in the evening (its clock still on the day, the venue's already on the
    next) it still reads the day's fill under the same id, and on the next day none."""
    client = SimulatedClock(h.clock.now())  # the adapter's clock, apart from the venue's
    broker = KiwoomBroker(h.config(), clock=client, token_clock=h.client_wall)
    h.brokers.append(broker)
    ack = broker.submit(OrderRequest("d1", SAMSUNG, OrderSide.BUY, OrderType.MARKET, 2))
    assert ack.accepted, ack
    h.bar({SAMSUNG: flat(70_000)})
    (fill,) = broker.fills()
    assert fill.fill_id.startswith("KW20260304-") and fill.client_order_id == "d1"

    h.venue.advance_time(kst(2026, 3, 5, 8, 30))  # the venue's next day (Thursday)
    client.advance_to(kst(2026, 3, 4, 15, 40))  # the adapter's clock: still Wednesday evening
    assert [f.fill_id for f in broker.fills()] == [fill.fill_id]

    _, token = broker.rest.auth.header()
    headers = {"authorization": f"Bearer {token}", "api-id": m.ORDERS_FILLS}
    url = h.server.base_url + m.ACCOUNT_PATH
    with httpx.Client() as http:

        def rows(day: str) -> list[str]:
            body = {**m.orders_query(fills_only=True), "ord_dt": day}
            reply = http.post(url, json=body, headers=headers).json()
            assert reply["return_code"] == 0, reply
            return [r["ord_no"] for r in reply["acnt_ord_cntr_prst_array"]]

        assert rows("") == [] and rows("20260305") == []  # a new day starts with no fills
        assert len(rows("20260304")) == 1  # the day's execution keeps its date

    client.advance_to(kst(2026, 3, 5, 9, 0))  # the adapter on Thursday: nothing of Wednesday
    assert broker.fills() == []


def test_an_execution_after_the_last_poll_of_a_day_is_booked_under_that_day(h: Harness) -> None:
    """The closing auction fills an order after the adapter's last poll of the day; its next
    poll is on the next day (its clock turned) and asks for that day's rows, yet it reads the
    last day once more first: the fill is reported once, under the day it was made on."""
    client = SimulatedClock(h.clock.now())
    broker = KiwoomBroker(h.config(), clock=client, token_clock=h.client_wall)
    h.brokers.append(broker)
    ack = broker.submit(OrderRequest("late", SAMSUNG, OrderSide.BUY, OrderType.LIMIT, 3, 70_000))
    assert ack.accepted, ack
    broker.poll_once()  # the day's last poll: the order is open, nothing filled
    assert not [e for e in broker.drain_events() if isinstance(e, Fill)]
    h.bar({SAMSUNG: flat(70_000)})  # it fills (after that poll)
    h.venue.advance_time(kst(2026, 3, 5, 8, 30))
    client.advance_to(kst(2026, 3, 5, 9, 1))  # the adapter's clock on the next day
    broker.poll_once()
    fills = [e for e in broker.drain_events() if isinstance(e, Fill)]
    assert [(f.client_order_id, f.qty, f.fill_id[:11]) for f in fills] == [
        ("late", 3, "KW20260304-")
    ]
    broker.poll_once()
    assert not [e for e in broker.drain_events() if isinstance(e, Fill)]  # once
