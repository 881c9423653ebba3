"""Kiwoom JSON ↔ QTS values. No I/O.

Kiwoom sends numbers as strings, zero-padded (``"000000010000000"``), signed (``"+71000"``,
``"-3780"``: the sign of a price is its direction against the previous close, not part of the
price), sometimes with thousands separators and a zero fraction (``"+001,002.0"``). Stock codes
in account answers carry an ``A`` prefix (``"A005930"``). Times come as ``HHMMSS`` or
``HH:MM:SS``. Field names stay as Kiwoom spells them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from qts.brokers.base import OrderRequest
from qts.core.errors import InputError
from qts.core.time import KST
from qts.model.enums import OrderSide, OrderType

SOURCE = "kiwoom reply"

# api-ids used by the adapter (brokers-and-sheets-wire §2.3, §2.4)
TOKEN, REVOKE = "au10001", "au10002"
BUY, SELL, MODIFY, CANCEL = "kt10000", "kt10001", "kt10002", "kt10003"
DEPOSIT, BALANCE, ORDERS_FILLS = "kt00001", "kt00018", "kt00009"
OPEN_ORDERS, EXECUTIONS, ACCOUNTS, STOCK_INFO = "ka10075", "ka10076", "ka00001", "ka10001"
MINUTE_CHART = "ka10080"
STOCK_LISTING = "ka10100"  # 종목정보 조회: the listing record, with the market (marketCode)
CHART_PATH = "/api/dostk/chart"

TOKEN_PATH, REVOKE_PATH = "/oauth2/token", "/oauth2/revoke"
ORDER_PATH, ACCOUNT_PATH, STOCK_INFO_PATH = (
    "/api/dostk/ordr",
    "/api/dostk/acnt",
    "/api/dostk/stkinfo",
)

# trde_tp (매매구분) codes QTS sends; the rest of §2.3's list is not used
TRDE_LIMIT, TRDE_MARKET = "0", "3"


# ---------------------------------------------------------------------------------- numbers


def parse_int(value: object, field: str, *, blank: int | None = 0) -> int:
    """An integer from Kiwoom's number formats; ``blank`` for ``""``/missing (None: error).

    A fraction is accepted only when it is zero (``"1,002.00"``): money and quantities are
    whole numbers, and a non-zero fraction means the field is not what we think it is.
    """
    if isinstance(value, bool):
        raise InputError(SOURCE, field, f"expected a number, got {value!r}")
    if isinstance(value, int):
        return value
    if value is None:
        text = ""
    elif isinstance(value, float):
        if not value.is_integer():
            raise InputError(SOURCE, field, f"expected a whole number, got {value!r}")
        return int(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise InputError(SOURCE, field, f"expected a number, got {type(value).__name__}")
    if not text:
        if blank is None:
            raise InputError(SOURCE, field, "is empty")
        return blank
    sign = 1
    if text[0] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:].strip()
    text = text.replace(",", "")
    whole, _, frac = text.partition(".")
    if not whole:
        whole = "0"
    if not whole.isdigit() or (frac and (not frac.isdigit() or int(frac) != 0)):
        raise InputError(SOURCE, field, f"expected a whole number, got {value!r}")
    return sign * int(whole)


def parse_amount(value: object, field: str) -> int:
    """A quantity or price: the magnitude (Kiwoom's sign is a direction marker)."""
    return abs(parse_int(value, field))


def parse_symbol(value: object, field: str = "stk_cd") -> str:
    """``"A005930"`` → ``"005930"``; ``"005930_NX"`` keeps its venue suffix."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(SOURCE, field, f"expected a stock code, got {value!r}")
    text = value.strip()
    if len(text) == 7 and text[0] in "AJQ" and text[1:].isalnum():
        text = text[1:]
    return text


def parse_hms(value: object, field: str) -> time:
    """``"101530"`` or ``"10:15:30"`` (or ``YYYYMMDDHHMMSS``) → a time of day."""
    text = str(value or "").strip().replace(":", "")
    if len(text) == 14 and text.isdigit():
        text = text[8:]
    if len(text) != 6 or not text.isdigit():
        raise InputError(SOURCE, field, f"expected HHMMSS, got {value!r}")
    try:
        return time(int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError as exc:
        raise InputError(SOURCE, field, f"not a time of day: {value!r}") from exc


def parse_expires_dt(value: object) -> datetime:
    """``expires_dt`` of a token: local (KST) ``yyyyMMddHHmmss``."""
    text = str(value or "").strip()
    try:
        naive = datetime.strptime(text, "%Y%m%d%H%M%S")  # noqa: DTZ007 - KST attached below
    except ValueError as exc:
        raise InputError(SOURCE, "expires_dt", f"expected yyyyMMddHHmmss, got {value!r}") from exc
    return naive.replace(tzinfo=KST)


def format_expires_dt(ts: datetime) -> str:
    return ts.astimezone(KST).strftime("%Y%m%d%H%M%S")


def ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


# ---------------------------------------------------------------------------------- text codes


def side_of(io_tp_nm: object, field: str = "io_tp_nm") -> OrderSide:
    """주문구분 text (``"+매수"``, ``"현금매도"``, ``"매수정정"``...) → the side."""
    text = str(io_tp_nm or "")
    if "매수" in text:
        return OrderSide.BUY
    if "매도" in text:
        return OrderSide.SELL
    raise InputError(SOURCE, field, f"expected a buy/sell text, got {io_tp_nm!r}")


def type_of(trde_tp: object) -> OrderType:
    """매매구분 (``"보통"``, ``"시장가"``, or the codes ``"0"``/``"3"``) → the order type."""
    text = str(trde_tp or "").strip()
    if text in ("3", "13", "23") or "시장가" in text:
        return OrderType.MARKET
    return OrderType.LIMIT


class RowKind(StrEnum):
    """What an order row of the account inquiries is: a new order, a modify or a cancel."""

    NEW = "NEW"
    MODIFY = "MODIFY"
    CANCEL = "CANCEL"


def kind_of(row: Mapping[str, Any]) -> RowKind:
    text = " ".join(
        str(row.get(k, "")) for k in ("mdfy_cncl_tp", "mdfy_cncl", "io_tp_nm", "ord_stt")
    )
    if "취소" in text:
        return RowKind.CANCEL
    if "정정" in text:
        return RowKind.MODIFY
    return RowKind.NEW


def order_no(value: object, field: str = "ord_no") -> str:
    """An order number as Kiwoom prints it (7 digits); blank or all zeros → ``""``."""
    text = str(value or "").strip()
    if not text or set(text) == {"0"}:
        return ""
    if not text.isdigit():
        raise InputError(SOURCE, field, f"expected an order number, got {value!r}")
    return text.zfill(7)


# ---------------------------------------------------------------------------------- requests


def order_body(request: OrderRequest, exchange: str) -> dict[str, str]:
    """The body of ``kt10000`` (buy) / ``kt10001`` (sell)."""
    market = request.order_type is OrderType.MARKET
    return {
        "dmst_stex_tp": exchange,
        "stk_cd": request.symbol,
        "ord_qty": str(request.qty),
        "ord_uv": "" if market or request.limit_price is None else str(request.limit_price),
        "trde_tp": TRDE_MARKET if market else TRDE_LIMIT,
        "cond_uv": "",
    }


def order_api(side: OrderSide) -> str:
    return BUY if side is OrderSide.BUY else SELL


def modify_body(exchange: str, orig: str, symbol: str, qty: int, price: int) -> dict[str, str]:
    return {
        "dmst_stex_tp": exchange,
        "orig_ord_no": orig,
        "stk_cd": symbol,
        "mdfy_qty": str(qty),
        "mdfy_uv": str(price),
        "mdfy_cond_uv": "",
    }


def cancel_body(exchange: str, orig: str, symbol: str, qty: int = 0) -> dict[str, str]:
    """``cncl_qty`` ``"0"`` cancels everything still open."""
    return {"dmst_stex_tp": exchange, "orig_ord_no": orig, "stk_cd": symbol, "cncl_qty": str(qty)}


def orders_query(*, fills_only: bool, day: str = "") -> dict[str, str]:
    """``kt00009`` for ``day`` (``YYYYMMDD``; blank: Kiwoom's today): every order row (qry_tp
    0) or one row per execution (qry_tp 1)."""
    return {
        "stk_bond_tp": "1",
        "mrkt_tp": "0",
        "sell_tp": "0",
        "qry_tp": "1" if fills_only else "0",
        "dmst_stex_tp": "%",
        "ord_dt": day,
        "stk_cd": "",
        "fr_ord_no": "",
    }


OPEN_ORDERS_QUERY = {"all_stk_tp": "0", "trde_tp": "0", "stex_tp": "0", "stk_cd": ""}
EXECUTIONS_QUERY = {"qry_tp": "0", "sell_tp": "0", "stex_tp": "0", "stk_cd": "", "ord_no": ""}
DEPOSIT_QUERY = {"qry_tp": "3"}


def balance_query(exchange: str) -> dict[str, str]:
    return {"qry_tp": "1", "dmst_stex_tp": "KRX" if exchange == "SOR" else exchange}


# ---------------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class OrderRow:
    """One row of ``kt00009`` qry_tp 0: an order, a modify or a cancel, with its fills so far."""

    ord_no: str
    orig_ord_no: str
    kind: RowKind
    symbol: str
    side: OrderSide
    order_type: OrderType
    qty: int
    price: int
    confirmed_qty: int
    filled_qty: int
    refused: bool


@dataclass(frozen=True, slots=True)
class FillRow:
    """One execution (``kt00009`` qry_tp 1)."""

    ord_no: str
    cntr_no: str
    symbol: str
    side: OrderSide
    qty: int
    price: int
    at: time


@dataclass(frozen=True, slots=True)
class OpenRow:
    """One open order (``ka10075``)."""

    ord_no: str
    orig_ord_no: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    qty: int
    price: int
    open_qty: int
    filled_qty: int


@dataclass(frozen=True, slots=True)
class ExecRow:
    """Per-order execution totals with today's fees (``ka10076``)."""

    ord_no: str
    filled_qty: int
    commission: int
    tax: int


def order_row(row: Mapping[str, Any]) -> OrderRow:
    accept = str(row.get("acpt_tp", ""))
    return OrderRow(
        ord_no=order_no(row.get("ord_no")),
        orig_ord_no=order_no(row.get("orig_ord_no"), "orig_ord_no"),
        kind=kind_of(row),
        symbol=parse_symbol(row.get("stk_cd")),
        side=side_of(row.get("io_tp_nm")),
        order_type=type_of(row.get("trde_tp")),
        qty=parse_amount(row.get("ord_qty"), "ord_qty"),
        price=parse_amount(row.get("ord_uv"), "ord_uv"),
        confirmed_qty=parse_amount(row.get("cnfm_qty"), "cnfm_qty"),
        filled_qty=parse_amount(row.get("cntr_qty"), "cntr_qty"),
        refused="거부" in accept,
    )


def fill_row(row: Mapping[str, Any]) -> FillRow:
    return FillRow(
        ord_no=order_no(row.get("ord_no")),
        cntr_no=str(row.get("cntr_no", "")).strip(),
        symbol=parse_symbol(row.get("stk_cd")),
        side=side_of(row.get("io_tp_nm")),
        qty=parse_amount(row.get("cntr_qty"), "cntr_qty"),
        price=parse_amount(row.get("cntr_uv"), "cntr_uv"),
        at=parse_hms(row.get("cntr_tm"), "cntr_tm"),
    )


def open_row(row: Mapping[str, Any]) -> OpenRow:
    return OpenRow(
        ord_no=order_no(row.get("ord_no")),
        orig_ord_no=order_no(row.get("orig_ord_no"), "orig_ord_no"),
        symbol=parse_symbol(row.get("stk_cd")),
        side=side_of(row.get("io_tp_nm")),
        order_type=type_of(row.get("trde_tp")),
        qty=parse_amount(row.get("ord_qty"), "ord_qty"),
        price=parse_amount(row.get("ord_pric"), "ord_pric"),
        open_qty=parse_amount(row.get("oso_qty"), "oso_qty"),
        filled_qty=parse_amount(row.get("cntr_qty"), "cntr_qty"),
    )


def exec_row(row: Mapping[str, Any]) -> ExecRow:
    return ExecRow(
        ord_no=order_no(row.get("ord_no")),
        filled_qty=parse_amount(row.get("cntr_qty"), "cntr_qty"),
        commission=parse_amount(row.get("tdy_trde_cmsn"), "tdy_trde_cmsn"),
        tax=parse_amount(row.get("tdy_trde_tax"), "tdy_trde_tax"),
    )


def holdings(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """``kt00018`` ``acnt_evlt_remn_indv_tot`` rows → symbol: shares held (보유수량)."""
    out: dict[str, int] = {}
    for row in rows:
        qty = parse_amount(row.get("rmnd_qty"), "rmnd_qty")
        if qty:
            symbol = parse_symbol(row.get("stk_cd"))
            out[symbol] = out.get(symbol, 0) + qty
    return out


def cash(body: Mapping[str, Any]) -> int:
    """``kt00001``: the D+2 estimated deposit (d+2추정예수금), the cash QTS books against —
    like the simulator's one cash number, it already counts today's trades."""
    if "d2_entra" in body:
        return parse_int(body.get("d2_entra"), "d2_entra")
    return parse_int(body.get("entr"), "entr", blank=None)
