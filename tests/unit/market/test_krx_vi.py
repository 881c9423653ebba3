"""Volatility interruption thresholds per tier and phase (KRX GLB0602020204T7)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from qts.market.krx.sessions import Phase
from qts.market.krx.vi import (
    VI_AUCTION_DURATION,
    VIKind,
    VITier,
    VITrigger,
    VolatilityInterruption,
    dynamic_rate,
    static_rate,
    vi_tier,
)
from qts.model.instrument import Instrument, Market, SecurityType

K200 = Instrument("005930", Market.KOSPI, kospi200=True)
KOSPI = Instrument("000001", Market.KOSPI)
KOSDAQ = Instrument("091990", Market.KOSDAQ)
KOSDAQ_FLAGGED = Instrument("091991", Market.KOSDAQ, kospi200=True)  # flag ignored off KOSPI
KONEX = Instrument("123456", Market.KONEX)
K200_ETF = Instrument("069500", Market.KOSPI, SecurityType.ETF, kospi200=True)
VI = VolatilityInterruption()


def test_auction_lasts_two_minutes() -> None:
    assert timedelta(minutes=2) == VI_AUCTION_DURATION


@pytest.mark.parametrize(
    ("instrument", "tier"),
    [
        (K200, VITier.KOSPI200),
        (K200_ETF, VITier.KOSPI200),
        (KOSPI, VITier.GENERAL),
        (KOSDAQ, VITier.GENERAL),
        (KOSDAQ_FLAGGED, VITier.GENERAL),
    ],
)
def test_tier(instrument: Instrument, tier: VITier) -> None:
    assert vi_tier(instrument) is tier


@pytest.mark.parametrize(
    ("instrument", "phase", "rate"),
    [
        (K200, Phase.CONTINUOUS, "0.03"),
        (K200, Phase.CLOSING_AUCTION, "0.02"),
        (K200, Phase.AFTER_HOURS_SINGLE, "0.03"),
        (KOSPI, Phase.CONTINUOUS, "0.06"),
        (KOSPI, Phase.CLOSING_AUCTION, "0.04"),
        (KOSPI, Phase.AFTER_HOURS_SINGLE, "0.06"),
        (KOSDAQ, Phase.CONTINUOUS, "0.06"),
        (KOSDAQ, Phase.CLOSING_AUCTION, "0.04"),
        (KOSDAQ, Phase.AFTER_HOURS_SINGLE, "0.06"),
        (K200, Phase.PRE_OPEN_AUCTION, None),
        (K200, Phase.AFTER_HOURS_CLOSE, None),
        (K200, Phase.CLOSED, None),
        (KONEX, Phase.CONTINUOUS, None),
    ],
)
def test_dynamic_rates(instrument: Instrument, phase: Phase, rate: str | None) -> None:
    expected = None if rate is None else Decimal(rate)
    assert dynamic_rate(instrument, phase) == expected


def test_expiry_day_closing_auction_rate() -> None:
    assert dynamic_rate(K200, Phase.CLOSING_AUCTION, expiry_day=True) == Decimal("0.01")
    assert dynamic_rate(KOSDAQ, Phase.CLOSING_AUCTION, expiry_day=True) == Decimal("0.01")
    assert dynamic_rate(K200, Phase.CONTINUOUS, expiry_day=True) == Decimal("0.03")


@pytest.mark.parametrize(
    ("phase", "rate"),
    [
        (Phase.PRE_OPEN_AUCTION, "0.10"),
        (Phase.CONTINUOUS, "0.10"),
        (Phase.CLOSING_AUCTION, "0.10"),
        (Phase.AFTER_HOURS_SINGLE, None),
        (Phase.AFTER_HOURS_CLOSE, None),
        (Phase.CLOSED, None),
    ],
)
def test_static_rates(phase: Phase, rate: str | None) -> None:
    expected = None if rate is None else Decimal(rate)
    assert static_rate(KOSPI, phase) == expected


@pytest.mark.parametrize(
    ("instrument", "phase", "price", "rate"),
    [
        # reference 10,000 for both kinds; the trigger is at reference × (1 ± rate), inclusive
        (K200, Phase.CONTINUOUS, 10_300, "0.03"),
        (K200, Phase.CONTINUOUS, 10_290, None),
        (K200, Phase.CONTINUOUS, 9_700, "0.03"),
        (K200, Phase.CONTINUOUS, 9_710, None),
        (K200, Phase.CLOSING_AUCTION, 10_200, "0.02"),
        (K200, Phase.CLOSING_AUCTION, 10_190, None),
        (K200, Phase.AFTER_HOURS_SINGLE, 10_300, "0.03"),
        (KOSPI, Phase.CONTINUOUS, 10_600, "0.06"),
        (KOSPI, Phase.CONTINUOUS, 10_590, None),
        (KOSPI, Phase.CONTINUOUS, 9_400, "0.06"),
        (KOSDAQ, Phase.CLOSING_AUCTION, 10_400, "0.04"),
        (KOSDAQ, Phase.CLOSING_AUCTION, 10_390, None),
        (KOSDAQ, Phase.AFTER_HOURS_SINGLE, 10_600, "0.06"),
        (KOSDAQ, Phase.AFTER_HOURS_SINGLE, 9_410, None),
        (KONEX, Phase.CONTINUOUS, 12_000, None),
        (KOSPI, Phase.CLOSED, 12_000, None),
    ],
)
def test_dynamic_trigger_edges(
    instrument: Instrument, phase: Phase, price: int, rate: str | None
) -> None:
    trigger = VI.check(instrument, phase, 10_000, 10_000, price)
    if rate is None:
        assert trigger is None
    else:
        assert trigger == VITrigger(VIKind.DYNAMIC, Decimal(rate), 10_000, price)


def test_dynamic_trigger_uses_the_last_trade_reference() -> None:
    # 10,290 is only 2.9 % above 10,000 but 3.0 % above 9,990: 9,990 × 1.03 = 10,289.7
    trigger = VI.check(K200, Phase.CONTINUOUS, 9_990, 10_000, 10_290)
    assert trigger is not None
    assert trigger.kind is VIKind.DYNAMIC
    assert trigger.reference == 9_990
    assert VI.check(K200, Phase.CONTINUOUS, 9_990, 10_000, 10_280) is None  # 10,280 < 10,289.7


def test_static_trigger() -> None:
    # dynamic reference follows the price up; static reference stays at the open's 10,000
    trigger = VI.check(KOSPI, Phase.CONTINUOUS, 10_950, 10_000, 11_000)
    assert trigger == VITrigger(VIKind.STATIC, Decimal("0.10"), 10_000, 11_000)
    assert trigger.threshold_percent == 10
    assert trigger.upward
    assert VI.check(KOSPI, Phase.CONTINUOUS, 10_950, 10_000, 10_990) is None
    down = VI.check(KOSPI, Phase.CONTINUOUS, 9_050, 10_000, 9_000)
    assert down is not None
    assert down.kind is VIKind.STATIC
    assert not down.upward


def test_pre_open_auction_has_only_static_vi() -> None:
    # 9 % above base: no dynamic VI before the open; 10 % hits the static one
    assert VI.check(KOSPI, Phase.PRE_OPEN_AUCTION, 10_000, 10_000, 10_900) is None
    trigger = VI.check(KOSPI, Phase.PRE_OPEN_AUCTION, 10_000, 10_000, 11_000)
    assert trigger is not None
    assert trigger.kind is VIKind.STATIC


def test_after_hours_single_has_only_dynamic_vi() -> None:
    # 10 % from the static reference but only 4.3 % from the last trade: nothing
    assert VI.check(KOSPI, Phase.AFTER_HOURS_SINGLE, 10_550, 10_000, 11_000) is None


def test_static_reported_when_both_fire() -> None:
    trigger = VI.check(K200, Phase.CONTINUOUS, 10_000, 10_000, 11_000)
    assert trigger is not None
    assert trigger.kind is VIKind.STATIC


def test_expiry_day_check() -> None:
    trigger = VI.check(K200, Phase.CLOSING_AUCTION, 10_000, 10_000, 10_100, expiry_day=True)
    assert trigger == VITrigger(VIKind.DYNAMIC, Decimal("0.01"), 10_000, 10_100)
    assert VI.check(K200, Phase.CLOSING_AUCTION, 10_000, 10_000, 10_090, expiry_day=True) is None


def test_listing_day_has_no_vi() -> None:
    assert VI.check(KOSDAQ, Phase.CONTINUOUS, 10_000, 10_000, 13_000, listing_day=True) is None


@pytest.mark.parametrize(("dyn", "sta", "price"), [(0, 10_000, 10_000), (10_000, -1, 10_000)])
def test_non_positive_prices_rejected(dyn: int, sta: int, price: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        VI.check(KOSPI, Phase.CONTINUOUS, dyn, sta, price)
