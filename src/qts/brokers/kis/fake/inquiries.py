"""Account inquiries over REST: daily fills, balance, orderable amount, amendable orders."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.fake.venue import INPUT_ERROR, FakeAccount, FakeRefusal
from qts.brokers.kis.fake.wire import OK_GENERIC, envelope, paged

if TYPE_CHECKING:
    from qts.brokers.kis.fake.server import FakeKisServer


def inquire(
    server: FakeKisServer,
    api: ep.Api,
    account: FakeAccount,
    params: dict[str, str],
    tr_id: str,
    tr_cont: str,
) -> web.StreamResponse:
    if api is ep.DAILY_CCLD:
        rows, out2 = account.ccld_rows(params)
        return paged(
            server, rows, {"output2": out2}, params, tr_id, tr_cont, server.options.ccld_page
        )
    if api is ep.BALANCE:
        rows, out2 = account.balance_rows(params, server.market.last_prices())
        return paged(
            server, rows, {"output2": [out2]}, params, tr_id, tr_cont, server.options.balance_page
        )
    if api is ep.PSBL_ORDER:
        symbol = params.get("PDNO", "")
        last = server.market.last_prices().get(symbol, 0)
        return envelope(
            server, {"output": account.psbl_order(params, last)}, OK_GENERIC, tr_id=tr_id
        )
    if api is ep.PSBL_RVSECNCL:
        rows = account.psbl_rvsecncl_rows(params)
        return paged(server, rows, {}, params, tr_id, tr_cont, 50, key="output")
    raise FakeRefusal(INPUT_ERROR)  # pragma: no cover - every GET api is routed above
