"""Instrument construction: KRX short codes and free-form backtest symbols."""

from __future__ import annotations

import pytest

from qts.model.instrument import Instrument, Market, SecurityType


@pytest.mark.parametrize(
    "code",
    [
        "005930",  # Samsung Electronics
        "000660",
        "069500",  # KODEX 200 ETF
        "0080G0",  # KRX has issued alphanumeric short codes since 2024
        "0088M0",
        "ABCDEF",
    ],
)
def test_krx_accepts_six_character_codes(code: str) -> None:
    inst = Instrument.krx(code)
    assert inst.symbol == code
    assert inst.market is Market.KOSPI
    assert inst.security_type is SecurityType.STOCK


@pytest.mark.parametrize(
    "code",
    [
        "5930",  # leading zeros dropped (a classic spreadsheet accident)
        "05930",
        "0059300",
        "00593a",  # lower case is not a KRX code
        "0080g0",
        "",
        " 05930",
        "005930 ",
        "005930\n",  # "$" alone would accept this
        "\n005930",
        "00-930",
        "００５９３０",  # full-width digits
        "A005930",  # the "A" prefix some vendors add
    ],
)
def test_krx_rejects_malformed_codes(code: str) -> None:
    with pytest.raises(ValueError, match="KRX code"):
        Instrument.krx(code)


def test_krx_keeps_the_other_fields() -> None:
    inst = Instrument.krx(
        "069500", Market.KOSPI, SecurityType.ETF, name="KODEX 200", kospi200=False
    )
    assert inst.is_etf
    assert inst.name == "KODEX 200"
    kosdaq = Instrument.krx("035720", Market.KOSDAQ, kospi200=False)
    assert kosdaq.market is Market.KOSDAQ
    assert not kosdaq.is_etf


@pytest.mark.parametrize(
    "name",
    [
        "sp500_daily_1999_2018",
        "005930",
        "kospi-200.daily",
        "X",
        "_hidden_underscore",
        "a" * 64,
    ],
)
def test_custom_accepts_file_stem_names(name: str) -> None:
    inst = Instrument.custom(name)
    assert inst.symbol == name
    assert inst.market is Market.KOSPI


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a" * 65,
        "has space",
        "path/like",
        "back\\slash",
        "sp500\n",
        ".",
        "..",
        "-flag",
        "삼성전자",
    ],
)
def test_custom_rejects_other_names(name: str) -> None:
    with pytest.raises(ValueError, match="symbol"):
        Instrument.custom(name)


def test_custom_market_and_immutability() -> None:
    inst = Instrument.custom("kosdaq_daily", Market.KOSDAQ)
    assert inst.market is Market.KOSDAQ
    with pytest.raises(AttributeError):
        inst.symbol = "other"  # type: ignore[misc]
    assert Instrument.custom("x") == Instrument.custom("x")
    assert hash(Instrument.custom("x")) == hash(Instrument.custom("x"))
