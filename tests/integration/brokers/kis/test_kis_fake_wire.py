"""The fake's wire contract, checked with raw HTTP and WebSocket calls (no adapter in between):
the parts of brokers-and-sheets-wire.md §1.8 a client can observe."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from kis_kit import SAMSUNG, WAIT
from websockets.sync.client import ClientConnection, connect

from qts.brokers.kis import KisMode, crypto
from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.fake import FakeApp, FakeKisServer

PAPER = {"mode": KisMode.PAPER, "token_reissue_interval_s": 60.0, "rate_limit": 1000}


def token(fake: FakeKisServer, app: FakeApp) -> httpx.Response:
    body = {"grant_type": "client_credentials", "appkey": app.app_key, "appsecret": app.app_secret}
    return httpx.post(fake.rest_url + ep.TOKEN_PATH, json=body)


def headers(app: FakeApp, tok: str, tr_id: str, **extra: str) -> dict[str, str]:
    return {
        "content-type": "application/json; charset=utf-8",
        "authorization": f"Bearer {tok}",
        "appkey": app.app_key,
        "appsecret": app.app_secret,
        "tr_id": tr_id,
        "custtype": "P",
        **extra,
    }


def account(app: FakeApp) -> dict[str, str]:
    return {"CANO": app.cano, "ACNT_PRDT_CD": app.acnt_prdt_cd}


@pytest.mark.parametrize("fake_options", [PAPER], indirect=True)
def test_token_issue_rules_and_revoke(fake: FakeKisServer, app: FakeApp) -> None:
    bad = httpx.post(
        fake.rest_url + ep.TOKEN_PATH,
        json={"grant_type": "client_credentials", "appkey": "x" * 36, "appsecret": "y"},
    )
    assert bad.status_code == 403 and bad.json()["error_code"] == "EGW00103"
    first = token(fake, app)
    data = first.json()
    assert first.status_code == 200 and data["token_type"] == "Bearer"
    assert isinstance(data["expires_in"], int) and 86_000 < data["expires_in"] <= 86_400
    assert len(data["access_token_token_expired"]) == 19  # "YYYY-MM-DD HH:MM:SS", KST
    payload = data["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["jti"] == app.app_key and claims["exp"] > claims["iat"]
    again = token(fake, app)  # within a minute
    assert again.status_code == 403 and again.json()["error_code"] == "EGW00133"

    tok = data["access_token"]
    url = fake.rest_url + ep.PRICE.path
    q = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": SAMSUNG}
    ok = httpx.get(url, params=q, headers=headers(app, tok, "FHKST01010100"))
    assert ok.status_code == 200 and ok.json()["rt_cd"] == "0"
    revoke = httpx.post(
        fake.rest_url + ep.REVOKE_PATH,
        json={"appkey": app.app_key, "appsecret": app.app_secret, "token": tok},
    )
    assert revoke.json()["code"] == 200
    gone = httpx.get(url, params=q, headers=headers(app, tok, "FHKST01010100"))
    assert gone.status_code == 500 and gone.json()["msg_cd"] == "EGW00121"


@pytest.mark.parametrize(
    "fake_options", [{**PAPER, "token_reissue_interval_s": 0.0}], indirect=True
)
def test_tokenp_returns_the_same_token_within_the_window(fake: FakeKisServer, app: FakeApp) -> None:
    old = token(fake, app).json()["access_token"]
    assert token(fake, app).json()["access_token"] == old  # re-request: the same token
    fake.expire_tokens()
    fresh = token(fake, app).json()["access_token"]
    assert fresh != old and token(fake, app).json()["access_token"] == fresh
    assert fake.stats.tokens_issued == 2


@pytest.mark.parametrize("fake_options", [PAPER], indirect=True)
def test_envelope_paging_tr_ids_and_validation(fake: FakeKisServer, app: FakeApp) -> None:
    tok = token(fake, app).json()["access_token"]
    order_url = fake.rest_url + ep.ORDER_BUY.path
    for i in range(17):
        body = {
            **account(app),
            "PDNO": SAMSUNG,
            "ORD_DVSN": "00",
            "ORD_QTY": "1",
            "ORD_UNPR": "69000",
        }
        tr = "VTTC0012U" if i % 2 else "VTTC0802U"  # new and legacy ids are both accepted
        res = httpx.post(order_url, json=body, headers=headers(app, tok, tr))
        data = res.json()
        assert data["rt_cd"] == "0" and data["msg_cd"] == "APBK0013", data
        assert data["msg1"].endswith(" ") and data["msg1"].strip() == "주문 전송 완료 되었습니다."
        assert len(data["output"]["ODNO"]) == 10 and res.headers["tr_id"] == tr

    url = fake.rest_url + ep.DAILY_CCLD.path
    q = {**account(app), "INQR_STRT_DT": "20260304", "INQR_END_DT": "20260304",
         "SLL_BUY_DVSN_CD": "00", "INQR_DVSN": "01", "PDNO": "", "CCLD_DVSN": "00",
         "ORD_GNO_BRNO": "", "ODNO": "", "INQR_DVSN_3": "00", "INQR_DVSN_1": "",
         "CTX_AREA_FK100": "", "CTX_AREA_NK100": ""}  # fmt: skip
    first = httpx.get(url, params=q, headers=headers(app, tok, "VTTC0081R"))
    page1 = first.json()
    assert first.headers["tr_cont"] == "M" and len(page1["output1"]) == 15  # paper: 15 a page
    assert page1["msg_cd"] == "KIOK0500"
    assert all(isinstance(v, str) for row in page1["output1"] for v in row.values())
    q2 = {**q, "CTX_AREA_FK100": page1["ctx_area_fk100"], "CTX_AREA_NK100": page1["ctx_area_nk100"]}
    lower = {k.lower(): v for k, v in q2.items()}  # postman-style lower-case names work too
    second = httpx.get(url, params=lower, headers=headers(app, tok, "VTTC8001R", tr_cont="N"))
    assert second.headers["tr_cont"] == "D" and len(second.json()["output1"]) == 2
    assert second.json()["output2"]["tot_ord_qty"] == "17"

    real_tr = httpx.get(url, params=q, headers=headers(app, tok, "TTTC0081R"))
    assert real_tr.json()["rt_cd"] == "1" and real_tr.json()["msg_cd"] == "APBK9902"
    no_cust = {k: v for k, v in headers(app, tok, "VTTC0081R").items() if k != "custtype"}
    assert httpx.get(url, params=q, headers=no_cust).json()["rt_cd"] == "0"  # optional
    lower_body = {"cano": app.cano, "acnt_prdt_cd": "01", "pdno": SAMSUNG, "ord_dvsn": "01",
                  "ord_qty": "1", "ord_unpr": "0"}  # fmt: skip
    refused = httpx.post(order_url, json=lower_body, headers=headers(app, tok, "VTTC0012U"))
    assert refused.json()["rt_cd"] == "1"
    psbl = fake.rest_url + ep.PSBL_RVSECNCL.path
    not_paper = httpx.get(psbl, params=account(app), headers=headers(app, tok, "VTTC0084R"))
    assert not_paper.json()["msg_cd"] in ("APBK9902", "EGW00204")


@pytest.mark.parametrize(
    "fake_options",
    [{"mode": KisMode.PAPER}, {"mode": KisMode.PAPER, "rate_limit_status": 200}],
    indirect=True,
)
def test_rate_limit_answers_egw00201(fake: FakeKisServer, app: FakeApp) -> None:
    tok = token(fake, app).json()["access_token"]
    url = fake.rest_url + ep.PRICE.path
    q = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": SAMSUNG}
    answers = [
        httpx.get(url, params=q, headers=headers(app, tok, "FHKST01010100")) for _ in range(3)
    ]
    assert [a.json()["rt_cd"] for a in answers] == ["0", "0", "1"]  # 2 per second on paper
    assert answers[2].json()["msg_cd"] == "EGW00201"
    assert answers[2].status_code == fake.options.rate_limit_status


def _approval(fake: FakeKisServer, app: FakeApp) -> str:
    body = {"grant_type": "client_credentials", "appkey": app.app_key, "secretkey": app.app_secret}
    return str(httpx.post(fake.rest_url + ep.APPROVAL_PATH, json=body).json()["approval_key"])


def _register(
    ws: ClientConnection, key: str, tr_id: str, tr_key: str, tr_type: str = "1"
) -> dict[str, Any]:
    frame = {
        "header": {
            "approval_key": key,
            "custtype": "P",
            "tr_type": tr_type,
            "content-type": "utf-8",
        },
        "body": {"input": {"tr_id": tr_id, "tr_key": tr_key}},
    }
    ws.send(json.dumps(frame))
    while True:
        reply = json.loads(ws.recv(timeout=WAIT))
        if reply["header"]["tr_id"] != "PINGPONG":
            return reply


@pytest.mark.parametrize("fake_options", [{"ping_interval_s": 0.1}], indirect=True)
def test_websocket_control_replies_cap_and_pingpong(fake: FakeKisServer, app: FakeApp) -> None:
    key = _approval(fake, app)
    with connect(fake.ws_url + "/tryitout/H0STCNT0", ping_interval=None) as ws:
        bad = _register(ws, "not-a-key", ep.WS_TRADES, SAMSUNG)
        assert bad["body"]["msg1"] == "INVALID APPROVAL KEY" and bad["body"]["rt_cd"] == "1"
        ok = _register(ws, key, ep.WS_TRADES, SAMSUNG)
        assert ok["body"]["msg_cd"] == "OPSP0000" and ok["header"]["encrypt"] == "N"
        assert len(ok["body"]["output"]["key"]) == 32 and len(ok["body"]["output"]["iv"]) == 16
        assert _register(ws, key, ep.WS_TRADES, SAMSUNG)["body"]["msg_cd"] == "OPSP0002"
        notice = _register(ws, key, ep.notice_tr(fake.options.paper), app.hts_id)
        assert notice["header"]["encrypt"] == "Y"
        k, iv = notice["body"]["output"]["key"], notice["body"]["output"]["iv"]
        assert crypto.decrypt(k, iv, crypto.encrypt(k, iv, "a^b^한글")) == "a^b^한글"
        assert _register(ws, key, ep.WS_TRADES, SAMSUNG, "2")["body"]["msg_cd"] == "OPSP0001"
        assert _register(ws, key, ep.WS_TRADES, SAMSUNG, "2")["body"]["msg_cd"] == "OPSP0003"
        codes = [
            _register(ws, key, ep.WS_ORDERBOOK, f"{i:06d}")["body"]["msg_cd"] for i in range(41)
        ]
        assert codes[:40] == ["OPSP0000"] * 40 and codes[40] == "OPSP0008"  # 41 in all
        with connect(fake.ws_url + "/tryitout", ping_interval=None) as other:
            assert _register(other, key, ep.WS_TRADES, SAMSUNG)["body"]["msg_cd"] == "OPSP8996"
        while True:  # keep-alive: echo the PINGPONG frame back, as python-kis does
            raw = ws.recv(timeout=WAIT)
            if json.loads(raw)["header"]["tr_id"] == "PINGPONG":
                ws.send(raw)
                break
        ws.ping()  # a protocol-level ping is answered too
    assert fake.stats.pingpongs_sent >= 1
