"""Small deterministic checks of the adapter's parts: the limiter, parsing, event order."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kis_kit import OPEN, SAMSUNG

from qts.brokers.base import OrderUpdate
from qts.brokers.kis import crypto
from qts.brokers.kis.broker import _fills_first
from qts.brokers.kis.errors import ProtocolError
from qts.brokers.kis.mapping import (
    NOTICE_FIELDS,
    at_kst,
    ccld_row,
    fill_notice,
    split_records,
    to_int,
)
from qts.brokers.kis.rest import RateLimiter
from qts.model.enums import OrderSide, OrderStatus
from qts.model.fill import Fill


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([2.0, 19.0, 20.0]),
    gaps=st.lists(st.floats(min_value=0, max_value=0.3), min_size=1, max_size=80),
)
def test_limiter_never_lets_rate_plus_one_calls_into_a_second(
    rate: float, gaps: list[float]
) -> None:
    t = FakeTime()
    limiter = RateLimiter(rate, 0.0, clock=t.clock, sleep=t.sleep)
    sent: list[float] = []
    for gap in gaps:
        t.now += gap
        limiter.acquire()
        sent.append(t.now)
    for i in range(len(sent) - int(rate)):
        assert sent[i + int(rate)] - sent[i] >= 1.0 - 1e-9


def test_numbers_and_times_parse_strictly() -> None:
    assert to_int("000070000") == 70_000 and to_int("70000.0000") == 70_000 and to_int("") == 0
    with pytest.raises(ProtocolError):
        to_int("70000.5")
    with pytest.raises(ProtocolError):
        to_int("7O000")
    assert at_kst(date(2026, 3, 4), "90102").isoformat() == "2026-03-04T09:01:02+09:00"


def test_ccld_row_and_notice_parsing() -> None:
    row = ccld_row(
        {
            "ord_dt": "20260304",
            "ord_gno_brno": "91252",
            "odno": "0000000007",
            "orgn_odno": "",
            "sll_buy_dvsn_cd": "02",
            "pdno": SAMSUNG,
            "ord_dvsn_cd": "00",
            "ord_qty": "10",
            "ord_unpr": "70000",
            "ord_tmd": "090000",
            "tot_ccld_qty": "4",
            "tot_ccld_amt": "280000",
            "rmn_qty": "6",
            "rjct_qty": "0",
            "cnc_cfrm_qty": "0",
            "cncl_yn": "N",
        }
    )
    assert row.is_original and row.side is OrderSide.BUY and row.key[1] == "0000000007"
    # the spec's illustrative fill notice (26 fields), after a round trip through AES
    text = (
        "myhtsid^5012345601^0000004321^0000000000^02^0^00^0^005930^10^70000^090103^0^2^2^"
        "06010^10^TESTER^0^KRX^N^^^^삼성전자^70000"
    )
    key, iv = "tvldhmfplvgcovaqrspclzhdotfzzequ", "55ce3d099479ce11"
    (values,) = split_records(crypto.decrypt(key, iv, crypto.encrypt(key, iv, text)), 26, 1)
    assert len(NOTICE_FIELDS) == len(values) == 26
    n = fill_notice(values)
    assert (n.odno, n.is_fill, n.qty, n.price, n.side) == (
        "0000004321",
        True,
        10,
        70_000,
        OrderSide.BUY,
    )


def test_a_terminal_update_never_precedes_a_fill_of_its_order() -> None:
    fill = Fill("f1", "a", SAMSUNG, OrderSide.BUY, 1, 70_000, OPEN)
    cancel = OrderUpdate("a", OrderStatus.CANCELED, OPEN)
    other = OrderUpdate("b", OrderStatus.CANCELED, OPEN)
    assert _fills_first([cancel, other, fill]) == [other, fill, cancel]
    assert _fills_first([fill, cancel]) == [fill, cancel]
