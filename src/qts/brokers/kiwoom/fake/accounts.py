"""Account inquiries: deposit (kt00001), balance (kt00018), orders and fills (kt00009), open
orders (ka10075), executions (ka10076) and the account number (ka00001), each read off the
venue and written with Kiwoom's field names and number formats.

Each handler returns the reply's fields; a list the reply carries is paged by the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.fake.venue import Kind, KwFill, KwOrder
from qts.brokers.kiwoom.fake.wire import direction, need
from qts.core.time import KST
from qts.model.enums import OrderSide, OrderType

if TYPE_CHECKING:
    from qts.brokers.kiwoom.fake.server import FakeKiwoom


def deposit(kiwoom: FakeKiwoom, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
    need(kiwoom, api_id, body, "qry_tp")
    cash, free = kiwoom.venue.cash()
    n = kiwoom._fmt.num
    return {
        "entr": n(cash, 15),
        "profa_ch": n(0, 15),
        "ord_alow_amt": n(free, 15),
        "pymn_alow_amt": n(free, 15),
        "100stk_ord_alow_amt": n(free, 15),
        "d1_entra": n(cash, 15),
        "d2_entra": n(cash, 15),
        "stk_entr_prst": [],
    }


def balance(kiwoom: FakeKiwoom, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
    need(kiwoom, api_id, body, "qry_tp", "dmst_stex_tp")
    n = kiwoom._fmt.num
    rows = []
    tot_pur = tot_evlt = 0
    holdings = kiwoom.venue.holdings()
    for symbol, pos, sellable in holdings:
        price = kiwoom.venue.price(symbol) or (pos.cost // pos.qty if pos.qty else 0)
        ref = kiwoom.venue.reference(symbol)
        evlt = price * pos.qty
        tot_pur += pos.cost
        tot_evlt += evlt
        rows.append(
            {
                "stk_cd": f"A{symbol}",
                "stk_nm": kiwoom.venue.names.get(symbol, symbol),
                "evltv_prft": n(evlt - pos.cost, 15),
                "prft_rt": f"{(evlt - pos.cost) * 100 / pos.cost:.2f}" if pos.cost else "0.00",
                "pur_pric": n(pos.cost // pos.qty if pos.qty else 0),
                "pred_close_pric": n(ref),
                "rmnd_qty": n(pos.qty),
                "trde_able_qty": n(sellable),
                "cur_prc": n(price, sign=direction(price, ref)),
                "pred_buyq": n(0),
                "pred_sellq": n(0),
                "tdy_buyq": n(pos.bought_today),
                "tdy_sellq": n(pos.sold_today),
                "pur_amt": n(pos.cost, 15),
                "pur_cmsn": n(0, 15),
                "evlt_amt": n(evlt, 15),
                "sell_cmsn": n(0, 15),
                "tax": n(0, 15),
                "sum_cmsn": n(0, 15),
                "poss_rt": "0.00",
                "crd_tp": "00",
                "crd_tp_nm": "",
                "crd_loan_dt": "",
            }
        )
    cash, _ = kiwoom.venue.cash()
    return {
        "tot_pur_amt": n(tot_pur, 15),
        "tot_evlt_amt": n(tot_evlt, 15),
        "tot_evlt_pl": n(tot_evlt - tot_pur, 15),
        "tot_prft_rt": f"{(tot_evlt - tot_pur) * 100 / tot_pur:.2f}" if tot_pur else "0.00",
        "prsm_dpst_aset_amt": n(cash + tot_evlt, 15),
        "tot_loan_amt": n(0, 15),
        "tot_crd_loan_amt": n(0, 15),
        "tot_crd_ls_amt": n(0, 15),
        "acnt_evlt_remn_indv_tot": rows,
    }


def order_day(kiwoom: FakeKiwoom, body: Mapping[str, Any]) -> str:
    """The day kt00009 asks for (``ord_dt``, ``YYYYMMDD``); blank: the venue's today."""
    day = str(body.get("ord_dt", "") or "").strip()
    return day or m.ymd(kiwoom.venue.now().astimezone(KST).date())


