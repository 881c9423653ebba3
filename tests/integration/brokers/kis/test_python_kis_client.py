"""python-kis 2.1.6 (PyPI ``python-kis``), the most used community KIS client, against the fake.

Only python-kis's domain constants are changed (monkeypatched to the fake's ephemeral port);
everything else — token issue, TR ids, headers, paths, query strings, bodies, response parsing
— is the library's own. If the fake refused something real KIS accepts, or answered in a shape
KIS does not, these calls would fail inside python-kis.

The fake is a domestic (KRX) venue, so account-wide calls are asked with ``country="KR"``:
without it python-kis also queries the overseas endpoints, which the fake does not serve.

Fill notices (H0STCNI0): the fake sends them as KIS does today, 26 ``^``-separated fields,
AES-256-CBC encrypted with the key and iv of the registration's answer, base64 in the frame.
python-kis 2.1.6 registers, keeps the key, decrypts, and then refuses the 26 fields: it knows
only KIS's older 23-field layout, and fails the same way against the real gateway (its issue
#68). One test pins that; another gives python-kis's parser the current layout (the change its
issue #80 proposes, the only thing patched) and sees the fill of the order python-kis placed.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pykis
import pykis.client.websocket
import pykis.kis
import pykis.logging
import pytest
from kis_kit import CASH, DAY, INSTRUMENTS, PRICES, SAMSUNG, WAIT, Tape
from pykis.api.websocket import order_execution

from qts.brokers.kis import KisMode
from qts.brokers.kis.fake import PAPER_APP, REAL_APP, FakeKisOptions, FakeKisServer
from qts.brokers.kis.mapping import NOTICE_FIELDS
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


@pytest.fixture
def kis_ws(fake: FakeKisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[pykis.PyKis]:
    """A real-account PyKis with its WebSocket on the fake (only the domains changed)."""
    monkeypatch.setattr(pykis.kis, "REAL_DOMAIN", fake.rest_url)
    monkeypatch.setattr(pykis.kis, "VIRTUAL_DOMAIN", fake.rest_url)
    monkeypatch.setattr(pykis.client.websocket, "WEBSOCKET_REAL_DOMAIN", fake.ws_url)
    monkeypatch.setattr(pykis.client.websocket, "WEBSOCKET_VIRTUAL_DOMAIN", fake.ws_url)
    client = pykis.PyKis(
        id=REAL_APP.hts_id,
        account=REAL_APP.account_no,
        appkey=REAL_APP.app_key,
        secretkey=REAL_APP.app_secret,
        keep_token=False,
        use_websocket=True,
    )
    yield client
    client.close()


@REAL
def test_python_kis_receives_ticks_over_the_fake_websocket(
    fake: FakeKisServer, kis_ws: pykis.PyKis
) -> None:
    """H0STCNT0 over python-kis's own WebSocket client (approval key, subscribe, AES-free
    market data, PINGPONG). Fill notices: the tests below."""
    kis = kis_ws
    ticks: queue.Queue[object] = queue.Queue()
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


# ---------------------------------------------------------------- fill notices (H0STCNI0)

# KIS's current domestic notice layout has 26 fields; python-kis 2.1.6 hard-codes the older
# 23-field one (…, 17 ACNT_NAME, 18 CNTG_ISNM, 19 CRDT_CLS, 20 CRDT_LOAN_DATE, 21 CNTG_ISNM40,
# 22 ODER_PRC). KIS replaced CNTG_ISNM by ORD_COND_PRC and added ORD_EXG_GB, POPUP_YN and
# FILLER after it, so python-kis refuses every notice ("Invalid data length: 26", python-kis
# issue #68 against the real gateway) until its layout gets the new fields (issue #80).
PYKIS_LAYOUT_23 = list(order_execution.KisDomesticRealtimeOrderExecution.__fields__)
KIS_LAYOUT_26 = [*PYKIS_LAYOUT_23[:18], None, None, None, None, *PYKIS_LAYOUT_23[19:]]
assert len(PYKIS_LAYOUT_23) == 23 and len(KIS_LAYOUT_26) == len(NOTICE_FIELDS) == 26


class PykisLog(logging.Handler):
    """python-kis's own log records (its logger does not propagate), as they come."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: queue.Queue[logging.LogRecord] = queue.Queue()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.records.put(record)

    def wait_for(self, text: str) -> logging.LogRecord:
        while True:
            record = self.records.get(timeout=WAIT)
            if text in record.getMessage():
                return record


