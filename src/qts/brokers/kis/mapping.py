"""KIS wire shapes ↔ QTS domain values.

KIS sends every number as a string (often zero-padded), dates as ``YYYYMMDD`` and times as
``HHMMSS`` in KST. Parsing is strict where money is concerned: a price or quantity that is not
a whole number raises :class:`ProtocolError` instead of being guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from qts.brokers.base import OrderRequest
from qts.brokers.kis.config import KisConfig
from qts.brokers.kis.endpoints import ORD_DVSN_LIMIT, ORD_DVSN_MARKET, SIDE_BUY, SIDE_SELL
from qts.brokers.kis.errors import ProtocolError
from qts.core.time import KST
from qts.model.enums import OrderSide, OrderType

# ---------------------------------------------------------------------------- scalars


def to_int(value: Any, what: str = "number") -> int:
    """A KIS numeric string ("000070000", "70000", "70000.0000") as an int; "" is 0."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text:
        return 0
    try:
        if "." in text:
            whole, _, frac = text.partition(".")
            if frac.strip("0"):
                raise ProtocolError(f"KIS {what}: {text!r} is not a whole number")
            text = whole or "0"
        return int(text)
    except ValueError:
        raise ProtocolError(f"KIS {what}: {text!r} is not a number") from None


def kis_date(d: date) -> str:
    return d.strftime("%Y%m%d")


def parse_date(text: str) -> date:
    try:
        return datetime.strptime(text.strip(), "%Y%m%d").date()  # noqa: DTZ007 - a date only
    except ValueError:
        raise ProtocolError(f"KIS date {text!r} is not YYYYMMDD") from None


def kis_time(ts: datetime) -> str:
    return ts.astimezone(KST).strftime("%H%M%S")


