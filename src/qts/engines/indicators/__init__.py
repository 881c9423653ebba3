"""Vectorised, incremental indicators over a universe of symbols (one column per symbol)."""

from qts.engines.indicators.bank import IndicatorBank, IndicatorSpec, IndicatorValues

__all__ = ["IndicatorBank", "IndicatorSpec", "IndicatorValues"]
