"""Sell tax keyed by settlement date, commission per broker, both floored to whole won."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.fees import (
    TAX_TABLE,
    FeeModel,
    KrxFees,
    NoFees,
    SellTax,
    TaxRow,
    sell_tax_rates,
    tax_rate,
)
from qts.model.instrument import Instrument, Market, SecurityType

CAL = KrxCalendar()
KOSPI = Instrument("005930", Market.KOSPI)
KOSDAQ = Instrument("091990", Market.KOSDAQ)
KONEX = Instrument("123456", Market.KONEX)
ETF = Instrument("069500", Market.KOSPI, SecurityType.ETF)
FEES = KrxFees()


@pytest.mark.parametrize(
    ("market", "settle", "rate"),
    [
        (Market.KOSPI, date(2023, 6, 1), "0.0020"),
        (Market.KOSDAQ, date(2023, 6, 1), "0.0020"),
        (Market.KOSPI, date(2024, 1, 1), "0.0018"),
        (Market.KOSDAQ, date(2024, 6, 1), "0.0018"),
        (Market.KOSPI, date(2024, 12, 31), "0.0018"),
        (Market.KOSPI, date(2025, 1, 1), "0.0015"),
        (Market.KOSDAQ, date(2025, 6, 1), "0.0015"),
        (Market.KOSPI, date(2025, 12, 31), "0.0015"),
        (Market.KOSPI, date(2026, 1, 1), "0.0020"),
        (Market.KOSDAQ, date(2026, 1, 2), "0.0020"),
        (Market.KONEX, date(2023, 6, 1), "0.0010"),
        (Market.KONEX, date(2025, 6, 1), "0.0010"),
        (Market.KONEX, date(2026, 6, 1), "0.0010"),
        # before 2023, an independent transcription of the published rates (total, in %)
        *[
            (m, day, str(Decimal(pct) / 100))
            for m, day, pct in [
                (Market.KOSPI, date(1996, 7, 1), "0.30"),
                (Market.KOSPI, date(2008, 10, 24), "0.30"),
                (Market.KOSDAQ, date(2015, 6, 15), "0.30"),
                (Market.KONEX, date(2018, 3, 2), "0.30"),
                (Market.KOSPI, date(2019, 5, 31), "0.30"),  # sold 05-29, settles on the old rate
                (Market.KOSPI, date(2019, 6, 3), "0.25"),
                (Market.KOSDAQ, date(2020, 6, 1), "0.25"),
                (Market.KONEX, date(2020, 6, 1), "0.10"),
                (Market.KOSPI, date(2021, 1, 4), "0.23"),
                (Market.KOSDAQ, date(2022, 12, 30), "0.23"),
                (Market.KOSPI, date(1990, 1, 3), "0.30"),  # before the horizon: its first row
            ]
        ],
    ],
)
def test_tax_rate_by_settlement_date(market: Market, settle: date, rate: str) -> None:
    assert tax_rate(market, settle) == Decimal(rate)


def test_kospi_tax_composition() -> None:
    assert sell_tax_rates(Market.KOSPI, date(2025, 6, 1)) == SellTax(
        Decimal("0"), Decimal("0.0015")
    )
    assert sell_tax_rates(Market.KOSPI, date(2026, 6, 1)) == SellTax(
        Decimal("0.0005"), Decimal("0.0015")
    )
    assert sell_tax_rates(Market.KOSDAQ, date(2026, 6, 1)).rural_special == 0


@pytest.mark.parametrize(
    ("trade", "settle", "kospi_tax", "kosdaq_tax"),
    [
        # 12-31 and 01-01 are closed: T+2 is 2026-01-02, the 2026 rate (0.20 %)
        (date(2025, 12, 29), date(2026, 1, 2), 20_000, 20_000),
        # settles 2025-12-30: still the 2025 rate (0.15 %)
        (date(2025, 12, 26), date(2025, 12, 30), 15_000, 15_000),
        # the notice's case: executed 2024-12-27, settles 2025-01-02 -> 2025 rate
        (date(2024, 12, 27), date(2025, 1, 2), 15_000, 15_000),
        (date(2024, 12, 26), date(2024, 12, 30), 18_000, 18_000),
    ],
)
def test_sell_tax_follows_settlement_date(
    trade: date, settle: date, kospi_tax: int, kosdaq_tax: int
) -> None:
    assert CAL.add_trading_days(trade, 2) == settle
    amount = 10_000_000
    assert FEES.sell_tax(amount, KOSPI, settle) == kospi_tax
    assert FEES.sell_tax(amount, KOSDAQ, settle) == kosdaq_tax


@pytest.mark.parametrize(
    ("amount", "instrument", "settle", "tax"),
    [
        # KOSPI 2026: 1,999 × 0.0005 = 0.9995 -> 0; × 0.0015 = 2.9985 -> 2; total 2
        # (flooring the combined 0.20 % would give 3: the two levies floor separately)
        (1_999, KOSPI, date(2026, 3, 3), 2),
        # 2,000: 1 + 3
        (2_000, KOSPI, date(2026, 3, 3), 4),
        # KOSDAQ 2025: 1,333 × 0.0015 = 1.9995 -> 1
        (1_333, KOSDAQ, date(2025, 3, 4), 1),
        # KONEX: 999 × 0.001 = 0.999 -> 0; 1,000 -> 1
        (999, KONEX, date(2026, 3, 3), 0),
        (1_000, KONEX, date(2026, 3, 3), 1),
        (0, KOSPI, date(2026, 3, 3), 0),
    ],
)
def test_sell_tax_floors(amount: int, instrument: Instrument, settle: date, tax: int) -> None:
    assert FEES.sell_tax(amount, instrument, settle) == tax


@pytest.mark.parametrize("settle", [date(2023, 6, 1), date(2025, 6, 1), date(2026, 6, 1)])
def test_etf_pays_no_sell_tax(settle: date) -> None:
    assert FEES.sell_tax(50_000_000, ETF, settle) == 0


@pytest.mark.parametrize(
    ("amount", "instrument", "commission"),
    [
        # 10,000,000 × 0.000140527 = 1,405.27 -> 1,405
        (10_000_000, KOSPI, 1_405),
        (10_000_000, KOSDAQ, 1_405),
        (10_000_000, KONEX, 1_405),
        # ETF: 10,000,000 × 0.000146527 = 1,465.27 -> 1,465
        (10_000_000, ETF, 1_465),
        # 7,116 × 0.000140527 = 0.99999... -> 0; 7,117 -> 1.00013... -> 1
        (7_116, KOSPI, 0),
        (7_117, KOSPI, 1),
        (0, KOSPI, 0),
    ],
)
def test_default_kis_commission_floors(
    amount: int, instrument: Instrument, commission: int
) -> None:
    assert FEES.commission(amount, instrument) == commission


def test_commission_is_configurable() -> None:
    fees = KrxFees(commission_rate=Decimal("0.00015"), etf_commission_rate=Decimal("0.0001"))
    assert fees.commission(1_000_000, KOSPI) == 150
    assert fees.commission(1_000_000, ETF) == 100
    assert KrxFees.for_broker("kis_backtester_default").commission(1_000_000, KOSPI) == 150
    assert KrxFees.for_broker("kis_non_face_to_face").commission(10_000_000, ETF) == 1_465


def test_unknown_broker_rejected() -> None:
    with pytest.raises(ValueError, match="kis_non_face_to_face"):
        KrxFees.for_broker("nobody")


def test_negative_amount_rejected() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        FEES.commission(-1, KOSPI)
    with pytest.raises(ValueError, match=">= 0"):
        FEES.sell_tax(-1, KOSPI, date(2026, 3, 3))


def test_negative_rates_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        KrxFees(commission_rate=Decimal("-0.0001"))
    with pytest.raises(ValueError, match="negative"):
        SellTax(Decimal("-0.001"))


def test_custom_tax_table_with_an_older_row() -> None:
    older = TaxRow(
        date(2021, 1, 1),
        {m: SellTax(Decimal("0.0008"), Decimal("0.0015")) for m in Market},
    )
    recent = tuple(r for r in TAX_TABLE if r.effective_from >= date(2023, 1, 1))
    fees = KrxFees(tax_table=(older, *recent))
    assert fees.sell_tax(1_000_000, KOSPI, date(2022, 6, 1)) == 800 + 1_500
    assert fees.sell_tax(1_000_000, KOSPI, date(2026, 6, 1)) == 500 + 1_500
    assert fees.sell_tax(1_000_000, KOSPI, date(2020, 6, 1)) == 800 + 1_500


def test_tax_table_must_be_sorted_and_non_empty() -> None:
    with pytest.raises(ValueError, match="increasing"):
        KrxFees(tax_table=tuple(reversed(TAX_TABLE)))
    with pytest.raises(ValueError, match="empty"):
        KrxFees(tax_table=())


def test_missing_market_in_row_is_an_error() -> None:
    table = (TaxRow(date(2023, 1, 1), {Market.KOSPI: SellTax(Decimal("0.002"))}),)
    with pytest.raises(ValueError, match="KOSDAQ"):
        tax_rate(Market.KOSDAQ, date(2024, 1, 1), table)


def test_no_fees() -> None:
    models: list[FeeModel] = [NoFees(), FEES]
    no_fees = models[0]
    assert no_fees.commission(10_000_000, KOSPI) == 0
    assert no_fees.sell_tax(10_000_000, KOSPI, date(2026, 3, 3)) == 0
    assert models[1].commission(10_000_000, KOSPI) > 0


@given(st.integers(min_value=0, max_value=10**12))
def test_commission_is_the_floor_of_the_exact_product(amount: int) -> None:
    # 0.0140527 % = 140,527 / 10^9, so floor(amount × rate) = amount × 140,527 // 10^9
    assert FEES.commission(amount, KOSPI) == amount * 140_527 // 10**9


@given(st.integers(min_value=0, max_value=10**12))
def test_2026_kospi_tax_is_two_separate_floors(amount: int) -> None:
    tax = FEES.sell_tax(amount, KOSPI, date(2026, 3, 3))
    assert tax == amount * 5 // 10_000 + amount * 15 // 10_000
    assert tax <= amount * 20 // 10_000
