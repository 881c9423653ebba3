"""Orders (kt10000 buy, kt10001 sell, kt10002 modify, kt10003 cancel): the request's fields
checked the way Kiwoom checks them, then handed to the venue; a venue refusal becomes Kiwoom's
error reply.

Each handler returns the reply's fields; ``_msg`` carries the order's own success message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.fake.venue import Refusal
from qts.brokers.kiwoom.fake.wire import Reply, as_int, error, message, need
from qts.model.enums import OrderSide, OrderType

if TYPE_CHECKING:
    from qts.brokers.kiwoom.fake.server import FakeKiwoom


def check_market(kiwoom: FakeKiwoom, api_id: str, body: Mapping[str, Any]) -> None:
    (market,) = need(kiwoom, api_id, body, "dmst_stex_tp")
    if market not in ("KRX", "NXT", "SOR"):
        raise error(kiwoom, api_id, 1901, "시장 코드값이 존재하지 않습니다")
    if market != "KRX" and kiwoom.config.mock:
        raise error(kiwoom, api_id, 1901, "모의투자는 KRX만 지원합니다")


def refused(kiwoom: FakeKiwoom, api_id: str, refusal: Refusal) -> Reply:
    if refusal.detail is not None:
        return error(kiwoom, api_id, refusal.detail, message(kiwoom, refusal.text))
    text = message(kiwoom, refusal.text)
    return Reply(200, {"return_code": 2, "return_msg": text})


def buy_sell(kiwoom: FakeKiwoom, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
    check_market(kiwoom, api_id, body)
    symbol, qty_text, trde_tp = need(kiwoom, api_id, body, "stk_cd", "ord_qty", "trde_tp")
    qty = as_int(kiwoom, api_id, qty_text, "ord_qty")
    price_text = str(body.get("ord_uv", "") or "").strip()
    if trde_tp == m.TRDE_MARKET:
        if price_text and as_int(kiwoom, api_id, price_text, "ord_uv") != 0:
            raise refused(
                kiwoom,
                api_id,
                Refusal("INVALID_PRICE", "시장가 주문은 단가를 입력하지 않습니다"),
            )
        kind, price = OrderType.MARKET, None
    elif trde_tp == m.TRDE_LIMIT:
        if not price_text:
            raise error(kiwoom, api_id, 1511, "필수입력 파라미터(ord_uv)가 누락되었습니다")
        kind, price = OrderType.LIMIT, as_int(kiwoom, api_id, price_text, "ord_uv")
    else:
        raise refused(kiwoom, api_id, Refusal("INVALID_REQUEST", "지원하지 않는 매매구분입니다"))
    side = OrderSide.BUY if api_id == m.BUY else OrderSide.SELL
    kiwoom.venue.list_symbol(symbol)
    result = kiwoom.venue.place(side, symbol, qty, kind, price)
    if isinstance(result, Refusal):
        raise refused(kiwoom, api_id, result)
    done = "매수주문이 완료되었습니다." if side is OrderSide.BUY else "매도주문이 완료되었습니다."
    return {"ord_no": result.ord_no, "dmst_stex_tp": "KRX", "_msg": message(kiwoom, done)}


def modify(kiwoom: FakeKiwoom, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
    check_market(kiwoom, api_id, body)
    orig, symbol, qty_text, price_text = need(
        kiwoom, api_id, body, "orig_ord_no", "stk_cd", "mdfy_qty", "mdfy_uv"
    )
    qty = as_int(kiwoom, api_id, qty_text, "mdfy_qty")
    price = as_int(kiwoom, api_id, price_text, "mdfy_uv")
    result = kiwoom.venue.modify(orig, symbol, qty, price)
    if isinstance(result, Refusal):
        raise refused(kiwoom, api_id, result)
    return {
        "ord_no": result.ord_no,
        "base_orig_ord_no": result.orig_ord_no,
        "mdfy_qty": kiwoom._fmt.num(result.qty),
        "dmst_stex_tp": "KRX",
        "_msg": message(kiwoom, "정정주문이 완료되었습니다."),
    }


def cancel(kiwoom: FakeKiwoom, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
    check_market(kiwoom, api_id, body)
    orig, symbol, qty_text = need(kiwoom, api_id, body, "orig_ord_no", "stk_cd", "cncl_qty")
    qty = as_int(kiwoom, api_id, qty_text, "cncl_qty")
    result = kiwoom.venue.cancel(orig, symbol, qty)
    if isinstance(result, Refusal):
        raise refused(kiwoom, api_id, result)
    return {
        "ord_no": result.ord_no,
        "base_orig_ord_no": result.orig_ord_no,
        "cncl_qty": kiwoom._fmt.num(result.qty),
        "dmst_stex_tp": "KRX",
        "_msg": message(kiwoom, "취소주문이 완료되었습니다."),
    }