def at_kst(day: date, hhmmss: str) -> datetime:
    """The KST instant of ``HHMMSS`` on ``day``."""
    text = hhmmss.strip().rjust(6, "0")[:6]
    try:
        t = time(int(text[0:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise ProtocolError(f"KIS time {hhmmss!r} is not HHMMSS") from None
    return datetime.combine(day, t, tzinfo=KST)


def side_code(side: OrderSide) -> str:
    return SIDE_BUY if side is OrderSide.BUY else SIDE_SELL


def side_of(code: str) -> OrderSide:
    code = code.strip()
    if code == SIDE_BUY:
        return OrderSide.BUY
    if code == SIDE_SELL:
        return OrderSide.SELL
    raise ProtocolError(f"KIS side code {code!r} is neither 01 (sell) nor 02 (buy)")


def order_type_of(ord_dvsn: str) -> OrderType:
    """MARKET for the market-like codes (01, 13, 14), LIMIT for everything priced."""
    return OrderType.MARKET if ord_dvsn.strip() in ("01", "13", "14") else OrderType.LIMIT


# ---------------------------------------------------------------------------- request bodies


def order_cash_body(config: KisConfig, req: OrderRequest) -> dict[str, str]:
    """The order-cash body (upper-case keys; buy/sell is chosen by the TR id)."""
    market = req.order_type is OrderType.MARKET
    body = {
        "CANO": config.cano.get_secret_value(),
        "ACNT_PRDT_CD": config.acnt_prdt_cd,
        "PDNO": req.symbol,
        "ORD_DVSN": ORD_DVSN_MARKET if market else ORD_DVSN_LIMIT,
        "ORD_QTY": str(req.qty),
        "ORD_UNPR": "0" if market else str(req.limit_price or 0),
    }
    if not config.legacy_tr_ids:
        body["EXCG_ID_DVSN_CD"] = "KRX"
        body["SLL_TYPE"] = "01" if req.side is OrderSide.SELL else ""
        body["CNDT_PRIC"] = ""
    return body


def rvsecncl_body(
    config: KisConfig,
    *,
    orgno: str,
    odno: str,
    ord_dvsn: str,
    cancel: bool,
    qty: int,
    price: int,
    all_qty: bool,
) -> dict[str, str]:
    """The order-rvsecncl body: revise (01) or cancel (02), all remaining or ``qty``."""
    body = {
        "CANO": config.cano.get_secret_value(),
        "ACNT_PRDT_CD": config.acnt_prdt_cd,
        "KRX_FWDG_ORD_ORGNO": orgno,
        "ORGN_ODNO": odno,
        "ORD_DVSN": ord_dvsn,
        "RVSE_CNCL_DVSN_CD": "02" if cancel else "01",
        "ORD_QTY": "0" if all_qty else str(qty),
        "ORD_UNPR": "0" if cancel else str(price),
        "QTY_ALL_ORD_YN": "Y" if all_qty else "N",
    }
    if not config.legacy_tr_ids:
        body["EXCG_ID_DVSN_CD"] = "KRX"
        body["CNDT_PRIC"] = ""
    return body


def account_params(config: KisConfig) -> dict[str, str]:
    return {"CANO": config.cano.get_secret_value(), "ACNT_PRDT_CD": config.acnt_prdt_cd}


def daily_ccld_params(config: KisConfig, day: date, symbol: str = "") -> dict[str, str]:
    """inquire-daily-ccld for one day, every order (filled or not), oldest first."""
    d = kis_date(day)
    params = account_params(config) | {
        "INQR_STRT_DT": d,
        "INQR_END_DT": d,
        "SLL_BUY_DVSN_CD": "00",
        "INQR_DVSN": "01",
        "PDNO": symbol,
        "CCLD_DVSN": "00",
        "ORD_GNO_BRNO": "",
        "ODNO": "",
        "INQR_DVSN_3": "00",
        "INQR_DVSN_1": "",
    }
    if not config.legacy_tr_ids:
        params["EXCG_ID_DVSN_CD"] = "KRX"
    return params


def balance_params(config: KisConfig) -> dict[str, str]:
    return account_params(config) | {
        "AFHR_FLPR_YN": "N",
        "OFL_YN": "",
        "INQR_DVSN": "02",
        "UNPR_DVSN": "01",
        "FUND_STTL_ICLD_YN": "N",
        "FNCG_AMT_AUTO_RDPT_YN": "N",
        "PRCS_DVSN": "00",
    }


def quote_params(symbol: str) -> dict[str, str]:
    return {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": symbol}


# ---------------------------------------------------------------------------- inquiry rows


@dataclass(frozen=True, slots=True)
class CcldRow:
    """One row of inquire-daily-ccld ``output1``: an order, a revision or a cancel record."""

    ord_dt: date
    orgno: str
    odno: str
    orgn_odno: str
    side: OrderSide
    symbol: str
    ord_dvsn: str
    ord_qty: int
    ord_unpr: int
    ord_tmd: str
    tot_ccld_qty: int
    tot_ccld_amt: int
    rmn_qty: int
    rjct_qty: int
    cnc_cfrm_qty: int
    cancel: bool  # a cancel record (cncl_yn "Y")
    infm_tmd: str

    @property
    def key(self) -> tuple[date, str]:
        return (self.ord_dt, self.odno)

    @property
    def is_original(self) -> bool:
        return not self.orgn_odno.strip("0 ")


def ccld_row(raw: Mapping[str, Any]) -> CcldRow:
    def s(key: str) -> str:
        return str(raw.get(key, "") or "").strip()

    return CcldRow(
        ord_dt=parse_date(s("ord_dt")),
        orgno=s("ord_gno_brno"),
        odno=s("odno"),
        orgn_odno=s("orgn_odno"),
        side=side_of(s("sll_buy_dvsn_cd")),
        symbol=s("pdno"),
        ord_dvsn=s("ord_dvsn_cd") or ORD_DVSN_LIMIT,
        ord_qty=to_int(raw.get("ord_qty"), "ord_qty"),
        ord_unpr=to_int(raw.get("ord_unpr"), "ord_unpr"),
        ord_tmd=s("ord_tmd"),
        tot_ccld_qty=to_int(raw.get("tot_ccld_qty"), "tot_ccld_qty"),
        tot_ccld_amt=to_int(raw.get("tot_ccld_amt"), "tot_ccld_amt"),
        rmn_qty=to_int(raw.get("rmn_qty"), "rmn_qty"),
        rjct_qty=to_int(raw.get("rjct_qty"), "rjct_qty"),
        cnc_cfrm_qty=to_int(raw.get("cnc_cfrm_qty"), "cnc_cfrm_qty"),
        cancel=s("cncl_yn").upper() == "Y",
        infm_tmd=s("infm_tmd"),
    )


@dataclass(frozen=True, slots=True)
class Holding:
    symbol: str
    name: str
    qty: int
    orderable_qty: int
    avg_price: float
    purchase_amount: int
    last_price: int
    eval_amount: int
    eval_pnl: int


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """inquire-balance ``output2``: deposits as KIS shows them."""

    deposit: int  # dnca_tot_amt: 예수금 총액 (T+0)
    next_day: int  # nxdy_excc_amt: D+1
    d2: int  # prvs_rcdl_excc_amt: D+2 예수금 — the cash QTS books against
    securities_eval: int  # scts_evlu_amt
    total_eval: int  # tot_evlu_amt
    net_assets: int  # nass_amt


def holding(raw: Mapping[str, Any]) -> Holding:
    return Holding(
        symbol=str(raw.get("pdno", "")).strip(),
        name=str(raw.get("prdt_name", "")).strip(),
        qty=to_int(raw.get("hldg_qty"), "hldg_qty"),
        orderable_qty=to_int(raw.get("ord_psbl_qty"), "ord_psbl_qty"),
        avg_price=float(str(raw.get("pchs_avg_pric", "0") or "0")),
        purchase_amount=to_int(raw.get("pchs_amt"), "pchs_amt"),
        last_price=to_int(raw.get("prpr"), "prpr"),
        eval_amount=to_int(raw.get("evlu_amt"), "evlu_amt"),
        eval_pnl=to_int(raw.get("evlu_pfls_amt"), "evlu_pfls_amt"),
    )


def account_summary(raw: Mapping[str, Any]) -> AccountSummary:
    return AccountSummary(
        deposit=to_int(raw.get("dnca_tot_amt"), "dnca_tot_amt"),
        next_day=to_int(raw.get("nxdy_excc_amt"), "nxdy_excc_amt"),
        d2=to_int(raw.get("prvs_rcdl_excc_amt"), "prvs_rcdl_excc_amt"),
        securities_eval=to_int(raw.get("scts_evlu_amt"), "scts_evlu_amt"),
        total_eval=to_int(raw.get("tot_evlu_amt"), "tot_evlu_amt"),
        net_assets=to_int(raw.get("nass_amt"), "nass_amt"),
    )


@dataclass(frozen=True, slots=True)
class Quote:
    """inquire-price: the useful part of ``output``."""

    symbol: str
    last: int
    open: int
    high: int
    low: int
    volume: int
    upper_limit: int
    lower_limit: int
    base_price: int
    tick: int


def quote(symbol: str, raw: Mapping[str, Any]) -> Quote:
    return Quote(
        symbol=symbol,
        last=to_int(raw.get("stck_prpr"), "stck_prpr"),
        open=to_int(raw.get("stck_oprc"), "stck_oprc"),
        high=to_int(raw.get("stck_hgpr"), "stck_hgpr"),
        low=to_int(raw.get("stck_lwpr"), "stck_lwpr"),
        volume=to_int(raw.get("acml_vol"), "acml_vol"),
        upper_limit=to_int(raw.get("stck_mxpr"), "stck_mxpr"),
        lower_limit=to_int(raw.get("stck_llam"), "stck_llam"),
        base_price=to_int(raw.get("stck_sdpr"), "stck_sdpr"),
        tick=to_int(raw.get("aspr_unit"), "aspr_unit"),
    )


@dataclass(frozen=True, slots=True)
class OrderBook:
    """Ten price levels a side, best first: (price, quantity)."""

    symbol: str
    asks: tuple[tuple[int, int], ...]
    bids: tuple[tuple[int, int], ...]
    time: str = ""


def order_book(symbol: str, raw: Mapping[str, Any]) -> OrderBook:
    asks, bids = [], []
    for i in range(1, 11):
        ap, aq = to_int(raw.get(f"askp{i}")), to_int(raw.get(f"askp_rsqn{i}"))
        bp, bq = to_int(raw.get(f"bidp{i}")), to_int(raw.get(f"bidp_rsqn{i}"))
        if ap:
            asks.append((ap, aq))
        if bp:
            bids.append((bp, bq))
    return OrderBook(symbol, tuple(asks), tuple(bids), str(raw.get("aspr_acpt_hour", "")))


# ---------------------------------------------------------------------------- WebSocket

TRADE_FIELDS: tuple[str, ...] = (
    "MKSC_SHRN_ISCD", "STCK_CNTG_HOUR", "STCK_PRPR", "PRDY_VRSS_SIGN", "PRDY_VRSS", "PRDY_CTRT",
    "WGHN_AVRG_STCK_PRC", "STCK_OPRC", "STCK_HGPR", "STCK_LWPR", "ASKP1", "BIDP1", "CNTG_VOL",
    "ACML_VOL", "ACML_TR_PBMN", "SELN_CNTG_CSNU", "SHNU_CNTG_CSNU", "NTBY_CNTG_CSNU", "CTTR",
    "SELN_CNTG_SMTN", "SHNU_CNTG_SMTN", "CCLD_DVSN", "SHNU_RATE", "PRDY_VOL_VRSS_ACML_VOL_RATE",
    "OPRC_HOUR", "OPRC_VRSS_PRPR_SIGN", "OPRC_VRSS_PRPR", "HGPR_HOUR", "HGPR_VRSS_PRPR_SIGN",
    "HGPR_VRSS_PRPR", "LWPR_HOUR", "LWPR_VRSS_PRPR_SIGN", "LWPR_VRSS_PRPR", "BSOP_DATE",
    "NEW_MKOP_CLS_CODE", "TRHT_YN", "ASKP_RSQN1", "BIDP_RSQN1", "TOTAL_ASKP_RSQN",
    "TOTAL_BIDP_RSQN", "VOL_TNRT", "PRDY_SMNS_HOUR_ACML_VOL", "PRDY_SMNS_HOUR_ACML_VOL_RATE",
    "HOUR_CLS_CODE", "MRKT_TRTM_CLS_CODE", "VI_STND_PRC",
)  # fmt: skip
BOOK_FIELDS: tuple[str, ...] = (
    "MKSC_SHRN_ISCD", "BSOP_HOUR", "HOUR_CLS_CODE",
    *(f"ASKP{i}" for i in range(1, 11)),
    *(f"BIDP{i}" for i in range(1, 11)),
    *(f"ASKP_RSQN{i}" for i in range(1, 11)),
    *(f"BIDP_RSQN{i}" for i in range(1, 11)),
    "TOTAL_ASKP_RSQN", "TOTAL_BIDP_RSQN", "OVTM_TOTAL_ASKP_RSQN", "OVTM_TOTAL_BIDP_RSQN",
    "ANTC_CNPR", "ANTC_CNQN", "ANTC_VOL", "ANTC_CNTG_VRSS", "ANTC_CNTG_VRSS_SIGN",
    "ANTC_CNTG_PRDY_CTRT", "ACML_VOL", "TOTAL_ASKP_RSQN_ICDC", "TOTAL_BIDP_RSQN_ICDC",
    "OVTM_TOTAL_ASKP_ICDC", "OVTM_TOTAL_BIDP_ICDC", "STCK_DEAL_CLS_CODE",
)  # fmt: skip
NOTICE_FIELDS: tuple[str, ...] = (
    "CUST_ID", "ACNT_NO", "ODER_NO", "OODER_NO", "SELN_BYOV_CLS", "RCTF_CLS", "ODER_KIND",
    "ODER_COND", "STCK_SHRN_ISCD", "CNTG_QTY", "CNTG_UNPR", "STCK_CNTG_HOUR", "RFUS_YN",
    "CNTG_YN", "ACPT_YN", "BRNC_NO", "ODER_QTY", "ACNT_NAME", "ORD_COND_PRC", "ORD_EXG_GB",
    "POPUP_YN", "FILLER", "CRDT_CLS", "CRDT_LOAN_DATE", "CNTG_ISNM40", "ODER_PRC",
)  # fmt: skip
assert len(TRADE_FIELDS) == 46 and len(BOOK_FIELDS) == 59 and len(NOTICE_FIELDS) == 26


def split_records(payload: str, width: int, count: int) -> list[list[str]]:
    """``count`` records of ``width`` ``^``-separated values from one data frame payload.

    Tolerates extra trailing fields when a single record is sent (newer layouts add some).
    """
    values = payload.split("^")
    if count <= 1:
        if len(values) < width:
            raise ProtocolError(f"KIS frame: {len(values)} fields, expected {width}")
        return [values]
    if len(values) < width * count:
        raise ProtocolError(f"KIS frame: {len(values)} fields, expected {width}×{count}")
    return [values[i * width : (i + 1) * width] for i in range(count)]


def as_dict(fields: Sequence[str], values: Sequence[str]) -> dict[str, str]:
    return dict(zip(fields, values, strict=False))


@dataclass(frozen=True, slots=True)
class FillNotice:
    """H0STCNI0/H0STCNI9, decrypted: an order acknowledgement (``CNTG_YN`` 1) or a fill (2)."""

    odno: str
    orgn_odno: str
    side: OrderSide
    rctf_cls: str  # 0 new, 1 revise, 2 cancel
    ord_kind: str
    symbol: str
    qty: int  # fill qty (fills); for acknowledgements KIS puts the order qty here or 0
    price: int
    hour: str
    refused: bool
    is_fill: bool
    acpt_yn: str
    branch: str
    order_qty: int
    order_price: int

    @property
    def is_cancel(self) -> bool:
        return self.rctf_cls == "2"

    @property
    def is_revise(self) -> bool:
        return self.rctf_cls == "1"


def fill_notice(values: Sequence[str]) -> FillNotice:
    v = as_dict(NOTICE_FIELDS, values)
    return FillNotice(
        odno=v["ODER_NO"].strip(),
        orgn_odno=v["OODER_NO"].strip(),
        side=side_of(v["SELN_BYOV_CLS"]),
        rctf_cls=v["RCTF_CLS"].strip(),
        ord_kind=v["ODER_KIND"].strip(),
        symbol=v["STCK_SHRN_ISCD"].strip(),
        qty=to_int(v["CNTG_QTY"], "CNTG_QTY"),
        price=to_int(v["CNTG_UNPR"], "CNTG_UNPR"),
        hour=v["STCK_CNTG_HOUR"].strip(),
        refused=v["RFUS_YN"].strip() == "1",
        is_fill=v["CNTG_YN"].strip() == "2",
        acpt_yn=v["ACPT_YN"].strip(),
        branch=v["BRNC_NO"].strip(),
        order_qty=to_int(v["ODER_QTY"], "ODER_QTY"),
        order_price=to_int(v.get("ODER_PRC", "0"), "ODER_PRC"),
    )


@dataclass(frozen=True, slots=True)
class TradeTick:
    """H0STCNT0: one trade print."""

    symbol: str
    hour: str
    price: int
    volume: int
    cum_volume: int
    ask1: int
    bid1: int
    bsop_date: str = ""  # BSOP_DATE, the business date (YYYYMMDD) of the print


def trade_tick(values: Sequence[str]) -> TradeTick:
    v = as_dict(TRADE_FIELDS, values)
    return TradeTick(
        symbol=v["MKSC_SHRN_ISCD"],
        hour=v["STCK_CNTG_HOUR"],
        price=to_int(v["STCK_PRPR"], "STCK_PRPR"),
        volume=to_int(v["CNTG_VOL"], "CNTG_VOL"),
        cum_volume=to_int(v["ACML_VOL"], "ACML_VOL"),
        ask1=to_int(v["ASKP1"], "ASKP1"),
        bid1=to_int(v["BIDP1"], "BIDP1"),
        bsop_date=v["BSOP_DATE"].strip(),
    )


def book_snapshot(values: Sequence[str]) -> OrderBook:
    v = as_dict(BOOK_FIELDS, values)
    asks = tuple(
        (to_int(v[f"ASKP{i}"]), to_int(v[f"ASKP_RSQN{i}"]))
        for i in range(1, 11)
        if to_int(v[f"ASKP{i}"])
    )
    bids = tuple(
        (to_int(v[f"BIDP{i}"]), to_int(v[f"BIDP_RSQN{i}"]))
        for i in range(1, 11)
        if to_int(v[f"BIDP{i}"])
    )
    return OrderBook(v["MKSC_SHRN_ISCD"], asks, bids, v["BSOP_HOUR"])
