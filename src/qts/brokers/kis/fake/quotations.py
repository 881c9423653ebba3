"""Quotations over REST: current price, order book, stock info and an index's daily prices."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.fake.market import index_outputs
from qts.brokers.kis.fake.venue import INPUT_ERROR, FakeRefusal
from qts.brokers.kis.fake.wire import NO_DATA, OK_GENERIC, envelope

if TYPE_CHECKING:
    from qts.brokers.kis.fake.server import FakeKisServer


QUOTE_APIS = (ep.PRICE, ep.ORDERBOOK, ep.SEARCH_INFO, ep.INDEX_DAILY)


def quote(
    server: FakeKisServer, api: ep.Api, params: dict[str, str], tr_id: str
) -> web.StreamResponse:
    if api is ep.PRICE or api is ep.ORDERBOOK:
        symbol = params.get("FID_INPUT_ISCD", "")
        if not server.list_symbol(symbol):
            raise FakeRefusal(("APBK9005", "주문종목이 존재하지 않습니다."))
        if api is ep.PRICE:
            return envelope(
                server, {"output": server.market.price_output(symbol)}, OK_GENERIC, tr_id=tr_id
            )
        out1, out2 = server.market.orderbook_outputs(symbol)
        return envelope(server, {"output1": out1, "output2": out2}, OK_GENERIC, tr_id=tr_id)
    if api is ep.SEARCH_INFO:
        symbol = params.get("PDNO", "")
        kind = params.get("PRDT_TYPE_CD", "")
        if not symbol or not kind:
            raise FakeRefusal(INPUT_ERROR)
        if kind != ep.PRDT_TYPE_STOCK or not server.list_symbol(symbol):
            return envelope(server, {}, NO_DATA, ok=False, rt_cd="7", tr_id=tr_id)
        return envelope(
            server, {"output": server.market.search_info_output(symbol)}, OK_GENERIC, tr_id=tr_id
        )
    if api is ep.INDEX_DAILY:
        code = params.get("FID_INPUT_ISCD", "")
        if params.get("FID_COND_MRKT_DIV_CODE", "") != "U" or not code:
            raise FakeRefusal(INPUT_ERROR)
        outputs = index_outputs(code, server.index_level(code), server.clock.now())
        return envelope(server, outputs, OK_GENERIC, tr_id=tr_id)
    raise FakeRefusal(INPUT_ERROR)  # pragma: no cover - every quotation api is routed above
