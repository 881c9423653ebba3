"""Shared pieces of the KIS integration tests: the universe, bar frames, configs, waits."""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta

import numpy as np
from pydantic import SecretStr

from qts.brokers.base import BrokerEvent, OrderRequest
from qts.brokers.kis import KisBroker, KisConfig
from qts.brokers.kis.fake import FakeApp, FakeKisServer
from qts.core.time import at
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.fees import KrxFees
from qts.model.enums import OrderSide, OrderType
from qts.model.fill import Fill
from qts.model.frame import BarFrame, Universe
from qts.model.instrument import Instrument

DAY = date(2026, 3, 4)  # a Wednesday, a KRX trading day
OPEN = at(DAY, time(9, 0))
SAMSUNG, HYNIX = "005930", "000660"
PRICES = {SAMSUNG: 70_000, HYNIX: 180_000}  # tick 100 in both bands
INSTRUMENTS = {s: Instrument.krx(s) for s in PRICES}
UNIVERSE = Universe(tuple(PRICES))
CASH = 100_000_000
FEES = KrxFees()
CALENDAR = KrxCalendar()
WAIT = 10.0  # seconds: a ceiling for readiness waits, never a sleep


class Tape:
    """Consecutive one-minute frames of the test universe from 09:00 KST."""

    def __init__(self, start: datetime = OPEN) -> None:
        self.next_start = start

    def frame(
        self,
        prices: Mapping[str, int] | None = None,
        *,
        volume: int = 10_000,
        low: Mapping[str, int] | None = None,
        high: Mapping[str, int] | None = None,
    ) -> BarFrame:
        px = {**PRICES, **(prices or {})}
        start = self.next_start
        self.next_start = start + timedelta(minutes=1)
        close = np.array([px[s] for s in UNIVERSE.symbols], dtype=np.int64)
        lo = np.array([(low or {}).get(s, px[s]) for s in UNIVERSE.symbols], dtype=np.int64)
        hi = np.array([(high or {}).get(s, px[s]) for s in UNIVERSE.symbols], dtype=np.int64)
        n = len(UNIVERSE)
        return BarFrame(
            UNIVERSE,
            start,
            self.next_start,
            close.copy(),
            hi,
            lo,
            close,
            np.full(n, volume, dtype=np.int64),
            np.ones(n, dtype=np.bool_),
        )


def config_for(server: FakeKisServer, app: FakeApp, **overrides: object) -> KisConfig:
    values: dict[str, object] = {
        "mode": app.mode,
        "app_key": SecretStr(app.app_key),
        "app_secret": SecretStr(app.app_secret),
        "cano": SecretStr(app.cano),
        "acnt_prdt_cd": app.acnt_prdt_cd,
        "hts_id": SecretStr(app.hts_id),
        "base_url": server.rest_url,
        "ws_url": server.ws_url,
        "timeout_s": 2.0,
        "token_min_interval_s": 0.2,
        "backoff_s": 0.02,
        "backoff_max_s": 0.2,
        "lookup_delay_s": 0.05,
        "ws_reconnect_min_s": 0.05,
        "ws_reconnect_max_s": 0.5,
        "expiry_grace_s": 0.0,
        "inquiry_cache_s": 0.0,
    }
    values.update(overrides)
    return KisConfig.model_validate(values)


def buy(coid: str, qty: int, price: int | None = None, symbol: str = SAMSUNG) -> OrderRequest:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderRequest(coid, symbol, OrderSide.BUY, kind, qty, price)


def sell(coid: str, qty: int, price: int | None = None, symbol: str = SAMSUNG) -> OrderRequest:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderRequest(coid, symbol, OrderSide.SELL, kind, qty, price)


def collect(
    broker: KisBroker,
    until: Callable[[list[BrokerEvent]], bool],
    timeout: float = WAIT,
) -> list[BrokerEvent]:
    """Drain events until ``until(all so far)`` holds; waits on the adapter's condition."""
    seen: list[BrokerEvent] = []
    deadline = _time.monotonic() + timeout
    while True:
        seen.extend(broker.drain_events())
        if until(seen):
            return seen
        left = deadline - _time.monotonic()
        if left <= 0:
            raise AssertionError(f"events did not arrive in {timeout} s; got {seen}")
        broker.wait_events(1, min(left, 1.0))


def fills_of(events: list[BrokerEvent]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def filled_qty(events: list[BrokerEvent], coid: str | None = None) -> int:
    return sum(f.qty for f in fills_of(events) if coid is None or f.client_order_id == coid)


def expected_cash(fills: list[Fill], start: int = CASH) -> int:
    """Cash after ``fills``: what the venue's account must show (fees included)."""
    cash = start
    for f in fills:
        if f.side is OrderSide.BUY:
            cash -= f.amount + f.commission
        else:
            cash += f.amount - f.commission - f.tax
    return cash
