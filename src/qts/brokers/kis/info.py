"""What KIS says a product is: its name (search-info, CTPF1604R) and market (inquire-price).

search-info (상품기본조회) answers a KRX stock under ``PRDT_TYPE_CD`` 300 with its short name
(``prdt_abrv_name``) and classification (``prdt_clsf_name``: 주권, ETF, …); ``rt_cd`` 7 means
no such product. inquire-price's ``rprs_mrkt_kor_name`` names the representative market
(``KOSPI200``, ``KOSPI``, ``KOSDAQ``, ``KSQ150``, …), which tells KOSPI from KOSDAQ.
"""

from __future__ import annotations

from dataclasses import dataclass

from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.errors import KisError, ProtocolError
from qts.brokers.kis.mapping import quote_params
from qts.brokers.kis.rest import KisRestClient
from qts.model.instrument import Instrument, Market, SecurityType


@dataclass(frozen=True, slots=True)
class ProductInfo:
    symbol: str
    name: str
    etf: bool


def product_info(rest: KisRestClient, symbol: str) -> ProductInfo:
    """search-info for a KRX stock; raises a KisError when KIS knows no such product."""
    res = rest.get(ep.SEARCH_INFO, {"PDNO": symbol, "PRDT_TYPE_CD": ep.PRDT_TYPE_STOCK})
    out = res.body.get("output")
    if not isinstance(out, dict):
        raise ProtocolError("KIS search-info: no output")
    name = str(out.get("prdt_abrv_name") or out.get("prdt_name") or "").strip()
    return ProductInfo(symbol, name, "ETF" in str(out.get("prdt_clsf_name", "")).upper())


def market_of(rest: KisRestClient, symbol: str) -> Market:
    """KOSDAQ or KOSPI, from inquire-price's representative market name."""
    out = rest.get(ep.PRICE, quote_params(symbol)).body.get("output")
    if not isinstance(out, dict):
        raise ProtocolError("KIS inquire-price: no output")
    name = str(out.get("rprs_mrkt_kor_name", "")).upper()
    return Market.KOSDAQ if ("KOSDAQ" in name or "KSQ" in name) else Market.KOSPI


def instrument(rest: KisRestClient, symbol: str) -> Instrument:
    """The instrument as KIS describes it (name from search-info when KIS serves it)."""
    market = market_of(rest, symbol)
    try:
        info: ProductInfo | None = product_info(rest, symbol)
    except KisError:
        info = None  # e.g. a server without search-info: the code is the name
    kind = SecurityType.ETF if info is not None and info.etf else SecurityType.STOCK
    return Instrument(symbol, market, kind, (info.name if info else "") or symbol)


def index_value(rest: KisRestClient, code: str, day: str) -> float:
    """The current value of index ``code`` (inquire-daily-indexchartprice, output1
    ``bstp_nmix_prpr``) on trading day ``day`` (YYYYMMDD)."""
    params = {
        "FID_COND_MRKT_DIV_CODE": "U",
        "FID_INPUT_ISCD": code,
        "FID_INPUT_DATE_1": day,
        "FID_INPUT_DATE_2": day,
        "FID_PERIOD_DIV_CODE": "D",
    }
    out = rest.get(ep.INDEX_DAILY, params).body.get("output1")
    if not isinstance(out, dict):
        raise ProtocolError("KIS inquire-daily-indexchartprice: no output1")
    raw = str(out.get("bstp_nmix_prpr", "")).strip()
    try:
        return float(raw)
    except ValueError:
        raise ProtocolError(f"KIS index {code}: bstp_nmix_prpr {raw!r} is not a number") from None


__all__ = ["ProductInfo", "index_value", "instrument", "market_of", "product_info"]
