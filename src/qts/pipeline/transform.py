"""Transform: indicators and derived account values. No decisions here."""

from __future__ import annotations

import numpy as np

from qts.core.errors import QtsError
from qts.engines.contracts import CalcData, RawData, frozen
from qts.engines.indicators import IndicatorBank


class TransformError(QtsError):
    """Derived data is unusable (NaN, non-positive equity): the cycle must not trade on it."""


def transform(raw: RawData, bank: IndicatorBank, last_close: np.ndarray) -> CalcData:
    indicators = bank.update(raw.frame)
    qty = raw.account.qty
    exposure = frozen(qty * last_close)
    unrealized = frozen(np.where(qty > 0, exposure - raw.account.cost_basis, 0))
    equity = raw.account.equity
    if equity <= 0:
        raise TransformError(f"transform: total equity {equity:,} KRW is not positive")
    return CalcData(
        raw=raw,
        indicators=indicators,
        exposure_value=exposure,
        unrealized_pnl=unrealized,
        total_equity=equity,
        total_exposure=float(exposure.sum()) / equity,
        daily_pnl=equity - raw.account.day_start_equity,
    )
