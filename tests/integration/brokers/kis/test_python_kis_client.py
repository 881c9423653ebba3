"""python-kis 2.1.6 (PyPI ``python-kis``), the most used community KIS client, against the fake.

Only python-kis's domain constants are changed (monkeypatched to the fake's ephemeral port);
everything else — token issue, TR ids, headers, paths, query strings, bodies, response parsing
— is the library's own. If the fake refused something real KIS accepts, or answered in a shape
KIS does not, these calls would fail inside python-kis.

The fake is a domestic (KRX) venue, so account-wide calls are asked with ``country="KR"``:
without it python-kis also queries the overseas endpoints, which the fake does not serve.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from decimal import Decimal

import pykis
import pykis.client.websocket
import pykis.kis
import pytest
from kis_kit import CASH, DAY, INSTRUMENTS, PRICES, SAMSUNG, WAIT, Tape

from qts.brokers.kis import KisMode
from qts.brokers.kis.fake import PAPER_APP, REAL_APP, FakeKisOptions, FakeKisServer
from qts.core.clock import SimulatedClock

REAL = pytest.mark.parametrize("fake_options", [{"mode": KisMode.REAL}], indirect=True)
PAPER = pytest.mark.parametrize("fake_options", [{"mode": KisMode.PAPER}], indirect=True)


@pytest.fixture
def kis(fake: FakeKisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[pykis.PyKis]:
    # python-kis sends some calls to the real domain even for a paper account: point both here
    monkeypatch.setattr(pykis.kis, "REAL_DOMAIN", fake.rest_url)
    monkeypatch.setattr(pykis.kis, "VIRTUAL_DOMAIN", fake.rest_url)
    client = pykis.PyKis(
        id=REAL_APP.hts_id,
        account=REAL_APP.account_no,
        appkey=REAL_APP.app_key,
        secretkey=REAL_APP.app_secret,
        keep_token=False,
        use_websocket=False,
    )
    yield client
    client.close()


@REAL
def test_python_kis_trades_a_day_against_the_fake(fake: FakeKisServer, kis: pykis.PyKis) -> None:
    fake.advance(Tape().frame({SAMSUNG: 70_000}))
    stock = kis.stock(SAMSUNG)

    # quote (FHKST01010100, after python-kis's own search-info lookup CTPF1604R)
    quote = stock.quote()
    assert quote.symbol == SAMSUNG and quote.market == "KRX"
    assert quote.close == Decimal(70_000)
    assert quote.tick == Decimal(100)

    # balance (TTTC8434R): the fake's opening cash, no holdings
    account = kis.account()
    balance = account.balance(country="KR")
    assert balance.deposits["KRW"].amount == Decimal(CASH)
    assert balance.stocks == []

    # a resting limit buy (legacy TR TTTC0802U), seen in pending orders (TTTC8036R)
    order = stock.buy(price=69_000, qty=3)
    assert order.number
    pending = account.pending_orders(country="KR")
    assert [(p.order_number.number, p.price, p.qty) for p in pending.orders] == [
        (order.number, Decimal(69_000), Decimal(3))
    ]

    # cancel (legacy TR TTTC0803U): nothing pending any more
    order.cancel()
    assert account.pending_orders(country="KR").orders == []

    # a market buy (ORD_DVSN 01), then the day's orders (legacy TR TTTC8001R)
    market = stock.buy(qty=2)
    assert market.number and market.number != order.number
    daily = account.daily_orders(start=DAY, end=DAY, country="KR")
    by_number = {d.order_number.number: d for d in daily.orders}
    assert by_number[order.number].unit_price == Decimal(69_000)
    assert by_number[order.number].qty == Decimal(3)
    assert by_number[market.number].qty == Decimal(2)
    assert by_number[market.number].type == "buy"


@PAPER
def test_python_kis_paper_account_uses_both_domains(
    fake: FakeKisServer, clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paper (virtual) PyKis asks quotes of the real domain with the real app key and trades
    on the paper domain: a real-mode fake serves the one, the paper-mode fake the other, as
    KIS's two gateways do. python-kis itself refuses pending orders in paper (KIS has no
    inquire-psbl-rvsecncl there), so the day's orders stand in for them."""
    real = FakeKisServer(
        INSTRUMENTS, clock, options=FakeKisOptions(mode=KisMode.REAL), reference_prices=PRICES
    ).start()
    try:
        monkeypatch.setattr(pykis.kis, "REAL_DOMAIN", real.rest_url)
        monkeypatch.setattr(pykis.kis, "VIRTUAL_DOMAIN", fake.rest_url)
        kis = pykis.PyKis(
            id=REAL_APP.hts_id,
            account=PAPER_APP.account_no,
            appkey=REAL_APP.app_key,
            secretkey=REAL_APP.app_secret,
            virtual_id=PAPER_APP.hts_id,
            virtual_appkey=PAPER_APP.app_key,
            virtual_secretkey=PAPER_APP.app_secret,
            keep_token=False,
            use_websocket=False,
        )
        frame = Tape().frame({SAMSUNG: 70_000})
        fake.advance(frame)
        real.advance(frame)
        stock = kis.stock(SAMSUNG)
        assert stock.quote().close == Decimal(70_000)
        assert real.stats.paths["inquire-price"] >= 1 and not fake.stats.paths  # real domain

        account = kis.account()
        assert account.balance(country="KR").deposits["KRW"].amount == Decimal(CASH)
        order = stock.buy(price=69_000, qty=3)
        order.cancel()
        market = stock.buy(qty=2)
        daily = account.daily_orders(start=DAY, end=DAY, country="KR")
        by_number = {d.order_number.number: d for d in daily.orders}
        assert by_number[order.number].unit_price == Decimal(69_000)
        assert by_number[market.number].qty == Decimal(2)
        assert fake.stats.orders_placed >= 2 and real.stats.orders_placed == 0  # paper domain
        kis.close()
    finally:
        real.stop()