def on_day(ts: datetime | None, day: str) -> bool:
    return ts is not None and m.ymd(ts.astimezone(KST).date()) == day


def orders_fills(kiwoom: FakeKiwoom, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
    _, _, _, qry_tp, _ = need(
        kiwoom, api_id, body, "stk_bond_tp", "mrkt_tp", "sell_tp", "qry_tp", "dmst_stex_tp"
    )
    sell_tp = str(body.get("sell_tp", "0"))
    symbol = str(body.get("stk_cd", "") or "").strip()
    from_no = str(body.get("fr_ord_no", "") or "").strip()
    # the orders made on the day asked (and their executions): an order and its fills keep
    # the date they were made on, and a new day starts with none
    day = order_day(kiwoom, body)
    orders = [o for o in kiwoom.venue.all_orders() if on_day(o.at, day)]
    by_no = {o.ord_no: o for o in orders}

    def keep(o: KwOrder) -> bool:
        if symbol and o.symbol != symbol:
            return False
        if sell_tp == "1" and o.side is not OrderSide.SELL:
            return False
        if sell_tp == "2" and o.side is not OrderSide.BUY:
            return False
        return not (from_no and o.ord_no < from_no.zfill(7))

    rows: list[dict[str, Any]] = []
    buy = sell = 0
    if qry_tp == "1":
        for fill in kiwoom.venue.executions():
            o = by_no.get(fill.ord_no)
            if o is not None and on_day(fill.at, day) and keep(o):
                rows.append(order_row(kiwoom, o, fill))
    else:
        rows = [
            order_row(kiwoom, o, None) for o in sorted(orders, key=lambda o: o.ord_no) if keep(o)
        ]
    for o in orders:
        if o.side is OrderSide.BUY:
            buy += o.amount
        else:
            sell += o.amount
    n = kiwoom._fmt.num
    return {
        "sell_grntl_engg_amt": n(sell, 15),
        "buy_engg_amt": n(buy, 15),
        "engg_amt": n(buy + sell, 15),
        "acnt_ord_cntr_prst_array": rows,
    }


def order_row(kiwoom: FakeKiwoom, o: KwOrder, fill: KwFill | None) -> dict[str, Any]:
    n = kiwoom._fmt.num
    side = "매수" if o.side is OrderSide.BUY else "매도"
    suffix = {Kind.NEW: "", Kind.MODIFY: "정정", Kind.CANCEL: "취소"}[o.kind]
    io = f"{side}{suffix}" if o.kind is Kind.CANCEL else f"현금{side}{suffix}"
    return {
        "stk_bond_tp": "1",
        "ord_no": o.ord_no,
        "stk_cd": f"A{o.symbol}",
        "trde_tp": "시장가" if o.order_type is OrderType.MARKET else "보통",
        "io_tp_nm": io,
        "ord_qty": n(o.qty),
        "ord_uv": n(o.price),
        "cnfm_qty": n(o.confirmed),
        "rsrv_oppo": "",
        "cntr_no": fill.cntr_no if fill else o.last_cntr,
        "acpt_tp": o.state,
        "orig_ord_no": o.orig_ord_no or "0000000",
        "stk_nm": kiwoom.venue.names.get(o.symbol, o.symbol),
        "setl_tp": "보통",
        "crd_deal_tp": "보통매매",
        "cntr_qty": n(fill.qty if fill else o.filled),
        "cntr_uv": n(fill.price if fill else o.avg_price),
        "comm_ord_tp": "REST",
        "mdfy_cncl_tp": {Kind.NEW: "", Kind.MODIFY: "정정", Kind.CANCEL: "취소"}[o.kind],
        "cntr_tm": kiwoom._fmt.hms(fill.at if fill else o.last_fill_at),
        "dmst_stex_tp": "KRX",
        "cond_uv": n(0),
    }


def open_orders(kiwoom: FakeKiwoom, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
    need(kiwoom, api_id, body, "all_stk_tp", "trde_tp", "stex_tp")
    symbol = str(body.get("stk_cd", "") or "").strip()
    only = str(body.get("all_stk_tp", "0")) == "1"
    side = str(body.get("trde_tp", "0"))
    n = kiwoom._fmt.num
    rows = []
    for o in sorted(kiwoom.venue.open_orders(), key=lambda o: o.ord_no):
        if only and o.symbol != symbol:
            continue
        if (side == "1" and o.side is not OrderSide.SELL) or (
            side == "2" and o.side is not OrderSide.BUY
        ):
            continue
        price = kiwoom.venue.price(o.symbol)
        ref = kiwoom.venue.reference(o.symbol)
        sign = "+" if o.side is OrderSide.BUY else "-"
        word = "매수" if o.side is OrderSide.BUY else "매도"
        rows.append(
            {
                "acnt_no": kiwoom.config.account_no,
                "ord_no": o.ord_no,
                "mang_empno": "",
                "stk_cd": o.symbol,
                "tsk_tp": "",
                "ord_stt": "체결" if o.filled else "접수",
                "stk_nm": kiwoom.venue.names.get(o.symbol, o.symbol),
                "ord_qty": n(o.qty),
                "ord_pric": n(o.price),
                "oso_qty": n(o.open_qty),
                "cntr_tot_amt": n(o.amount, 15),
                "orig_ord_no": o.orig_ord_no or "0000000",
                "io_tp_nm": f"{sign}{word}{'정정' if o.kind is Kind.MODIFY else ''}",
                "trde_tp": "시장가" if o.order_type is OrderType.MARKET else "보통",
                "tm": kiwoom._fmt.hms(o.at),
                "cntr_no": o.last_cntr,
                "cntr_pric": n(o.avg_price),
                "cntr_qty": n(o.filled),
                "cur_prc": n(price, sign=direction(price, ref)),
                "sel_bid": n(0),
                "buy_bid": n(0),
                "unit_cntr_pric": n(0),
                "unit_cntr_qty": n(0),
                "tdy_trde_cmsn": n(o.commission),
                "tdy_trde_tax": n(o.tax),
                "ind_invsr": "",
                "stex_tp": "1",
                "stex_tp_txt": "KRX",
                "sor_yn": "N",
                "stop_pric": "",
            }
        )
    return {"oso": rows}


def executions(kiwoom: FakeKiwoom, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
    need(kiwoom, api_id, body, "qry_tp", "sell_tp", "stex_tp")
    symbol = str(body.get("stk_cd", "") or "").strip()
    only = str(body.get("qry_tp", "0")) == "1"
    n = kiwoom._fmt.num
    rows = []
    for o in sorted(kiwoom.venue.all_orders(), key=lambda o: o.ord_no):
        if not o.filled or (only and o.symbol != symbol):
            continue
        word = "매수" if o.side is OrderSide.BUY else "매도"
        rows.append(
            {
                "ord_no": o.ord_no,
                "stk_nm": kiwoom.venue.names.get(o.symbol, o.symbol),
                "io_tp_nm": f"{'+' if o.side is OrderSide.BUY else '-'}{word}",
                "ord_pric": n(o.price),
                "ord_qty": n(o.qty),
                "cntr_pric": n(o.avg_price),
                "cntr_qty": n(o.filled),
                "oso_qty": n(o.open_qty),
                "tdy_trde_cmsn": n(o.commission),
                "tdy_trde_tax": n(o.tax),
                "ord_stt": "체결",
                "trde_tp": "시장가" if o.order_type is OrderType.MARKET else "보통",
                "orig_ord_no": o.orig_ord_no or "0000000",
                "ord_tm": kiwoom._fmt.hms(o.at),
                "stk_cd": o.symbol,
                "stex_tp": "0",
                "stex_tp_txt": "통합",
                "sor_yn": "N",
                "stop_pric": "",
            }
        )
    return {"cntr": rows}


def accounts(kiwoom: FakeKiwoom, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"acctNo": kiwoom.config.account_no}
