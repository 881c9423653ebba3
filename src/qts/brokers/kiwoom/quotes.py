"""Kiwoom quote inquiries the live path needs: ka10001 (주식기본정보), ka10100 (종목정보 조회)
and ka10080 (분봉).

ka10001 gives a symbol's name, last price and base price (the previous close, the day's price
limits' reference); it carries no market. ka10100 gives the symbol's listing record, the same
camelCase record as a row of the ka10099 master list (``code``, ``name``, ``marketCode``,
``marketName``, ``upName``, ``nxtEnable``, ...), whose ``marketCode`` is the kind of listing:
``0`` 거래소 (KOSPI), ``10`` 코스닥, ``50`` 코넥스, ``8`` ETF (listed on KOSPI), and others
(ETN ``60``/``70``/``90``, 리츠 ``6``, ...). ka10080 gives today's one-minute bars; the newest
bar's ``cntr_tm`` date is the venue's trading date, which Kiwoom's real-time prints (time only)
do not carry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.errors import KiwoomProtocolError
from qts.brokers.kiwoom.rest import KiwoomRestClient
from qts.core.errors import InputError
from qts.model.instrument import Instrument, Market, SecurityType

log = logging.getLogger(__name__)

# ka10100 marketCode -> (market, kind); other codes are read from marketName (listing_kind)
MARKET_CODES: dict[str, tuple[Market, SecurityType]] = {
    "0": (Market.KOSPI, SecurityType.STOCK),
    "10": (Market.KOSDAQ, SecurityType.STOCK),
    "50": (Market.KONEX, SecurityType.STOCK),
    "8": (Market.KOSPI, SecurityType.ETF),
}
MARKET_NAMES: dict[str, Market] = {
    "거래소": Market.KOSPI,
    "코스피": Market.KOSPI,
    "코스닥": Market.KOSDAQ,
    "코넥스": Market.KONEX,
}


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


@dataclass(frozen=True, slots=True)
class Listing:
    """The parts of ka10100's record QTS uses."""

    symbol: str
    name: str
    market_code: str  # marketCode: the kind of listing (0 KOSPI, 10 KOSDAQ, 8 ETF, ...)
    market_name: str  # marketName: 거래소, 코스닥, ETF, ...


def listing(rest: KiwoomRestClient, symbol: str) -> Listing:
    """ka10100 for ``symbol``."""
    body = rest.call(m.STOCK_INFO_PATH, m.STOCK_LISTING, {"stk_cd": symbol}, idempotent=True).body
    try:
        code = m.parse_symbol(body.get("code") or symbol)
    except InputError as exc:
        raise KiwoomProtocolError(f"kiwoom ka10100: {exc}", api_id=m.STOCK_LISTING) from exc
    return Listing(
        symbol=code,
        name=str(body.get("name") or "").strip(),
        market_code=str(body.get("marketCode") or "").strip(),
        market_name=str(body.get("marketName") or "").strip(),
    )


def listing_kind(found: Listing) -> tuple[Market, SecurityType] | None:
    """The market and kind ka10100 names, or None when its code and name are not ones QTS
    trades as a stock or an ETF of KOSPI, KOSDAQ or KONEX (the caller decides)."""
    known = MARKET_CODES.get(found.market_code)
    if known is not None:
        return known
    market = MARKET_NAMES.get(found.market_name)
    return (market, SecurityType.STOCK) if market is not None else None


def instrument(rest: KiwoomRestClient, symbol: str, name: str = "") -> Instrument:
    """``symbol`` as Kiwoom lists it (ka10100): market, stock or ETF, and its name (``name``,
    e.g. ka10001's, wins when given). A listing QTS does not know (an ETN, a REIT, ...) is
    taken as a KOSPI stock, with a warning naming what Kiwoom said."""
    found = listing(rest, symbol)
    kind = listing_kind(found)
    if kind is None:
        log.warning(
            "kiwoom ka10100: %s is listed as %r (marketCode %s): traded as a KOSPI stock",
            symbol,
            found.market_name,
            found.market_code,
        )
        kind = (Market.KOSPI, SecurityType.STOCK)
    market, security = kind
    return Instrument(symbol, market, security, name or found.name or symbol)


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


__all__ = [
    "Listing",
    "StockInfo",
    "average_prices",
    "instrument",
    "listing",
    "listing_kind",
    "stock_info",
    "trading_date",
]
