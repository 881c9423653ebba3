"""Orders over REST: order-cash (buy, sell) and order-rvsecncl (amend, cancel)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.fake.venue import INPUT_ERROR, ORDER_OK, FakeAccount, FakeRefusal
from qts.brokers.kis.fake.websocket import push_notices
from qts.brokers.kis.fake.wire import envelope
from qts.model.enums import OrderSide

if TYPE_CHECKING:
    from qts.brokers.kis.fake.server import FakeKisServer


def order(
    server: FakeKisServer, api: ep.Api, account: FakeAccount, body: dict[str, Any], tr_id: str
) -> web.StreamResponse:
    if any(k != k.upper() for k in body):
        raise FakeRefusal(INPUT_ERROR)  # KIS wants upper-case keys in POST bodies
    if api in (ep.ORDER_BUY, ep.ORDER_SELL):
        server.list_symbol(str(body.get("PDNO", "")))
        side = OrderSide.BUY if api is ep.ORDER_BUY else OrderSide.SELL
        output, notices = account.order_cash(body, side)
        server.stats.orders_placed += 1
    else:
        output, notices = account.rvsecncl(body)
    push_notices(server, notices)
    return envelope(server, {"output": output}, ORDER_OK, tr_id=tr_id)
