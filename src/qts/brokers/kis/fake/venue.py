"""One KIS account at the fake: KIS order numbers and notices over a real SimBroker.

The SimBroker (the simulated KRX exchange) decides everything market-related — acceptance,
matching, partial fills, fees, cash, holdings, expiry. This layer adds what KIS adds on top:

* order numbers: every accepted order gets a 10-digit ``ODNO`` (and branch ``91252``); a
  revision gets a new ``ODNO`` whose ``ORGN_ODNO`` is the revised one, and the fills that follow
  are reported under it; a cancel is a record of its own (``cncl_yn`` Y);
* ``cnc_cfrm_qty`` on the revised/cancelled number, ``rmn_qty`` = ord − filled − moved;
  orders that simply expire at the close keep their ``rmn_qty`` (KIS does not zero it);
* fill notices (H0STCNI0/9 layout, 26 fields) for acceptance, revise, cancel, fill, refusal;
* KIS-style answers: numbers as strings, ``msg_cd``/``msg1`` for each refusal.

Rejection codes are the fake's own ``APBK9xxx`` (KIS's real codes are not published), except
``APBK0918`` (market closed). Partial *price* revisions (``QTY_ALL_ORD_YN`` N with code 01)
are refused with ``APBK9911``: the simulator keeps one price per order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from qts.brokers.base import Ack, OrderRequest, OrderUpdate
from qts.brokers.kis.endpoints import ORD_DVSN_LIMIT, ORD_DVSN_MARKET, ORD_DVSN_NAMES
from qts.brokers.kis.fake.credentials import FakeApp
from qts.brokers.sim import RejectCode, SimBroker, SimConfig
from qts.brokers.sim.bar_quotes import BarBook
from qts.core.clock import Clock
from qts.core.time import KST
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.fees import FeeModel
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill
from qts.model.instrument import Instrument

BRANCH = "91252"
REJECT_CODES: dict[str, tuple[str, str]] = {
    RejectCode.UNKNOWN_SYMBOL: ("APBK9005", "주문종목이 존재하지 않습니다."),
    RejectCode.INVALID_QTY: ("APBK9006", "주문수량을 확인하여 주십시오."),
    RejectCode.INVALID_PRICE: ("APBK9007", "주문단가를 확인하여 주십시오."),
    RejectCode.OFF_TICK: ("APBK9003", "호가단위에 맞지 않는 주문가격입니다."),
    RejectCode.OUTSIDE_PRICE_LIMIT: ("APBK9004", "상/하한가를 벗어난 주문가격입니다."),
    RejectCode.MARKET_CLOSED: ("APBK0918", "장운영시간이 아닙니다."),
    RejectCode.NO_REFERENCE_PRICE: ("APBK9009", "기준가가 없어 시장가 주문을 할 수 없습니다."),
    RejectCode.INSUFFICIENT_CASH: ("APBK9001", "주문가능금액을 초과 했습니다."),
    RejectCode.INSUFFICIENT_HOLDINGS: ("APBK9002", "주문가능수량을 초과 했습니다."),
    RejectCode.UNKNOWN_ORDER: ("APBK9008", "정정/취소할 원주문이 없습니다."),
}
INPUT_ERROR = ("APBK9900", "입력값을 확인하여 주십시오.")
ACCOUNT_ERROR = ("APBK9901", "계좌번호를 확인하여 주십시오.")
UNSUPPORTED_DVSN = ("APBK9910", "지원하지 않는 주문구분입니다.")
PARTIAL_REVISE = ("APBK9911", "부분 정정은 지원하지 않습니다. 전량 정정하십시오.")
ORDER_OK = ("APBK0013", "주문 전송 완료 되었습니다.")


class FakeRefusal(Exception):
    """A KIS refusal: ``rt_cd`` 1 with this ``msg_cd``/``msg1``."""

    def __init__(self, code: tuple[str, str]) -> None:
        self.msg_cd, self.msg1 = code
        super().__init__(f"{self.msg_cd} {self.msg1}")


@dataclass(slots=True)
class KisOrder:
    """One KIS order number: an order, a revision or a cancel record."""

    odno: str
    orgn_odno: str
    ord_dt: date
    ord_tmd: str
    symbol: str
    side: OrderSide
    ord_dvsn: str
    qty: int
    price: int
    kind: str  # order | revise | cancel
    sim_id: str
    filled_qty: int = 0
    filled_amt: int = 0
    moved_qty: int = 0  # cnc_cfrm_qty: cancelled or carried to a revision
    rejected_qty: int = 0
    last_fill_tmd: str = ""
    expired: bool = False

    @property
    def remaining(self) -> int:
        if self.kind == "cancel":
            return 0
        return self.qty - self.filled_qty - self.moved_qty - self.rejected_qty


@dataclass(slots=True)
class Position:
    qty: int = 0
    cost: int = 0  # purchase amount of the shares held (average-cost method)
    bought_today: int = 0
    sold_today: int = 0


@dataclass(slots=True)
class DayTotals:
    day: date | None = None
    buy_amt: int = 0
    sell_amt: int = 0
    fees: int = 0


@dataclass(slots=True)
class Notice:
    """A fill notice before encryption: the 26 fields, for the account's HTS id."""

    hts_id: str
    values: list[str] = field(default_factory=list)

    @property
    def payload(self) -> str:
        return "^".join(self.values)


