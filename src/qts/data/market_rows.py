"""The market-data store's value checks and row tuples, shared by the SQLite and PostgreSQL
adapters so both accept and refuse the same calls (and neither imports the other's driver)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from qts.data.checked_rows import (
    ALWAYS_AWARE,
    I64_MAX,
    as_non_negative,
    as_positive,
    as_text,
    as_ts,
)
from qts.data.market_ports import Bar, ExecutionLog, FeedbackRow, RiskConfig, StrategyParam, Tick


def check_time(value: Any, name: str) -> datetime:
    """An aware datetime (the instant SqliteStore would keep)."""
    return as_ts(value, name)


def check_float(value: Any, name: str) -> float:
    """A finite number (NaN and infinities are refused: SQLite would store NULL for NaN)."""
    if type(value) is float or (isinstance(value, int | float) and not isinstance(value, bool)):
        number = float(value)
        if math.isfinite(number):
            return number
        raise ValueError(f"{name} must be finite, got {value!r}")
    if value is None:
        raise ValueError(f"{name} must not be null")
    raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")


def check_float_opt(value: Any, name: str) -> float | None:
    return None if value is None else check_float(value, name)


def check_ratio(value: Any, name: str) -> float:
    number = check_float(value, name)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {number}")
    return number


def check_bool(value: Any, name: str) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")


_DECIMAL_LIMIT = Decimal(10) ** 10
_DECIMAL_STEP = Decimal("1e-8")


def check_decimal(value: Any, name: str) -> Decimal:
    """What numeric(18, 8) holds exactly: at most 10 digits before the point and 8 after."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__} {value!r}")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    try:
        exact = number == number.quantize(_DECIMAL_STEP)
    except InvalidOperation:
        exact = False
    if not exact or abs(number) >= _DECIMAL_LIMIT:
        raise ValueError(f"{name} {value} does not fit numeric(18, 8)")
    return number


def check_range(start: Any, end: Any) -> tuple[datetime, datetime]:
    return check_time(start, "start"), check_time(end, "end")


def tick_rows(ticks: Iterable[Tick]) -> Iterator[tuple[Any, ...]]:
    """(time, symbol, price, volume, bid, ask, source) per tick, checked.

    The common case costs one inline test per tick; anything else goes through the checks
    that name the field."""
    for t in ticks:
        time, symbol, price, volume, bid, ask, source = (
            t.time,
            t.symbol,
            t.price,
            t.volume,
            t.bid,
            t.ask,
            t.source,
        )
        if not (
            type(time) is datetime
            and type(time.tzinfo) in ALWAYS_AWARE
            and 1 < time.year < 9999
            and type(symbol) is str
            and type(price) is int
            and 0 < price <= I64_MAX
            and type(volume) is int
            and 0 <= volume <= I64_MAX
            and (bid is None or (type(bid) is int and 0 <= bid <= I64_MAX))
            and (ask is None or (type(ask) is int and 0 <= ask <= I64_MAX))
            and type(source) is str
        ):
            time = check_time(time, "tick time")
            symbol = as_text(symbol, "tick symbol")
            price = as_positive(price, "tick price")
            volume = as_non_negative(volume, "tick volume")
            bid = None if bid is None else as_non_negative(bid, "tick bid")
            ask = None if ask is None else as_non_negative(ask, "tick ask")
            source = as_text(source, "tick source")
        yield (time, symbol, price, volume, bid, ask, source)


def bar_row(b: Bar) -> tuple[Any, ...]:
    return (
        check_time(b.time, "bar time"),
        as_text(b.symbol, "bar symbol"),
        as_positive(b.open, "bar open"),
        as_positive(b.high, "bar high"),
        as_positive(b.low, "bar low"),
        as_positive(b.close, "bar close"),
        as_non_negative(b.volume, "bar volume"),
    )


def execution_log_row(e: ExecutionLog) -> tuple[Any, ...]:
    return (
        check_time(e.time, "execution log time"),
        as_text(e.order_id, "execution log order_id"),
        as_text(e.symbol, "execution log symbol"),
        as_text(e.stage, "execution log stage"),
        check_float_opt(e.latency_ms, "execution log latency_ms"),
        check_bool(e.success, "execution log success"),
        None if e.error_code is None else as_text(e.error_code, "execution log error_code"),
    )


def feedback_row(f: FeedbackRow) -> tuple[Any, ...]:
    return (
        check_time(f.time, "feedback time"),
        as_text(f.symbol, "feedback symbol"),
        as_text(f.order_id, "feedback order_id"),
        as_text(f.strategy_tag, "feedback strategy_tag"),
        check_float(f.slippage_bps, "feedback slippage_bps"),
        check_float(f.fill_latency_ms, "feedback fill_latency_ms"),
        check_ratio(f.fill_ratio, "feedback fill_ratio"),
        check_ratio(f.quality_score, "feedback quality_score"),
        check_float(f.market_impact_bps, "feedback market_impact_bps"),
    )


def strategy_row(p: StrategyParam) -> tuple[Any, ...]:
    return (
        as_text(p.strategy_id, "strategy strategy_id"),
        as_text(p.param_name, "strategy param_name"),
        as_text(p.value, "strategy value"),
        as_text(p.value_type, "strategy value_type"),
        as_text(p.description, "strategy description"),
        check_time(p.updated_at, "strategy updated_at"),
    )


def risk_row(r: RiskConfig) -> tuple[Any, ...]:
    return (
        as_text(r.config_key, "risk config_key"),
        check_decimal(r.value, "risk value"),
        as_text(r.description, "risk description"),
        check_time(r.updated_at, "risk updated_at"),
    )


def minute_ceiling(ts: datetime) -> datetime:
    """The first minute boundary at or after ts (UTC and KST minutes coincide)."""
    floor = ts.replace(second=0, microsecond=0)
    return floor if floor == ts else floor + timedelta(minutes=1)
