"""Kiwoom quote inquiries the live path needs: ka10001 (주식기본정보) and ka10080 (분봉).

ka10001 gives a symbol's name, last price and base price (the previous close, the day's price
limits' reference). ka10080 gives today's one-minute bars; the newest bar's ``cntr_tm`` date
is the venue's trading date, which Kiwoom's real-time prints (time only) do not carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.errors import KiwoomProtocolError
from qts.brokers.kiwoom.rest import KiwoomRestClient
from qts.core.errors import InputError


@dataclass(frozen=True, slots=True)
class StockInfo:
    symbol: str
    name: str
    last: int
    base_price: int
    upper_limit: int
    lower_limit: int


def stock_info(rest: KiwoomRestClient, symbol: str) -> StockInfo:
    """ka10001 for ``symbol`` (prices without their direction sign)."""
    body = rest.call(m.STOCK_INFO_PATH, m.STOCK_INFO, {"stk_cd": symbol}, idempotent=True).body
    try:
        return StockInfo(
            symbol=m.parse_symbol(body.get("stk_cd") or symbol),
            name=str(body.get("stk_nm") or "").strip(),
            last=abs(m.parse_int(body.get("cur_prc"), "cur_prc")),
            base_price=abs(m.parse_int(body.get("base_pric"), "base_pric")),
            upper_limit=abs(m.parse_int(body.get("upl_pric"), "upl_pric")),
            lower_limit=abs(m.parse_int(body.get("lst_pric"), "lst_pric")),
        )
    except InputError as exc:
        raise KiwoomProtocolError(f"kiwoom ka10001: {exc}", api_id=m.STOCK_INFO) from exc


def trading_date(rest: KiwoomRestClient, symbol: str) -> date | None:
    """The date of ``symbol``'s newest one-minute bar (ka10080), or None without bars."""
    body = {"stk_cd": symbol, "tic_scope": "1", "upd_stkpc_tp": "0"}
    reply = rest.call(m.CHART_PATH, m.MINUTE_CHART, body, idempotent=True).body
    rows = reply.get("stk_min_pole_chart_qry") or []
    stamps = [str(r.get("cntr_tm", "")) for r in rows if isinstance(r, dict)]
    stamps = [s for s in stamps if len(s) >= 8 and s[:8].isdigit()]
    if not stamps:
        return None
    newest = max(stamps)
    return date(int(newest[:4]), int(newest[4:6]), int(newest[6:8]))


def average_prices(rest: KiwoomRestClient, exchange: str) -> dict[str, tuple[int, int]]:
    """kt00018: symbol → (shares held, average purchase price ``pur_pric``, KRW rounded)."""
    _, rows = rest.call_all(
        m.ACCOUNT_PATH, m.BALANCE, m.balance_query(exchange), "acnt_evlt_remn_indv_tot"
    )
    out: dict[str, tuple[int, int]] = {}
    try:
        for row in rows:
            qty = m.parse_amount(row.get("rmnd_qty"), "rmnd_qty")
            if qty:
                price = abs(m.parse_amount(row.get("pur_pric"), "pur_pric"))
                out[m.parse_symbol(row.get("stk_cd"))] = (qty, price)
    except InputError as exc:
        raise KiwoomProtocolError(f"kiwoom kt00018: {exc}", api_id=m.BALANCE) from exc
    return out


__all__ = ["StockInfo", "average_prices", "stock_info", "trading_date"]
