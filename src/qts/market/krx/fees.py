"""KRX trading costs: commission (both sides) and sell-side tax, as dated data.

Rates are ``Decimal`` fractions of the traded amount (``Decimal("0.0015")`` is 0.15 %), never
float. Rounding: every amount floors to whole won, and the two sell-side taxes (securities
transaction tax and rural special tax) floor *separately* before they are added, as two separate
levies would.

The sell tax is keyed by the *settlement* date (T+2), not the trade date: a new rate applies to
sells that settle on or after its effective date (krx-market-rules.md, "Tax timing").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol

from qts.market.krx.dated import check_rows, in_force
from qts.model.instrument import Instrument, Market


@dataclass(frozen=True, slots=True)
class SellTax:
    """Sell-side tax rates of one market: securities transaction tax + rural special tax."""

    transaction: Decimal
    rural_special: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.transaction < 0 or self.rural_special < 0:
            raise ValueError(f"tax rates cannot be negative, got {self}")

    @property
    def total(self) -> Decimal:
        return self.transaction + self.rural_special


@dataclass(frozen=True, slots=True)
class TaxRow:
    """Rates for sells settling on or after ``effective_from``."""

    effective_from: date
    rates: Mapping[Market, SellTax]


_KONEX = SellTax(Decimal("0.0010"))

# Sources: 2023 onwards: dongA 2025-12-01, Hankyung Magazine 2025-12-01, Hanyang Securities
# notice. Before 2023 (not in krx-market-rules.md; Securities Transaction Tax Act as amended,
# rates as widely published): 0.15 % + 0.15 % rural special tax on KOSPI and 0.30 % on KOSDAQ
# through the 2019 cut (sells from 2019-05-30, i.e. settling from 2019-06-03: 0.10 % + 0.15 %,
# KOSDAQ 0.25 %, KONEX 0.10 %), then 0.08 % + 0.15 % and KOSDAQ 0.23 % from 2021. The first row's
# 1996-01-01 is the table's horizon, not a statutory date: data older than that gets its rates.
TAX_TABLE: tuple[TaxRow, ...] = check_rows(
    (
        TaxRow(
            date(1996, 1, 1),
            {
                Market.KOSPI: SellTax(Decimal("0.0015"), Decimal("0.0015")),
                Market.KOSDAQ: SellTax(Decimal("0.0030")),
                Market.KONEX: SellTax(Decimal("0.0030")),
            },
        ),
        TaxRow(
            date(2019, 6, 3),
            {
                Market.KOSPI: SellTax(Decimal("0.0010"), Decimal("0.0015")),
                Market.KOSDAQ: SellTax(Decimal("0.0025")),
                Market.KONEX: _KONEX,
            },
        ),
        TaxRow(
            date(2021, 1, 1),
            {
                Market.KOSPI: SellTax(Decimal("0.0008"), Decimal("0.0015")),
                Market.KOSDAQ: SellTax(Decimal("0.0023")),
                Market.KONEX: _KONEX,
            },
        ),
        TaxRow(
            date(2023, 1, 1),
            {
                Market.KOSPI: SellTax(Decimal("0.0005"), Decimal("0.0015")),
                Market.KOSDAQ: SellTax(Decimal("0.0020")),
                Market.KONEX: _KONEX,
            },
        ),
        TaxRow(
            date(2024, 1, 1),
            {
                Market.KOSPI: SellTax(Decimal("0.0003"), Decimal("0.0015")),
                Market.KOSDAQ: SellTax(Decimal("0.0018")),
                Market.KONEX: _KONEX,
            },
        ),
        TaxRow(
            date(2025, 1, 1),
            {
                Market.KOSPI: SellTax(Decimal("0"), Decimal("0.0015")),
                Market.KOSDAQ: SellTax(Decimal("0.0015")),
                Market.KONEX: _KONEX,
            },
        ),
        TaxRow(
            date(2026, 1, 1),
            {
                Market.KOSPI: SellTax(Decimal("0.0005"), Decimal("0.0015")),
                Market.KOSDAQ: SellTax(Decimal("0.0020")),
                Market.KONEX: _KONEX,
            },
        ),
    ),
    "tax table",
)


def sell_tax_rates(
    market: Market, settle_date: date, table: Sequence[TaxRow] = TAX_TABLE
) -> SellTax:
    """The row in force on ``settle_date``.

    Settlement dates before the earliest row (1996-01-01, the table's horizon) use that row.
    """
    if not table:
        raise ValueError("tax table is empty")
    chosen = in_force(table, settle_date)
    try:
        return chosen.rates[market]
    except KeyError:
        raise ValueError(
            f"tax table row from {chosen.effective_from} has no rate for {market}"
        ) from None


def tax_rate(market: Market, settle_date: date, table: Sequence[TaxRow] = TAX_TABLE) -> Decimal:
    """Total sell-side tax rate (fraction) for a stock sell settling on ``settle_date``."""
    return sell_tax_rates(market, settle_date, table).total


def _floor_won(amount: int, rate: Decimal) -> int:
    return int((Decimal(amount) * rate).to_integral_value(rounding=ROUND_FLOOR))


def _check_amount(amount: int) -> None:
    if amount < 0:
        raise ValueError(f"amount must be >= 0 won, got {amount}")


@dataclass(frozen=True, slots=True)
class CommissionSchedule:
    """A broker/account type's commission rates (fractions; include exchange/depository fees)."""

    stock: Decimal
    etf: Decimal

    def __post_init__(self) -> None:
        if self.stock < 0 or self.etf < 0:
            raise ValueError(f"commission rates cannot be negative, got {self}")


# Sources: bullroit.net "한국투자증권 수수료 총정리"; KIS:backtester/backend/schemas/backtest.py.
KIS_NON_FACE_TO_FACE = CommissionSchedule(stock=Decimal("0.000140527"), etf=Decimal("0.000146527"))
KIS_BACKTESTER_DEFAULT = CommissionSchedule(stock=Decimal("0.00015"), etf=Decimal("0.00015"))
COMMISSION_SCHEDULES: Mapping[str, CommissionSchedule] = {
    "kis_non_face_to_face": KIS_NON_FACE_TO_FACE,
    "kis_backtester_default": KIS_BACKTESTER_DEFAULT,
}


class FeeModel(Protocol):
    """What a fill costs, in whole won."""

    def commission(self, amount: int, instrument: Instrument) -> int: ...

    def sell_tax(self, amount: int, instrument: Instrument, settle_date: date) -> int: ...


class KrxFees:
    """Commission at a flat rate per side; sell tax from the dated table.

    ETFs pay no securities transaction tax (nor rural special tax) on KRX, so ``sell_tax`` is 0
    for them; they pay the ETF commission rate.
    """

    def __init__(
        self,
        commission_rate: Decimal = KIS_NON_FACE_TO_FACE.stock,
        etf_commission_rate: Decimal = KIS_NON_FACE_TO_FACE.etf,
        tax_table: Sequence[TaxRow] = TAX_TABLE,
    ) -> None:
        self.schedule = CommissionSchedule(commission_rate, etf_commission_rate)
        self.tax_table = check_rows(tax_table, "tax table")

    @classmethod
    def for_broker(cls, name: str, tax_table: Sequence[TaxRow] = TAX_TABLE) -> KrxFees:
        try:
            s = COMMISSION_SCHEDULES[name]
        except KeyError:
            known = ", ".join(sorted(COMMISSION_SCHEDULES))
            raise ValueError(f"unknown commission schedule {name!r}; known: {known}") from None
        return cls(s.stock, s.etf, tax_table)

    def commission(self, amount: int, instrument: Instrument) -> int:
        _check_amount(amount)
        rate = self.schedule.etf if instrument.is_etf else self.schedule.stock
        return _floor_won(amount, rate)

    def sell_tax(self, amount: int, instrument: Instrument, settle_date: date) -> int:
        _check_amount(amount)
        if instrument.is_etf:
            return 0
        rates = sell_tax_rates(instrument.market, settle_date, self.tax_table)
        return _floor_won(amount, rates.transaction) + _floor_won(amount, rates.rural_special)


class NoFees:
    """Costs nothing; for tests and for isolating a strategy's gross behaviour."""

    def commission(self, amount: int, instrument: Instrument) -> int:
        return 0

    def sell_tax(self, amount: int, instrument: Instrument, settle_date: date) -> int:
        return 0
