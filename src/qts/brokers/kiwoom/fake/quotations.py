"""Stock data: the quote (ka10001), the listing record (ka10100) and the minute chart (ka10080)
of one symbol; a symbol the venue cannot list answers 1902.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.fake.wire import direction, error, need
from qts.model.instrument import Market

if TYPE_CHECKING:
    from qts.brokers.kiwoom.fake.server import FakeKiwoom


def stock_info(kiwoom: FakeKiwoom, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
    (symbol,) = need(kiwoom, api_id, body, "stk_cd")
    symbol = m.parse_symbol(symbol)
    if not kiwoom.venue.list_symbol(symbol):
        raise error(kiwoom, api_id, 1902, "종목정보가 존재하지 않습니다")
    n = kiwoom._fmt.num
    price = kiwoom.venue.price(symbol)
    ref = kiwoom.venue.reference(symbol)
    o, h, lo, _, v = kiwoom.venue.last_bar.get(symbol, (price, price, price, price, 0))
    upper = lower = 0
    if ref:
        from qts.market.krx.price_limit import daily_limits

        limits = daily_limits(ref, kiwoom.venue.instruments[symbol].is_etf)
        upper, lower = limits.upper, limits.lower
    change = price - ref if ref and price else 0
    return {
        "stk_cd": symbol,
        "stk_nm": kiwoom.venue.names.get(symbol, symbol),
        "cur_prc": n(price, sign=direction(price, ref)),
        "pred_pre": n(change, sign=direction(price, ref)),
        "flu_rt": f"{change * 100 / ref:+.2f}" if ref else "0.00",
        "trde_qty": n(v),
        "open_pric": n(o, sign=direction(o, ref)),
        "high_pric": n(h, sign=direction(h, ref)),
        "low_pric": n(lo, sign=direction(lo, ref)),
        "upl_pric": n(upper, sign=1 if upper else 0),
        "lst_pric": n(lower, sign=-1 if lower else 0),
        "base_pric": n(ref),
    }


def listing(kiwoom: FakeKiwoom, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """ka10100 (종목정보 조회): the flat camelCase record of a ka10099 master row; the
    mock server lists the KRX market only (``nxtEnable`` N)."""
    (symbol,) = need(kiwoom, api_id, body, "stk_cd")
    symbol = m.parse_symbol(symbol)
    if not kiwoom.venue.list_symbol(symbol):
        raise error(kiwoom, api_id, 1902, "종목정보가 존재하지 않습니다")
    inst = kiwoom.venue.instruments[symbol]
    code, name = _LISTINGS[(inst.market, inst.is_etf)]
    price = kiwoom.venue.price(symbol) or kiwoom.venue.reference(symbol)
    return {
        "code": symbol,
        "name": kiwoom.venue.names.get(symbol, symbol),
        "listCount": f"{10_000_000:016d}",
        "auditInfo": "정상",
        "regDay": "20000104",
        "lastPrice": f"{price:08d}",
        "state": "증거금40%|담보대출|신용가능",
        "marketCode": code,
        "marketName": name,
        "upName": "",
        "upSizeName": "",
        "companyClassName": "",
        "orderWarning": "0",
        "nxtEnable": "N",
    }


def minute_chart(kiwoom: FakeKiwoom, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
    (symbol, _scope) = need(kiwoom, api_id, body, "stk_cd", "tic_scope")
    symbol = m.parse_symbol(symbol)
    if not kiwoom.venue.list_symbol(symbol):
        raise error(kiwoom, api_id, 1902, "종목정보가 존재하지 않습니다")
    return {"stk_cd": symbol, "stk_min_pole_chart_qry": kiwoom.realtime.minute_bars(symbol)}


# ka10100 (marketCode, marketName) by (market, ETF): what Kiwoom lists its kinds as
_LISTINGS: dict[tuple[Market, bool], tuple[str, str]] = {
    (Market.KOSPI, False): ("0", "거래소"),
    (Market.KOSDAQ, False): ("10", "코스닥"),
    (Market.KONEX, False): ("50", "코넥스"),
    (Market.KOSPI, True): ("8", "ETF"),
    (Market.KOSDAQ, True): ("8", "ETF"),
    (Market.KONEX, True): ("8", "ETF"),
}