@REAL
def test_python_kis_receives_ticks_over_the_fake_websocket(
    fake: FakeKisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H0STCNT0 over python-kis's own WebSocket client (approval key, subscribe, AES-free
    market data, PINGPONG). Its fill-notice parser is not exercised: python-kis 2.1.6 hard-codes
    a 23-field H0STCNI0 layout, KIS (and the fake) send the current 26-field one."""
    monkeypatch.setattr(pykis.kis, "REAL_DOMAIN", fake.rest_url)
    monkeypatch.setattr(pykis.kis, "VIRTUAL_DOMAIN", fake.rest_url)
    monkeypatch.setattr(pykis.client.websocket, "WEBSOCKET_REAL_DOMAIN", fake.ws_url)
    monkeypatch.setattr(pykis.client.websocket, "WEBSOCKET_VIRTUAL_DOMAIN", fake.ws_url)
    kis = pykis.PyKis(
        id=REAL_APP.hts_id,
        account=REAL_APP.account_no,
        appkey=REAL_APP.app_key,
        secretkey=REAL_APP.app_secret,
        keep_token=False,
        use_websocket=True,
    )
    ticks: queue.Queue[object] = queue.Queue()
    try:
        ticket = kis.stock(SAMSUNG).on("price", lambda _c, e: ticks.put(e.response))
        assert fake.wait_subscribed("H0STCNT0", SAMSUNG, timeout=WAIT)
        tape = Tape()
        fake.advance(tape.frame({SAMSUNG: 70_100}))
        first = ticks.get(timeout=WAIT)
        assert first.symbol == SAMSUNG and first.price == Decimal(70_100)
        fake.advance(tape.frame({SAMSUNG: 69_800}))
        while (tick := ticks.get(timeout=WAIT)).price != Decimal(69_800):
            assert tick.price == Decimal(70_100)  # nothing but the two bars' prints
        ticket.unsubscribe()
    finally:
        kis.close()
