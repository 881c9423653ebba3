"""What QTS makes of Kiwoom's ka10100 listing record: marketCode first, then marketName."""

from __future__ import annotations

import pytest

from qts.brokers.kiwoom.quotes import Listing, listing_kind
from qts.model.instrument import Market, SecurityType


@pytest.mark.parametrize(
    ("code", "name", "expected"),
    [
        ("0", "거래소", (Market.KOSPI, SecurityType.STOCK)),
        ("10", "코스닥", (Market.KOSDAQ, SecurityType.STOCK)),
        ("50", "코넥스", (Market.KONEX, SecurityType.STOCK)),
        ("8", "ETF", (Market.KOSPI, SecurityType.ETF)),
        ("", "코스피", (Market.KOSPI, SecurityType.STOCK)),  # some lists carry the name only
        ("", "코스닥", (Market.KOSDAQ, SecurityType.STOCK)),
        ("60", "ETN", None),  # kinds QTS does not trade as such: the caller decides
        ("6", "리츠", None),
        ("", "", None),
    ],
)
def test_listing_kind(code: str, name: str, expected: tuple[Market, SecurityType] | None) -> None:
    assert listing_kind(Listing("000000", "x", code, name)) == expected
