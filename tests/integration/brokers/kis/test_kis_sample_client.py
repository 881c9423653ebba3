"""A client written the way KIS's published samples are (open-trading-api ``kis_auth.py``,
``order_cash``, ``inquire_balance``, ``inquire_daily_ccld``, the ``ccnl_notice`` WebSocket
sample): module-level config, a header dict, ``tr_id`` with the paper ``V`` prefix, upper-case
POST bodies, ``tr_cont`` paging, an asyncio ``websockets`` loop that answers PINGPONG with
``ws.pong(raw)`` and decrypts notices with the key/iv of the subscribe reply.

Only the two base URLs differ from what the samples use against KIS — which is the point: the
fake must be a drop-in for the real paper server.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections import namedtuple
from typing import Any

import httpx
import pytest
import websockets
from kis_kit import CASH, SAMSUNG, WAIT, Tape

from qts.brokers.kis import KisMode, crypto
from qts.brokers.kis.fake import PAPER_APP, FakeKisServer

pytestmark = pytest.mark.parametrize("fake_options", [{"mode": KisMode.PAPER}], indirect=True)

# --- kis_devlp.yaml, as the samples read it: only "vps" and "vops" point at the fake ------------
_cfg: dict[str, str] = {
    "paper_app": PAPER_APP.app_key,
    "paper_sec": PAPER_APP.app_secret,
    "my_paper_stock": PAPER_APP.cano,
    "my_prod": PAPER_APP.acnt_prdt_cd,
    "my_htsid": PAPER_APP.hts_id,
    "my_agent": "Mozilla/5.0",
}
_base_headers: dict[str, str] = {
    "Content-Type": "application/json",
    "Accept": "text/plain",
    "charset": "UTF-8",
    "User-Agent": _cfg["my_agent"],
}
_smart_sleep = 0.5  # the samples pause 0.5 s between paper calls (KIS allows 2 per second)


def _result(json_data: dict[str, Any]) -> Any:
    return namedtuple("res", json_data.keys())(**json_data)


class APIResp:
    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self._header = {k: v for k, v in resp.headers.items() if k.islower()}
        self._body = _result(resp.json())

    def getHeader(self) -> dict[str, str]:
        return self._header

    def getBody(self) -> Any:
        return self._body

    def isOK(self) -> bool:
        return bool(self._body.rt_cd == "0")


def auth(url: str) -> None:
    p = {
        "grant_type": "client_credentials",
        "appkey": _cfg["paper_app"],
        "appsecret": _cfg["paper_sec"],
    }
    res = httpx.post(f"{url}/oauth2/tokenP", content=json.dumps(p), headers=_base_headers)
    assert res.status_code == 200, res.text
    my_token = _result(res.json()).access_token
    _base_headers["authorization"] = f"Bearer {my_token}"
    _base_headers["appkey"] = _cfg["paper_app"]
    _base_headers["appsecret"] = _cfg["paper_sec"]
    _cfg["my_url"] = url


def auth_ws(url: str) -> str:
    p = {
        "grant_type": "client_credentials",
        "appkey": _cfg["paper_app"],
        "secretkey": _cfg["paper_sec"],
    }
    res = httpx.post(f"{url}/oauth2/Approval", content=json.dumps(p), headers=_base_headers)
    assert res.status_code == 200
    return str(_result(res.json()).approval_key)


def _url_fetch(
    api_url: str, ptr_id: str, tr_cont: str, params: dict[str, str], post: bool = False
) -> APIResp:
    url = f"{_cfg['my_url']}{api_url}"
    headers = dict(_base_headers)
    tr_id = "V" + ptr_id[1:] if ptr_id[0] in ("T", "J", "C") else ptr_id  # paper trading
    headers["tr_id"] = tr_id
    headers["custtype"] = "P"
    headers["tr_cont"] = tr_cont
    if post:
        res = httpx.post(url, headers=headers, content=json.dumps(params))
    else:
        res = httpx.get(url, headers=headers, params=params)
    assert res.status_code == 200, f"Error Code : {res.status_code} | {res.text}"
    threading.Event().wait(_smart_sleep)  # smart_sleep()
    return APIResp(res)


def order_cash(
    ord_dv: str, pdno: str, ord_dvsn: str, ord_qty: str, ord_unpr: str
) -> dict[str, str]:
    tr_id = "TTTC0012U" if ord_dv == "buy" else "TTTC0011U"
    params = {
        "CANO": _cfg["my_paper_stock"],
        "ACNT_PRDT_CD": _cfg["my_prod"],
        "PDNO": pdno,
        "ORD_DVSN": ord_dvsn,
        "ORD_QTY": ord_qty,
        "ORD_UNPR": ord_unpr,
        "EXCG_ID_DVSN_CD": "KRX",
        "SLL_TYPE": "",
        "CNDT_PRIC": "",
    }
    res = _url_fetch("/uapi/domestic-stock/v1/trading/order-cash", tr_id, "", params, post=True)
    assert res.isOK(), res.getBody().msg1
    return dict(res.getBody().output)


def inquire_balance(
    tr_cont: str = "", fk: str = "", nk: str = "", rows: list | None = None
) -> tuple[list, dict]:
    params = {
        "CANO": _cfg["my_paper_stock"],
        "ACNT_PRDT_CD": _cfg["my_prod"],
        "AFHR_FLPR_YN": "N",
        "OFL_YN": "",
        "INQR_DVSN": "02",
        "UNPR_DVSN": "01",
        "FUND_STTL_ICLD_YN": "N",
        "FNCG_AMT_AUTO_RDPT_YN": "N",
        "PRCS_DVSN": "00",
        "CTX_AREA_FK100": fk,
        "CTX_AREA_NK100": nk,
    }
    res = _url_fetch(
        "/uapi/domestic-stock/v1/trading/inquire-balance", "TTTC8434R", tr_cont, params
    )
    body = res.getBody()
    rows = (rows or []) + list(body.output1)
    if res.getHeader()["tr_cont"] in ("M", "F"):  # next page
        return inquire_balance("N", body.ctx_area_fk100, body.ctx_area_nk100, rows)
    return rows, body.output2[0]


def inquire_daily_ccld(day: str) -> tuple[list, dict]:
    params = {
        "CANO": _cfg["my_paper_stock"],
        "ACNT_PRDT_CD": _cfg["my_prod"],
        "INQR_STRT_DT": day,
        "INQR_END_DT": day,
        "SLL_BUY_DVSN_CD": "00",
        "INQR_DVSN": "00",
        "PDNO": "",
        "CCLD_DVSN": "00",
        "ORD_GNO_BRNO": "",
        "ODNO": "",
        "INQR_DVSN_3": "00",
        "INQR_DVSN_1": "",
        "CTX_AREA_FK100": "",
        "CTX_AREA_NK100": "",
        "EXCG_ID_DVSN_CD": "KRX",
    }
    res = _url_fetch("/uapi/domestic-stock/v1/trading/inquire-daily-ccld", "TTTC0081R", "", params)
    return list(res.getBody().output1), dict(res.getBody().output2)


# --- the WebSocket sample: ccnl_notice on one asyncio connection -----------------------------
NOTICE_COLUMNS = [
    "CUST_ID", "ACNT_NO", "ODER_NO", "OODER_NO", "SELN_BYOV_CLS", "RCTF_CLS", "ODER_KIND",
    "ODER_COND", "STCK_SHRN_ISCD", "CNTG_QTY", "CNTG_UNPR", "STCK_CNTG_HOUR", "RFUS_YN",
    "CNTG_YN", "ACPT_YN", "BRNC_NO", "ODER_QTY", "ACNT_NAME", "ORD_COND_PRC", "ORD_EXG_GB",
    "POPUP_YN", "FILLER", "CRDT_CLS", "CRDT_LOAN_DATE", "CNTG_ISNM40", "ODER_PRC",
]  # fmt: skip


def ws_client(
    url: str, approval_key: str, out: queue.Queue, ready: threading.Event, stop: threading.Event
) -> None:
    data_map: dict[str, dict[str, Any]] = {}

    async def runner() -> None:
        async with websockets.connect(f"{url}/tryitout", ping_interval=None) as ws:
            msg = {
                "header": {
                    "approval_key": approval_key,
                    "custtype": "P",
                    "tr_type": "1",
                    "content-type": "utf-8",
                },
                "body": {"input": {"tr_id": "H0STCNI9", "tr_key": _cfg["my_htsid"]}},
            }
            await ws.send(json.dumps(msg))
            while not stop.is_set():
                try:
                    raw = str(await asyncio.wait_for(ws.recv(), 0.2))
                except TimeoutError:
                    continue
                if raw[0] in ["0", "1"]:
                    d1 = raw.split("|")
                    tr_id, d = d1[1], d1[3]
                    dm = data_map[tr_id]
                    if dm.get("encrypt", None) == "Y":
                        d = crypto.decrypt(dm["key"], dm["iv"], d)  # aes_cbc_base64_dec
                    out.put(dict(zip(NOTICE_COLUMNS, d.split("^"), strict=False)))
                else:
                    rdic = json.loads(raw)
                    tr_id = rdic["header"]["tr_id"]
                    if tr_id == "PINGPONG":
                        await ws.pong(raw)
                        out.put({"PINGPONG": raw})
                        continue
                    body = rdic["body"]
                    assert body["rt_cd"] == "0", body["msg1"]
                    data_map[tr_id] = {
                        "encrypt": rdic["header"]["encrypt"],
                        "key": body["output"]["key"],
                        "iv": body["output"]["iv"],
                    }
                    ready.set()

    asyncio.run(runner())


def test_official_style_client_trades_against_the_fake(fake: FakeKisServer) -> None:
    auth(fake.rest_url)  # token
    approval_key = auth_ws(fake.rest_url)
    notices: queue.Queue[dict[str, str]] = queue.Queue()
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=ws_client, args=(fake.ws_url, approval_key, notices, ready, stop)
    )
    thread.start()
    try:
        assert ready.wait(WAIT)
        output = order_cash("buy", SAMSUNG, "00", "3", "70000")
        assert set(output) == {"KRX_FWDG_ORD_ORGNO", "ODNO", "ORD_TMD"}
        fake.advance(Tape().frame())
        got: list[dict[str, str]] = []
        while not any(n.get("CNTG_YN") == "2" for n in got):
            got.append(notices.get(timeout=WAIT))
        acks = [n for n in got if n.get("CNTG_YN") == "1"]
        fills = [n for n in got if n.get("CNTG_YN") == "2"]
        assert acks[0]["ODER_NO"] == output["ODNO"] and acks[0]["ACNT_NO"] == "5000000001"
        (fill,) = fills
        assert (fill["ODER_NO"], fill["CNTG_QTY"], fill["CNTG_UNPR"]) == (
            output["ODNO"],
            "3",
            "70000",
        )
        assert fill["SELN_BYOV_CLS"] == "02" and fill["STCK_SHRN_ISCD"] == SAMSUNG

        holdings, summary = inquire_balance()
        assert [(h["pdno"], h["hldg_qty"]) for h in holdings] == [(SAMSUNG, "3")]
        commission = int(summary["thdt_tlex_amt"])
        assert int(summary["dnca_tot_amt"]) == CASH - 210_000 - commission
        rows, totals = inquire_daily_ccld("20260304")
        assert [(r["odno"], r["tot_ccld_qty"], r["rmn_qty"]) for r in rows] == [
            (output["ODNO"], "3", "0")
        ]
        assert totals["tot_ccld_amt"] == "210000"
        while fake.stats.pongs < 1:  # the fake's keep-alive reaches the sample, which pongs
            got.append(notices.get(timeout=WAIT))
    finally:
        stop.set()
        thread.join(WAIT)
    assert fake.stats.rate_limited == 0  # the samples' own pacing keeps under 2/s