def _n(value: int | float) -> str:
    return str(int(value))


class FakeAccount:
    """A KIS account backed by a SimBroker. Not thread-safe: the server's loop owns it."""

    def __init__(
        self,
        app: FakeApp,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        *,
        sim_config: SimConfig | None = None,
        fees: FeeModel | None = None,
        calendar: KrxCalendar | None = None,
        reference_prices: Mapping[str, int] | None = None,
        holdings: Mapping[str, int] | None = None,
        order_book: bool = False,
    ) -> None:
        self.app = app
        self.clock = clock
        self.instruments = dict(instruments)
        self.sim = SimBroker(
            instruments,
            clock,
            initial_cash=app.cash,
            holdings=holdings,
            config=sim_config or SimConfig(allow_reservation=False),
            fees=fees,
            calendar=calendar,
            reference_prices=reference_prices,
        )
        # quotes and prints for the order book (FakeKisOptions.order_book)
        self.book = BarBook(self.sim, instruments) if order_book else None
        self.orders: dict[str, KisOrder] = {}  # by ODNO, in order of creation
        self.live: dict[str, str] = {}  # sim order id -> the ODNO its fills are reported under
        self.positions: dict[str, Position] = {
            # holdings bought before the fake started: at their reference price
            s: Position(q, q * (reference_prices or {}).get(s, 0))
            for s, q in (holdings or {}).items()
            if q
        }
        self.totals = DayTotals()
        self._odno_seq = 0
        self._sim_seq = 0

    # ------------------------------------------------------------------ orders

    def order_cash(
        self, body: Mapping[str, Any], side: OrderSide
    ) -> tuple[dict[str, str], list[Notice]]:
        self._check_account(body)
        symbol = _field(body, "PDNO")
        dvsn = _field(body, "ORD_DVSN")
        qty = _int_field(body, "ORD_QTY")
        price = _int_field(body, "ORD_UNPR")
        if dvsn == ORD_DVSN_MARKET:
            otype, limit = OrderType.MARKET, None
        elif dvsn == ORD_DVSN_LIMIT:
            otype, limit = OrderType.LIMIT, price
        else:
            raise FakeRefusal(UNSUPPORTED_DVSN)
        self._sim_seq += 1
        sim_id = f"K{self._sim_seq:09d}"
        ack = self.sim.submit(OrderRequest(sim_id, symbol, side, otype, qty, limit))
        self._refuse_unless(ack)
        now = self.clock.now().astimezone(KST)
        order = self._new_order("", now, symbol, side, dvsn, qty, limit or 0, "order", sim_id)
        self.live[sim_id] = order.odno
        notices = [
            self._notice(order, cntg_yn="1", acpt_yn="1", rctf="0", qty=qty, price=order.price)
        ]
        notices += self.pump()
        return self._order_output(order, now), notices

    def rvsecncl(self, body: Mapping[str, Any]) -> tuple[dict[str, str], list[Notice]]:
        self._check_account(body)
        orig = self.orders.get(_field(body, "ORGN_ODNO").zfill(10))
        code = _field(body, "RVSE_CNCL_DVSN_CD")
        all_qty = _field(body, "QTY_ALL_ORD_YN", "Y").upper() == "Y"
        if code not in ("01", "02"):
            raise FakeRefusal(INPUT_ERROR)
        if orig is None or orig.kind == "cancel" or orig.remaining <= 0 or orig.expired:
            raise FakeRefusal(REJECT_CODES[RejectCode.UNKNOWN_ORDER])
        if self.live.get(orig.sim_id) != orig.odno:
            raise FakeRefusal(REJECT_CODES[RejectCode.UNKNOWN_ORDER])  # already revised
        sim_order = self.sim.exchange.sim_order(orig.sim_id)
        if sim_order is None or not sim_order.status.is_open:
            raise FakeRefusal(REJECT_CODES[RejectCode.UNKNOWN_ORDER])
        qty = orig.remaining if all_qty else _int_field(body, "ORD_QTY")
        if qty <= 0 or qty > orig.remaining:
            raise FakeRefusal(REJECT_CODES[RejectCode.INVALID_QTY])
        now = self.clock.now().astimezone(KST)
        if code == "02":
            if qty == orig.remaining:
                ack = self.sim.cancel(orig.sim_id)
            else:
                ack = self.sim.replace(orig.sim_id, sim_order.qty - qty, sim_order.limit_price)
            self._refuse_unless(ack)
            orig.moved_qty += qty
            rec = self._new_order(
                orig.odno, now, orig.symbol, orig.side, orig.ord_dvsn, qty, 0, "cancel", ""
            )
            notice = self._notice(rec, cntg_yn="1", acpt_yn="2", rctf="2", qty=qty, price=0)
        else:
            if not all_qty and qty != orig.remaining:
                raise FakeRefusal(PARTIAL_REVISE)
            dvsn = _field(body, "ORD_DVSN", orig.ord_dvsn)
            price = _int_field(body, "ORD_UNPR")
            if dvsn != ORD_DVSN_LIMIT or orig.ord_dvsn != ORD_DVSN_LIMIT:
                raise FakeRefusal(UNSUPPORTED_DVSN)
            ack = self.sim.replace(orig.sim_id, sim_order.qty, price)
            self._refuse_unless(ack)
            orig.moved_qty += qty
            rec = self._new_order(
                orig.odno, now, orig.symbol, orig.side, dvsn, qty, price, "revise", orig.sim_id
            )
            self.live[orig.sim_id] = rec.odno
            notice = self._notice(rec, cntg_yn="1", acpt_yn="2", rctf="1", qty=qty, price=price)
        return self._order_output(rec, now), [notice, *self.pump()]

    def pump(self) -> list[Notice]:
        """Turn the exchange's events (fills, later refusals) into KIS records and notices."""
        notices: list[Notice] = []
        for event in self.sim.drain_events():
            if isinstance(event, Fill):
                notices.append(self._on_fill(event))
            elif isinstance(event, OrderUpdate):
                odno = self.live.get(event.client_order_id)
                order = self.orders.get(odno or "")
                if order is None:
                    continue
                if event.status is OrderStatus.EXPIRED:
                    order.expired = True
                elif event.status is OrderStatus.REJECTED:
                    order.rejected_qty += order.remaining
                    notices.append(
                        self._notice(
                            order,
                            cntg_yn="1",
                            acpt_yn="1",
                            rctf="0",
                            qty=order.qty,
                            price=order.price,
                            refused=True,
                        )
                    )
        return notices

    def _on_fill(self, fill: Fill) -> Notice:
        order = self.orders[self.live[fill.client_order_id]]
        hour = fill.ts.astimezone(KST).strftime("%H%M%S")
        order.filled_qty += fill.qty
        order.filled_amt += fill.amount
        order.last_fill_tmd = hour
        pos = self.positions.setdefault(fill.symbol, Position())
        self._roll_day(fill.ts.astimezone(KST).date())
        if fill.side is OrderSide.BUY:
            pos.qty += fill.qty
            pos.cost += fill.amount
            pos.bought_today += fill.qty
            self.totals.buy_amt += fill.amount
        else:
            avg_cost = pos.cost * fill.qty // pos.qty if pos.qty else 0
            pos.qty -= fill.qty
            pos.cost = pos.cost - avg_cost if pos.qty else 0
            pos.sold_today += fill.qty
            self.totals.sell_amt += fill.amount
        self.totals.fees += fill.fees
        return self._notice(
            order,
            cntg_yn="2",
            acpt_yn="2",
            rctf=_rctf(order),
            qty=fill.qty,
            price=fill.price,
            hour=hour,
        )

    def _roll_day(self, day: date) -> None:
        if self.totals.day != day:
            self.totals = DayTotals(day)
            for pos in self.positions.values():
                pos.bought_today = pos.sold_today = 0

    # ------------------------------------------------------------------ inquiries

    def ccld_rows(self, params: Mapping[str, str]) -> tuple[list[dict[str, str]], dict[str, str]]:
        """inquire-daily-ccld ``output1`` rows (all pages) and ``output2``."""
        self._check_account(params)
        start = params.get("INQR_STRT_DT", "") or "00000000"
        end = params.get("INQR_END_DT", "") or "99999999"
        side = params.get("SLL_BUY_DVSN_CD", "00") or "00"
        symbol = params.get("PDNO", "")
        ccld = params.get("CCLD_DVSN", "00") or "00"
        odno = params.get("ODNO", "")
        rows: list[dict[str, str]] = []
        tot_qty = tot_ccld = tot_amt = 0
        for o in self.orders.values():
            ymd = o.ord_dt.strftime("%Y%m%d")
            if not start <= ymd <= end:
                continue
            if side == "01" and o.side is not OrderSide.SELL:
                continue
            if side == "02" and o.side is not OrderSide.BUY:
                continue
            if (symbol and o.symbol != symbol) or (odno and o.odno != odno.zfill(10)):
                continue
            if ccld == "01" and o.filled_qty == 0:
                continue
            if ccld == "02" and o.remaining == 0:
                continue
            rows.append(self._ccld_row(o))
            tot_qty += o.qty
            tot_ccld += o.filled_qty
            tot_amt += o.filled_amt
        if params.get("INQR_DVSN", "00") != "01":
            rows.reverse()  # 00: newest first
        avg = f"{tot_amt / tot_ccld:.4f}" if tot_ccld else "0.0000"
        out2 = {
            "tot_ord_qty": _n(tot_qty),
            "tot_ccld_qty": _n(tot_ccld),
            "tot_ccld_amt": _n(tot_amt),
            "prsm_tlex_smtl": _n(self.totals.fees),
            "pchs_avg_pric": avg,
        }
        return rows, out2

    def _ccld_row(self, o: KisOrder) -> dict[str, str]:
        inst = self.instruments.get(o.symbol)
        side_name = "매도" if o.side is OrderSide.SELL else "매수"
        if o.kind == "cancel":
            side_name += "취소"
        elif o.kind == "revise":
            side_name += "정정"
        avg = f"{o.filled_amt / o.filled_qty:.0f}" if o.filled_qty else "0"
        return {
            "ord_dt": o.ord_dt.strftime("%Y%m%d"),
            "ord_gno_brno": BRANCH,
            "odno": o.odno,
            "orgn_odno": o.orgn_odno,
            "ord_dvsn_name": ORD_DVSN_NAMES.get(o.ord_dvsn, ""),
            "sll_buy_dvsn_cd": "01" if o.side is OrderSide.SELL else "02",
            "sll_buy_dvsn_cd_name": side_name,
            "pdno": o.symbol,
            "prdt_name": (inst.name if inst else "") or o.symbol,
            "ord_qty": _n(o.qty),
            "ord_unpr": _n(o.price),
            "ord_tmd": o.ord_tmd,
            "tot_ccld_qty": _n(o.filled_qty),
            "avg_prvs": avg,
            "cncl_yn": "Y" if o.kind == "cancel" else "N",
            "tot_ccld_amt": _n(o.filled_amt),
            "loan_dt": "",
            "ordr_empno": "",
            "ord_dvsn_cd": o.ord_dvsn,
            "cnc_cfrm_qty": _n(o.moved_qty if o.kind != "cancel" else o.qty),
            "rmn_qty": _n(o.remaining),
            "rjct_qty": _n(o.rejected_qty),
            "ccld_cndt_name": "없음",
            "inqr_ip_addr": "",
            "cpbc_ordp_ord_rcit_dvsn_cd": "",
            "cpbc_ordp_infm_mthd_dvsn_cd": "",
            "infm_tmd": o.last_fill_tmd,
            "ctac_tlno": "",
            "prdt_type_cd": "300",
            "excg_dvsn_cd": "01",
            "cpbc_ordp_mtrl_dvsn_cd": "",
            "ord_orgno": BRANCH,
            "rsvn_ord_end_dt": "",
            "excg_id_dvsn_Cd": "KRX",
            "stpm_cndt_pric": "0",
            "stpm_efct_occr_dtmd": "",
        }

    def balance_rows(
        self, params: Mapping[str, str], last_prices: Mapping[str, int]
    ) -> tuple[list[dict[str, str]], dict[str, str]]:
        """inquire-balance ``output1`` (one row per holding, sold-out-today rows with 0) and
        the ``output2`` summary. Cash is the SimBroker's: one D+2 number (no settlement)."""
        self._check_account(params)
        self._roll_day(self.clock.now().astimezone(KST).date())
        account = self.sim.account
        rows: list[dict[str, str]] = []
        pchs_total = evlu_total = 0
        for symbol in sorted(self.positions):
            pos = self.positions[symbol]
            if pos.qty == 0 and not pos.sold_today and not pos.bought_today:
                continue
            inst = self.instruments.get(symbol)
            prpr = last_prices.get(symbol, 0)
            evlu = pos.qty * prpr
            pchs_total += pos.cost
            evlu_total += evlu
            avg = pos.cost / pos.qty if pos.qty else 0.0
            pfls = evlu - pos.cost
            rows.append(
                {
                    "pdno": symbol,
                    "prdt_name": (inst.name if inst else "") or symbol,
                    "trad_dvsn_name": "현금",
                    "bfdy_buy_qty": "0",
                    "bfdy_sll_qty": "0",
                    "thdt_buyqty": _n(pos.bought_today),
                    "thdt_sll_qty": _n(pos.sold_today),
                    "hldg_qty": _n(pos.qty),
                    "ord_psbl_qty": _n(account.sellable(symbol)),
                    "pchs_avg_pric": f"{avg:.4f}",
                    "pchs_amt": _n(pos.cost),
                    "prpr": _n(prpr),
                    "evlu_amt": _n(evlu),
                    "evlu_pfls_amt": _n(pfls),
                    "evlu_pfls_rt": f"{(pfls / pos.cost * 100) if pos.cost else 0:.2f}",
                    "evlu_erng_rt": "0.00000000",
                    "loan_dt": "",
                    "loan_amt": "0",
                    "stln_slng_chgs": "0",
                    "expd_dt": "",
                    "fltt_rt": "0.00000000",
                    "bfdy_cprs_icdc": "0",
                    "item_mgna_rt_name": "20%",
                    "grta_rt_name": "",
                    "sbst_pric": "0",
                    "stck_loan_unpr": "0.0000",
                }
            )
        cash = account.cash
        out2 = {
            "dnca_tot_amt": _n(cash),
            "nxdy_excc_amt": _n(cash),
            "prvs_rcdl_excc_amt": _n(cash),
            "cma_evlu_amt": "0",
            "bfdy_buy_amt": "0",
            "thdt_buy_amt": _n(self.totals.buy_amt),
            "nxdy_auto_rdpt_amt": "0",
            "bfdy_sll_amt": "0",
            "thdt_sll_amt": _n(self.totals.sell_amt),
            "d2_auto_rdpt_amt": "0",
            "bfdy_tlex_amt": "0",
            "thdt_tlex_amt": _n(self.totals.fees),
            "tot_loan_amt": "0",
            "scts_evlu_amt": _n(evlu_total),
            "tot_evlu_amt": _n(cash + evlu_total),
            "nass_amt": _n(cash + evlu_total),
            "fncg_gld_auto_rdpt_yn": "N",
            "pchs_amt_smtl_amt": _n(pchs_total),
            "evlu_amt_smtl_amt": _n(evlu_total),
            "evlu_pfls_smtl_amt": _n(evlu_total - pchs_total),
            "tot_stln_slng_chgs": "0",
            "bfdy_tot_asst_evlu_amt": _n(account.initial_cash),
            "asst_icdc_amt": _n(cash + evlu_total - account.initial_cash),
            "asst_icdc_erng_rt": "0.00000000",
        }
        return rows, out2

    def psbl_order(self, params: Mapping[str, str], last_price: int) -> dict[str, str]:
        """inquire-psbl-order: what a buy of ``PDNO`` at ``ORD_UNPR`` (or the last price) may
        use; commission is ignored in the quantity (KIS's own figure is also an estimate)."""
        self._check_account(params)
        free = self.sim.account.free_cash
        price = _int(params.get("ORD_UNPR", "0")) or last_price
        qty = free // price if price > 0 else 0
        return {
            "ord_psbl_cash": _n(free),
            "ord_psbl_sbst": "0",
            "ruse_psbl_amt": "0",
            "fund_rpch_chgs": "0",
            "psbl_qty_calc_unpr": _n(price),
            "nrcvb_buy_amt": _n(qty * price),
            "nrcvb_buy_qty": _n(qty),
            "max_buy_amt": _n(qty * price),
            "max_buy_qty": _n(qty),
            "cma_evlu_amt": "0",
            "ovrs_re_use_amt_wcrc": "0",
            "ord_psbl_frcr_amt_wcrc": "0",
        }

    def psbl_rvsecncl_rows(self, params: Mapping[str, str]) -> list[dict[str, str]]:
        self._check_account(params)
        rows = []
        for o in self.orders.values():
            if o.kind == "cancel" or o.remaining <= 0 or o.expired:
                continue
            if self.live.get(o.sim_id) != o.odno:
                continue
            rows.append(
                {
                    "ord_gno_brno": BRANCH,
                    "odno": o.odno,
                    "orgn_odno": o.orgn_odno,
                    "ord_dvsn_name": ORD_DVSN_NAMES.get(o.ord_dvsn, ""),
                    "pdno": o.symbol,
                    "prdt_name": o.symbol,
                    "rvse_cncl_dvsn_name": "정정" if o.kind == "revise" else "",
                    "ord_qty": _n(o.qty),
                    "ord_unpr": _n(o.price),
                    "ord_tmd": o.ord_tmd,
                    "tot_ccld_qty": _n(o.filled_qty),
                    "tot_ccld_amt": _n(o.filled_amt),
                    "psbl_qty": _n(o.remaining),
                    "sll_buy_dvsn_cd": "01" if o.side is OrderSide.SELL else "02",
                    "ord_dvsn_cd": o.ord_dvsn,
                    "mgco_aptm_odno": "",
                    "excg_dvsn_cd": "01",
                    "excg_id_dvsn_cd": "KRX",
                    "excg_id_dvsn_name": "한국거래소",
                    "stpm_cndt_pric": "0",
                    "stpm_efct_occr_yn": "N",
                }
            )
        return rows

    # ------------------------------------------------------------------ helpers

    def _new_order(
        self,
        orgn: str,
        now: datetime,
        symbol: str,
        side: OrderSide,
        dvsn: str,
        qty: int,
        price: int,
        kind: str,
        sim_id: str,
    ) -> KisOrder:
        self._odno_seq += 1
        order = KisOrder(
            f"{self._odno_seq:010d}",
            orgn,
            now.date(),
            now.strftime("%H%M%S"),
            symbol,
            side,
            dvsn,
            qty,
            price,
            kind,
            sim_id,
        )
        self.orders[order.odno] = order
        return order

    def _order_output(self, order: KisOrder, now: datetime) -> dict[str, str]:
        return {"KRX_FWDG_ORD_ORGNO": BRANCH, "ODNO": order.odno, "ORD_TMD": now.strftime("%H%M%S")}

    def _notice(
        self,
        order: KisOrder,
        *,
        cntg_yn: str,
        acpt_yn: str,
        rctf: str,
        qty: int,
        price: int,
        hour: str | None = None,
        refused: bool = False,
    ) -> Notice:
        inst = self.instruments.get(order.symbol)
        when = hour or self.clock.now().astimezone(KST).strftime("%H%M%S")
        values = [
            self.app.hts_id,
            f"{self.app.cano}{self.app.acnt_prdt_cd}",
            order.odno,
            order.orgn_odno or "0000000000",
            "01" if order.side is OrderSide.SELL else "02",
            rctf,
            order.ord_dvsn,
            "0",
            order.symbol,
            _n(qty),
            _n(price),
            when,
            "1" if refused else "0",
            cntg_yn,
            acpt_yn,
            BRANCH,
            _n(order.qty),
            "QTS FAKE",
            "0",
            "KRX",
            "N",
            "",
            "",
            "",
            (inst.name if inst else "") or order.symbol,
            _n(order.price),
        ]
        return Notice(self.app.hts_id, values)

    def _check_account(self, data: Mapping[str, Any]) -> None:
        if (
            _field(data, "CANO") != self.app.cano
            or _field(data, "ACNT_PRDT_CD") != self.app.acnt_prdt_cd
        ):
            raise FakeRefusal(ACCOUNT_ERROR)

    def _refuse_unless(self, ack: Ack) -> None:
        if not ack.accepted:
            raise FakeRefusal(REJECT_CODES.get(ack.code, INPUT_ERROR))


def _rctf(order: KisOrder) -> str:
    return "1" if order.kind == "revise" else "0"


def _field(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    if value is None:
        value = data.get(key.lower(), default)
    return str(value).strip()


def _int(text: str) -> int:
    try:
        return int(str(text).strip() or "0")
    except ValueError:
        raise FakeRefusal(INPUT_ERROR) from None


def _int_field(data: Mapping[str, Any], key: str) -> int:
    value = _field(data, key)
    if not value:
        raise FakeRefusal(INPUT_ERROR)
    return _int(value)