@pytest.fixture
def pykis_log() -> Iterator[PykisLog]:
    handler = PykisLog()
    pykis.logging.logger.addHandler(handler)
    yield handler
    pykis.logging.logger.removeHandler(handler)


def buy_and_fill(fake: FakeKisServer, kis: pykis.PyKis) -> pykis.KisOrder:
    """A market buy of 2 shares that the next bar fills: two notices (accepted, filled)."""
    tape = Tape()
    fake.advance(tape.frame({SAMSUNG: 70_000}))
    notices = fake.stats.notices_sent
    order = kis.stock(SAMSUNG).buy(qty=2)
    fake.advance(tape.frame({SAMSUNG: 70_100}))
    assert fake.call(lambda: fake.stats.notices_sent) >= notices + 2
    return order


@REAL
def test_python_kis_2_1_6_cannot_read_kis_current_fill_notices(
    fake: FakeKisServer, kis_ws: pykis.PyKis, pykis_log: PykisLog
) -> None:
    """Subscription, AES-256-CBC key and iv, the encrypted frame: python-kis takes all of it,
    decrypts the notice, and then refuses the 26 fields exactly as it does against KIS."""
    executions: queue.Queue[object] = queue.Queue()
    ticket = kis_ws.account().on("execution", lambda _c, e: executions.put(e.response))
    # both notice TRs registered, keyed by the HTS id (python-kis asks for overseas ones too)
    assert fake.wait_subscribed("H0STCNI0", REAL_APP.hts_id, timeout=WAIT)
    assert fake.wait_subscribed("H0GSCNI0", REAL_APP.hts_id, timeout=WAIT)
    buy_and_fill(fake, kis_ws)
    for _notice in ("accepted", "filled"):
        refused = pykis_log.wait_for("RTC Failed to parse message")
        assert "H0STCNI0" in refused.getMessage()
        assert "Invalid data length: 26" in refused.getMessage()  # decrypted: 26 fields
    assert executions.empty()
    ticket.unsubscribe()
    # nothing else went wrong for python-kis (no refused registration, no decryption error)
    others = [m for m in pykis_log.messages if "error" in m.lower() and "parse" not in m]
    assert others == [], pykis_log.messages


@REAL
def test_python_kis_receives_the_fill_of_its_order_in_kis_current_layout(
    fake: FakeKisServer,
    kis_ws: pykis.PyKis,
    pykis_log: PykisLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """python-kis's parser with its layout brought to KIS's 26 fields (nothing else of it
    changed): the order it placed is acknowledged, then filled, with its number, side,
    quantity and price."""
    monkeypatch.setattr(
        order_execution.KisDomesticRealtimeOrderExecution, "__fields__", KIS_LAYOUT_26
    )
    executions: queue.Queue[Any] = queue.Queue()
    ticket = kis_ws.account().on("execution", lambda _c, e: executions.put(e.response))
    assert fake.wait_subscribed("H0STCNI0", REAL_APP.hts_id, timeout=WAIT)
    order = buy_and_fill(fake, kis_ws)

    accepted = executions.get(timeout=WAIT)
    assert accepted.receipt and not accepted.rejected
    assert accepted.order_number.number == order.number
    assert (accepted.symbol, accepted.type, accepted.quantity) == (SAMSUNG, "buy", Decimal(2))
    assert accepted.executed_quantity == 0

    filled = executions.get(timeout=WAIT)
    assert not filled.receipt and not filled.rejected and not filled.canceled
    assert filled.order_number.number == order.number
    assert filled.order_number.branch == order.branch
    assert filled.account_number == kis_ws.account().account_number
    assert (filled.symbol, filled.type) == (SAMSUNG, "buy")
    assert (filled.quantity, filled.executed_quantity) == (Decimal(2), Decimal(2))
    assert filled.price == Decimal(70_100)
    assert filled.unit_price is None  # a market order has no order price
    assert filled.executed_amount == Decimal(140_200)
    # and it is the fill the venue booked, at the venue's time
    venue_fill = fake.call(lambda: fake.account().sim.fills()[-1])
    assert (venue_fill.qty, venue_fill.price) == (2, 70_100)
    assert filled.time_kst.strftime("%H%M%S") == venue_fill.ts.strftime("%H%M%S")
    assert executions.empty()
    ticket.unsubscribe()
    assert [m for m in pykis_log.messages if "error" in m.lower()] == [], pykis_log.messages
