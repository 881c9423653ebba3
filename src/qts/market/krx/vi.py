"""Volatility interruption (VI): per-stock 2-minute call auction after a sharp move.

Sources: KRX global pages GLB0602020204T7 and GLB0602010204T9.

* Dynamic VI compares a would-be trade with the last trade price. Rates depend on the tier and the
  phase: KOSPI200 constituents 3 % continuous / 2 % closing auction / 3 % after-hours single
  price; other KOSPI and all KOSDAQ stocks 6 % / 4 % / 6 %. On the expiry day of equity
  derivatives the closing-auction rate of their underlyings is 1 %.
* Static VI compares with the last single-price auction price (the base price before the open):
  10 % during the regular session (pre-open auction, continuous, closing auction).
* No daily cap on triggers; not applied on a stock's listing day. KONEX is outside the spec's
  VI rows, so ``check`` returns None for it.

ETFs follow the tier of their index: set ``Instrument.kospi200`` for ETFs tracking KOSPI200/100/50,
KRX100, inverse or bond indices (3 % tier); leverage and sector ETFs stay in the 6 % tier.

Assumption: a trigger fires when the move is at least reference × rate, computed exactly (the
trigger price is not snapped to the tick grid). When both kinds would fire, STATIC is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum

from qts.market.krx.sessions import Phase
from qts.model.instrument import Instrument, Market

VI_AUCTION_DURATION = timedelta(minutes=2)


class VIKind(StrEnum):
    DYNAMIC = "DYNAMIC"
    STATIC = "STATIC"


class VITier(StrEnum):
    KOSPI200 = "KOSPI200"  # KOSPI200 constituents (and index ETFs of that tier)
    GENERAL = "GENERAL"  # other KOSPI and all KOSDAQ


DYNAMIC_VI_RATES: Mapping[VITier, Mapping[Phase, Decimal]] = {
    VITier.KOSPI200: {
        Phase.CONTINUOUS: Decimal("0.03"),
        Phase.CLOSING_AUCTION: Decimal("0.02"),
        Phase.AFTER_HOURS_SINGLE: Decimal("0.03"),
    },
    VITier.GENERAL: {
        Phase.CONTINUOUS: Decimal("0.06"),
        Phase.CLOSING_AUCTION: Decimal("0.04"),
        Phase.AFTER_HOURS_SINGLE: Decimal("0.06"),
    },
}
EXPIRY_DAY_CLOSING_RATE = Decimal("0.01")
STATIC_VI_RATE = Decimal("0.10")
STATIC_VI_PHASES = frozenset({Phase.PRE_OPEN_AUCTION, Phase.CONTINUOUS, Phase.CLOSING_AUCTION})
VI_MARKETS = frozenset({Market.KOSPI, Market.KOSDAQ})


@dataclass(frozen=True, slots=True)
class VITrigger:
    kind: VIKind
    rate: Decimal  # fraction, e.g. Decimal("0.03")
    reference: int
    price: int

    @property
    def threshold_percent(self) -> Decimal:
        return self.rate * 100

    @property
    def upward(self) -> bool:
        return self.price > self.reference


def vi_tier(instrument: Instrument) -> VITier:
    if instrument.market is Market.KOSPI and instrument.kospi200:
        return VITier.KOSPI200
    return VITier.GENERAL


def dynamic_rate(
    instrument: Instrument, phase: Phase, *, expiry_day: bool = False
) -> Decimal | None:
    """Dynamic VI rate in ``phase``, or None where dynamic VI does not apply."""
    if instrument.market not in VI_MARKETS:
        return None
    if expiry_day and phase is Phase.CLOSING_AUCTION:
        return EXPIRY_DAY_CLOSING_RATE
    return DYNAMIC_VI_RATES[vi_tier(instrument)].get(phase)


def static_rate(instrument: Instrument, phase: Phase) -> Decimal | None:
    """Static VI rate in ``phase``, or None where static VI does not apply."""
    if instrument.market not in VI_MARKETS or phase not in STATIC_VI_PHASES:
        return None
    return STATIC_VI_RATE


def _breaches(reference: int, price: int, rate: Decimal) -> bool:
    return Decimal(abs(price - reference)) >= Decimal(reference) * rate


class VolatilityInterruption:
    """Decides whether a would-be trade price triggers a VI. Pure: the caller keeps references."""

    def check(
        self,
        instrument: Instrument,
        phase: Phase,
        reference_dynamic: int,
        reference_static: int,
        price: int,
        *,
        expiry_day: bool = False,
        listing_day: bool = False,
    ) -> VITrigger | None:
        if reference_dynamic <= 0 or reference_static <= 0 or price <= 0:
            raise ValueError(
                f"prices must be positive, got dynamic ref {reference_dynamic}, "
                f"static ref {reference_static}, price {price}"
            )
        if listing_day:
            return None
        s_rate = static_rate(instrument, phase)
        if s_rate is not None and _breaches(reference_static, price, s_rate):
            return VITrigger(VIKind.STATIC, s_rate, reference_static, price)
        d_rate = dynamic_rate(instrument, phase, expiry_day=expiry_day)
        if d_rate is not None and _breaches(reference_dynamic, price, d_rate):
            return VITrigger(VIKind.DYNAMIC, d_rate, reference_dynamic, price)
        return None
