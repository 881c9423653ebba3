"""Quotes of the fake: what inquire-price, the order book and the real-time pushes show.

Built from the bar frames that drive the exchange. A bar becomes one trade print at its close
(``H0STCNT0``) and an order book around it (``H0STASP0``): ten levels a side one tick apart,
best ask one tick above the close, quantities derived from the bar's volume. The book is
synthetic — the simulator has no depth — and says so in docs/brokers.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from qts.core.time import KST
from qts.market.krx.price_limit import daily_limits
from qts.market.krx.tick_size import tick_size
from qts.model.frame import BarFrame
from qts.model.instrument import Instrument


@dataclass(slots=True)
class SymbolDay:
    base: int = 0  # previous close (the day's base price)
    last: int = 0
    open: int = 0
    high: int = 0
    low: int = 0
    volume: int = 0  # cumulative today
    amount: int = 0  # cumulative traded value today (close × volume per bar)
    bar_volume: int = 0
    hour: str = "000000"
    day: date | None = None


def _sign(last: int, base: int, upper: int, lower: int) -> str:
    if base == 0 or last == base:
        return "3"
    if last >= upper:
        return "1"
    if last <= lower:
        return "4"
    return "2" if last > base else "5"


Depth = tuple[list[tuple[int, int]], list[tuple[int, int]]]  # (bids, asks), best first


class MarketData:
    """Per-symbol state of the current day, fed by frames."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        reference_prices: Mapping[str, int] | None = None,
    ) -> None:
        self.instruments = dict(instruments)
        # the order book to show (bids, asks), set by the server: the first account's venue
        self.depth: Callable[[str], Depth | None] | None = None
        self.days: dict[str, SymbolDay] = {
            s: SymbolDay(base=p, last=p) for s, p in (reference_prices or {}).items()
        }

    def add_symbol(self, instrument: Instrument, base_price: int) -> None:
        """Serve a newly listed symbol, its previous close ``base_price``."""
        self.instruments[instrument.symbol] = instrument
        self.days.setdefault(instrument.symbol, SymbolDay(base=base_price, last=base_price))

    def on_frame(self, frame: BarFrame) -> list[str]:
        """Update from a frame; returns the symbols that traded in it."""
        start = frame.start.astimezone(KST)
        day = start.date()
        hour = frame.end.astimezone(KST).strftime("%H%M%S")
        traded: list[str] = []
        for i, symbol in enumerate(frame.universe.symbols):
            if not frame.active[i]:
                continue
            st = self.days.setdefault(symbol, SymbolDay())
            if st.day != day:
                st.base = st.last or int(frame.open[i])
                st.day = day
                st.open = int(frame.open[i])
                st.high, st.low = int(frame.high[i]), int(frame.low[i])
                st.volume = st.amount = 0
            st.high = max(st.high, int(frame.high[i]))
            st.low = min(st.low, int(frame.low[i])) if st.low else int(frame.low[i])
            st.last = int(frame.close[i])
            st.bar_volume = int(frame.volume[i])
            st.volume += st.bar_volume
            st.amount += st.bar_volume * st.last
            st.hour = hour
            traded.append(symbol)
        return traded

    def last_prices(self) -> dict[str, int]:
        return {s: d.last for s, d in self.days.items() if d.last}

    def _etf(self, symbol: str) -> bool:
        inst = self.instruments.get(symbol)
        return bool(inst and inst.is_etf)

    def _levels(self, symbol: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(asks, bids), best first: the simulated exchange's order book when it has one."""
        book = self.depth(symbol) if self.depth is not None else None
        if book is not None and (book[0] or book[1]):
            return book[1], book[0]
        st = self.days.get(symbol, SymbolDay())
        etf = self._etf(symbol)
        asks: list[tuple[int, int]] = []
        bids: list[tuple[int, int]] = []
        if st.last <= 0:
            return asks, bids
        unit = max(1, st.bar_volume // 20)
        price = st.last
        for i in range(10):
            price += tick_size(price, etf)
            asks.append((price, unit * (i + 1)))
        price = st.last
        for i in range(10):
            bids.append((price, unit * (i + 1)))
            if price <= tick_size(price, etf):
                break
            price -= tick_size(price - 1, etf)
        return asks, bids

    # ------------------------------------------------------------------ REST outputs

    def search_info_output(self, symbol: str) -> dict[str, str]:
        """search-info (CTPF1604R) for a KRX stock: names and codes."""
        inst = self.instruments.get(symbol)
        name = (inst.name if inst is not None else "") or symbol
        return {
            "pdno": symbol,
            "prdt_type_cd": "300",
            "prdt_name": name,
            "prdt_name120": name,
            "prdt_abrv_name": name,
            "prdt_eng_name": name,
            "prdt_eng_name120": name,
            "prdt_eng_abrv_name": name,
            "std_pdno": f"KR7{symbol}00{0 if inst is None or not inst.is_etf else 1}",
            "shtn_pdno": symbol,
            "prdt_sale_stat_cd": "",
            "prdt_risk_grad_cd": "",
            "prdt_clsf_cd": "101210" if inst is None or not inst.is_etf else "101260",
            "prdt_clsf_name": "주권" if inst is None or not inst.is_etf else "ETF",
            "sale_strt_dt": "",
            "sale_end_dt": "",
            "wrap_asst_type_cd": "",
            "ivst_prdt_type_cd": "",
            "ivst_prdt_type_cd_name": "",
            "frst_erlm_dt": "",
        }

    def price_output(self, symbol: str) -> dict[str, str]:
        st = self.days.get(symbol, SymbolDay())
        etf = self._etf(symbol)
        base = st.base or st.last
        limits = daily_limits(base, etf) if base > 0 else None
        upper = limits.upper if limits else 0
        lower = limits.lower if limits else 0
        diff = st.last - base if base else 0
        inst = self.instruments.get(symbol)
        asks, bids = self._levels(symbol)
        return {
            "iscd_stat_cls_code": "55",
            "marg_rate": "20.00",
            "rprs_mrkt_kor_name": "KOSDAQ"
            if inst and inst.market.value == "KOSDAQ"
            else "KOSPI200",
            "bstp_kor_isnm": "",
            "temp_stop_yn": "N",
            "oprc_rang_cont_yn": "N",
            "clpr_rang_cont_yn": "N",
            "crdt_able_yn": "Y",
            "grmn_rate_cls_code": "40",
            "elw_pblc_yn": "N",
            "stck_prpr": str(st.last),
            "prdy_vrss": str(diff),
            "prdy_vrss_sign": _sign(st.last, base, upper, lower),
            "prdy_ctrt": f"{(diff / base * 100) if base else 0:.2f}",
            "acml_tr_pbmn": str(st.amount),
            "acml_vol": str(st.volume),
            "prdy_vrss_vol_rate": "0.00",
            "stck_oprc": str(st.open),
            "stck_hgpr": str(st.high),
            "stck_lwpr": str(st.low),
            "stck_mxpr": str(upper),
            "stck_llam": str(lower),
            "stck_sdpr": str(base),
            "wghn_avrg_stck_prc": f"{(st.amount / st.volume) if st.volume else 0:.2f}",
            "hts_frgn_ehrt": "0.00",
            "frgn_ntby_qty": "0",
            "pgtr_ntby_qty": "0",
            "pvt_scnd_dmrs_prc": "0",
            "pvt_frst_dmrs_prc": "0",
            "pvt_pont_val": "0",
            "pvt_frst_dmsp_prc": "0",
            "pvt_scnd_dmsp_prc": "0",
            "dmrs_val": "0",
            "dmsp_val": "0",
            "cpfn": "0",
            "rstc_wdth_prc": str(upper - base) if limits else "0",
            "stck_fcam": "100",
            "stck_sspr": "0",
            "aspr_unit": str(tick_size(st.last, etf)) if st.last > 0 else "1",
            "hts_deal_qty_unit_val": "1",
            "lstn_stcn": "0",
            "hts_avls": "0",
            "per": "0.00",
            "pbr": "0.00",
            "stac_month": "12",
            "vol_tnrt": "0.00",
            "eps": "0.00",
            "bps": "0.00",
            "d250_hgpr": str(st.high),
            "d250_lwpr": str(st.low),
            "w52_hgpr": str(st.high),
            "w52_lwpr": str(st.low),
            "askp": str(asks[0][0]) if asks else "0",
            "bidp": str(bids[0][0]) if bids else "0",
            "vi_cls_code": "N",
            "ovtm_vi_cls_code": "N",
            "last_ssts_cntg_qty": "0",
            "invt_caful_yn": "N",
            "mrkt_warn_cls_code": "00",
            "short_over_yn": "N",
            "sltr_yn": "N",
            "mang_issu_cls_code": "N",
            "stck_shrn_iscd": symbol,
        }

    def orderbook_outputs(self, symbol: str) -> tuple[dict[str, str], dict[str, str]]:
        st = self.days.get(symbol, SymbolDay())
        asks, bids = self._levels(symbol)
        out1: dict[str, str] = {"aspr_acpt_hour": st.hour}
        for i in range(10):
            ap, aq = asks[i] if i < len(asks) else (0, 0)
            bp, bq = bids[i] if i < len(bids) else (0, 0)
            out1[f"askp{i + 1}"] = str(ap)
            out1[f"bidp{i + 1}"] = str(bp)
            out1[f"askp_rsqn{i + 1}"] = str(aq)
            out1[f"bidp_rsqn{i + 1}"] = str(bq)
            out1[f"askp_rsqn_icdc{i + 1}"] = "0"
            out1[f"bidp_rsqn_icdc{i + 1}"] = "0"
        out1 |= {
            "total_askp_rsqn": str(sum(q for _, q in asks)),
            "total_bidp_rsqn": str(sum(q for _, q in bids)),
            "total_askp_rsqn_icdc": "0",
            "total_bidp_rsqn_icdc": "0",
            "ovtm_total_askp_icdc": "0",
            "ovtm_total_bidp_icdc": "0",
            "ovtm_total_askp_rsqn": "0",
            "ovtm_total_bidp_rsqn": "0",
            "ntby_aspr_rsqn": "0",
            "new_mkop_cls_code": "20",
        }
        out2 = {
            "antc_mkop_cls_code": "",
            "stck_prpr": str(st.last),
            "stck_oprc": str(st.open),
            "stck_hgpr": str(st.high),
            "stck_lwpr": str(st.low),
            "stck_sdpr": str(st.base),
            "antc_cnpr": "0",
            "antc_cntg_vrss_sign": "3",
            "antc_cntg_vrss": "0",
            "antc_cntg_prdy_ctrt": "0.00",
            "antc_vol": "0",
            "stck_shrn_iscd": symbol,
            "vi_cls_code": "N",
        }
        return out1, out2

    # ------------------------------------------------------------------ WebSocket payloads

    def trade_payload(self, symbol: str, when: datetime) -> str:
        st = self.days.get(symbol, SymbolDay())
        base = st.base or st.last
        diff = st.last - base
        asks, bids = self._levels(symbol)
        values = [
            symbol,
            st.hour,
            str(st.last),
            "2" if diff > 0 else "5" if diff < 0 else "3",
            str(diff),
            f"{(diff / base * 100) if base else 0:.2f}",
            f"{(st.amount / st.volume) if st.volume else 0:.2f}",
            str(st.open),
            str(st.high),
            str(st.low),
            str(asks[0][0]) if asks else "0",
            str(bids[0][0]) if bids else "0",
            str(st.bar_volume),
            str(st.volume),
            str(st.amount),
            "0", "0", "0", "100.00", "0", "0", "1", "50.00", "0.00",
            "090000", "2", "0", st.hour, "3", "0", st.hour, "3", "0",
            when.astimezone(KST).strftime("%Y%m%d"),
            "20", "N",
            str(asks[0][1]) if asks else "0",
            str(bids[0][1]) if bids else "0",
            str(sum(q for _, q in asks)),
            str(sum(q for _, q in bids)),
            "0.00", "0", "0.00", "0", "", "0",
        ]  # fmt: skip
        return "^".join(values)

    def book_payload(self, symbol: str) -> str:
        st = self.days.get(symbol, SymbolDay())
        asks, bids = self._levels(symbol)
        ap = [str(asks[i][0]) if i < len(asks) else "0" for i in range(10)]
        bp = [str(bids[i][0]) if i < len(bids) else "0" for i in range(10)]
        aq = [str(asks[i][1]) if i < len(asks) else "0" for i in range(10)]
        bq = [str(bids[i][1]) if i < len(bids) else "0" for i in range(10)]
        tail = [
            str(sum(q for _, q in asks)), str(sum(q for _, q in bids)), "0", "0",
            "0", "0", "0", "0", "3", "0.00", str(st.volume), "0", "0", "0", "0", "00",
        ]  # fmt: skip
        return "^".join([symbol, st.hour, "0", *ap, *bp, *aq, *bq, *tail])


def index_outputs(code: str, level: float, now: datetime) -> dict[str, object]:
    """inquire-daily-indexchartprice for index ``code`` standing at ``level``: output1 is the
    current quote, output2 today's daily row (the fake keeps no index history)."""
    value = f"{level:.2f}"
    day = now.astimezone(KST).strftime("%Y%m%d")
    return {
        "output1": {
            "bstp_nmix_prdy_vrss": "0.00",
            "prdy_vrss_sign": "3",
            "bstp_nmix_prdy_ctrt": "0.00",
            "prdy_nmix": value,
            "acml_vol": "0",
            "acml_tr_pbmn": "0",
            "hts_kor_isnm": code,
            "bstp_nmix_prpr": value,
            "bstp_cls_code": code,
            "prdy_vol": "0",
            "bstp_nmix_oprc": value,
            "bstp_nmix_hgpr": value,
            "bstp_nmix_lwpr": value,
            "futs_prdy_oprc": "0.00",
            "futs_prdy_hgpr": "0.00",
            "futs_prdy_lwpr": "0.00",
        },
        "output2": [
            {
                "stck_bsop_date": day,
                "bstp_nmix_prpr": value,
                "bstp_nmix_oprc": value,
                "bstp_nmix_hgpr": value,
                "bstp_nmix_lwpr": value,
                "acml_vol": "0",
                "acml_tr_pbmn": "0",
                "mod_yn": "N",
            }
        ],
    }
