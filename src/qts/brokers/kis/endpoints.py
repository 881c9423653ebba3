"""KIS domestic-stock endpoints and their TR ids, shared by the adapter and the local fake.

TR ids changed in 2025 (e.g. cash buy ``TTTC0802U`` → ``TTTC0012U``). The adapter sends the new
ids unless ``legacy_tr_ids`` is set; the fake accepts both columns (wire spec §1.6). Paper ids
are the real ids with the first letter replaced by ``V``; quotation TRs (``FHK…``) are the same
on both servers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Api:
    name: str
    method: str
    path: str
    real: str  # new real TR id ("" = not a TR call)
    legacy: str = ""  # legacy real TR id
    paper_supported: bool = True
    real_supported: bool = True
    same_on_paper: bool = False  # a quotation TR whose id the paper rule does not change

    def tr_id(self, paper: bool, legacy: bool = False) -> str:
        real = self.legacy if legacy and self.legacy else self.real
        return paper_tr(real) if paper and not self.same_on_paper else real

    def accepted_tr_ids(self, paper: bool) -> frozenset[str]:
        ids = {self.real} | ({self.legacy} if self.legacy else set())
        same = self.same_on_paper
        return frozenset(paper_tr(i) if paper and not same else i for i in ids if i)


def paper_tr(tr_id: str) -> str:
    """The paper-server TR id of a real one (``T``/``J``/``C`` → ``V``; ``FHK…`` unchanged)."""
    return "V" + tr_id[1:] if tr_id[:1] in ("T", "J", "C") else tr_id


_TRADING = "/uapi/domestic-stock/v1/trading"
_QUOTES = "/uapi/domestic-stock/v1/quotations"

ORDER_BUY = Api("order-cash(buy)", "POST", f"{_TRADING}/order-cash", "TTTC0012U", "TTTC0802U")
ORDER_SELL = Api("order-cash(sell)", "POST", f"{_TRADING}/order-cash", "TTTC0011U", "TTTC0801U")
REVISE_CANCEL = Api(
    "order-rvsecncl", "POST", f"{_TRADING}/order-rvsecncl", "TTTC0013U", "TTTC0803U"
)
PSBL_RVSECNCL = Api(
    "inquire-psbl-rvsecncl",
    "GET",
    f"{_TRADING}/inquire-psbl-rvsecncl",
    "TTTC0084R",
    "TTTC8036R",
    paper_supported=False,
)
BALANCE = Api("inquire-balance", "GET", f"{_TRADING}/inquire-balance", "TTTC8434R")
PSBL_ORDER = Api("inquire-psbl-order", "GET", f"{_TRADING}/inquire-psbl-order", "TTTC8908R")
DAILY_CCLD = Api(
    "inquire-daily-ccld", "GET", f"{_TRADING}/inquire-daily-ccld", "TTTC0081R", "TTTC8001R"
)
PRICE = Api("inquire-price", "GET", f"{_QUOTES}/inquire-price", "FHKST01010100")
ORDERBOOK = Api(
    "inquire-asking-price-exp-ccn",
    "GET",
    f"{_QUOTES}/inquire-asking-price-exp-ccn",
    "FHKST01010200",
)
# 상품기본조회 [v1_국내주식-029]: name, English name, standard code of a product
SEARCH_INFO = Api("search-info", "GET", f"{_QUOTES}/search-info", "CTPF1604R", same_on_paper=True)
PRDT_TYPE_STOCK = "300"  # PRDT_TYPE_CD of KRX stocks (and ETFs)
# index daily bars over a range; output1 carries the index's current value (bstp_nmix_prpr)
INDEX_DAILY = Api(
    "inquire-daily-indexchartprice",
    "GET",
    f"{_QUOTES}/inquire-daily-indexchartprice",
    "FHKUP03500100",
)

ALL_APIS = (
    ORDER_BUY,
    ORDER_SELL,
    REVISE_CANCEL,
    PSBL_RVSECNCL,
    BALANCE,
    PSBL_ORDER,
    DAILY_CCLD,
    PRICE,
    ORDERBOOK,
    SEARCH_INFO,
    INDEX_DAILY,
)

TOKEN_PATH = "/oauth2/tokenP"  # noqa: S105 - a path, not a secret
REVOKE_PATH = "/oauth2/revokeP"
APPROVAL_PATH = "/oauth2/Approval"
HASHKEY_PATH = "/uapi/hashkey"
WS_PATH = "/tryitout"

# WebSocket TR ids
WS_TRADES = "H0STCNT0"
WS_ORDERBOOK = "H0STASP0"
WS_NOTICE_REAL = "H0STCNI0"
WS_NOTICE_PAPER = "H0STCNI9"
# overseas fill notices: a KIS account may register them (python-kis does, next to the domestic
# ones); a KRX-only venue never sends any, but they are keyed and encrypted like the domestic
WS_OVERSEAS_NOTICE_REAL = "H0GSCNI0"
WS_OVERSEAS_NOTICE_PAPER = "H0GSCNI9"
NOTICE_TRS = frozenset(
    {WS_NOTICE_REAL, WS_NOTICE_PAPER, WS_OVERSEAS_NOTICE_REAL, WS_OVERSEAS_NOTICE_PAPER}
)
ALL_WS_TRS = frozenset(
    {WS_TRADES, WS_ORDERBOOK} | NOTICE_TRS | {"H0NXCNT0", "H0NXASP0", "H0UNCNT0", "H0UNASP0"}
)
MAX_REGISTRATIONS = 41  # the server's cap per session (OPSP0008 beyond it)
CLIENT_MAX_REGISTRATIONS = 40  # what the adapter allows itself, as the official samples do


def notice_tr(paper: bool) -> str:
    return WS_NOTICE_PAPER if paper else WS_NOTICE_REAL


# ORD_DVSN codes the adapter sends (wire spec §1.6); the rest of the table is documentation.
ORD_DVSN_LIMIT = "00"
ORD_DVSN_MARKET = "01"
ORD_DVSN_NAMES = {
    "00": "지정가",
    "01": "시장가",
    "02": "조건부지정가",
    "03": "최유리지정가",
    "04": "최우선지정가",
    "05": "장전 시간외",
    "06": "장후 시간외",
    "07": "시간외 단일가",
    "11": "IOC지정가",
    "12": "FOK지정가",
    "13": "IOC시장가",
    "14": "FOK시장가",
    "15": "IOC최유리",
    "16": "FOK최유리",
}
SIDE_SELL = "01"  # SLL_BUY_DVSN_CD / SELN_BYOV_CLS
SIDE_BUY = "02"
