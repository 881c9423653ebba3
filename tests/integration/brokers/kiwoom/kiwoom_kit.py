"""Helpers for the Kiwoom adapter tests: a fake Kiwoom on an ephemeral port and brokers on it.

Three clocks, all test-driven: the trading clock (the venue's simulated time, shared with the
brokers so order dates and the grace period follow the frames), and one wall clock for the
fake's tokens and one for the client's, so a test can expire a token on one side only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from qts.brokers.kiwoom import KiwoomBroker, KiwoomConfig, RateLimit, RateLimits
from qts.brokers.kiwoom.fake import (
    TEST_ACCOUNT_NO,
    TEST_APP_KEY,
    TEST_SECRET_KEY,
    FakeConfig,
    FakeKiwoom,
    FakeKiwoomServer,
    FakeVenue,
    FaultPlan,
    Limit,
    NumberStyle,
    kiwoom_fees,
)
from qts.brokers.sim import SimConfig
from qts.core.clock import SimulatedClock
from qts.core.time import kst
from qts.model.enums import OrderSide
from qts.model.fill import Fill
from qts.model.frame import BarFrame, Universe
from qts.model.instrument import Instrument, Market

SAMSUNG, HYNIX = "005930", "000660"
UNIVERSE = Universe((SAMSUNG, HYNIX))
INSTRUMENTS = {
    SAMSUNG: Instrument(SAMSUNG, Market.KOSPI, name="Samsung Electronics"),
    HYNIX: Instrument(HYNIX, Market.KOSPI, name="SK hynix"),
}
REFERENCE = {SAMSUNG: 70_000, HYNIX: 200_000}
DAY = date(2026, 3, 4)  # a Wednesday, a KRX trading day
OPEN = kst(2026, 3, 4, 9, 0)
INITIAL_CASH = 10_000_000
INITIAL_HOLDINGS = {HYNIX: 20}

Bar = tuple[int, int, int, int, int]  # open, high, low, close, volume


def frame(start: datetime, bars: Mapping[str, Bar]) -> BarFrame:
    n = len(UNIVERSE)
    cols = [np.zeros(n, dtype=np.int64) for _ in range(5)]
    active = np.zeros(n, dtype=np.bool_)
    for symbol, bar in bars.items():
        i = UNIVERSE.index(symbol)
        for col, value in zip(cols, bar, strict=True):
            col[i] = value
        active[i] = True
    o, h, lo, c, v = cols
    return BarFrame(UNIVERSE, start, start + timedelta(minutes=1), o, h, lo, c, v, active)


def flat(price: int, volume: int = 1_000_000) -> Bar:
    return (price, price, price, price, volume)


def fast_fake(**overrides: Any) -> FakeConfig:
    """Generous limits and small pages (paging is exercised on every list query)."""
    values: dict[str, Any] = {
        "per_api": Limit(1000.0, 200),
        "overall": None,
        "page_size": 2,
        "numbers": NumberStyle.MIXED,
    }
    values.update(overrides)
    return FakeConfig(**values)


def fast_client(base_url: str, **overrides: Any) -> KiwoomConfig:
    values: dict[str, Any] = {
        "app_key": TEST_APP_KEY,
        "secret_key": TEST_SECRET_KEY,
        "account_no": TEST_ACCOUNT_NO,
        "base_url": base_url,
        "timeout_s": 2.0,
        "retries": 5,
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
        "rate_limits": RateLimits(per_api=RateLimit(rate=1000.0, burst=200), overall=None),
        "poll_interval_s": None,
        "lookup_attempts": 2,
        "lookup_delay_s": 0.02,
        "unconfirmed_grace_s": 30.0,
    }
    values.update(overrides)
    return KiwoomConfig(**values)


@dataclass
class Harness:
    server: FakeKiwoomServer
    venue: FakeVenue
    clock: SimulatedClock
    fake_wall: SimulatedClock
    client_wall: SimulatedClock
    brokers: list[KiwoomBroker] = field(default_factory=list)
    minute: int = 0

    @property
    def fake(self) -> FakeKiwoom:
        return self.server.kiwoom

    @property
    def faults(self) -> FaultPlan:
        return self.server.faults

    def config(self, **overrides: Any) -> KiwoomConfig:
        return fast_client(self.server.base_url, **overrides)

    def broker(self, config: KiwoomConfig | None = None, **overrides: Any) -> KiwoomBroker:
        cfg = config or self.config(**overrides)
        broker = KiwoomBroker(cfg, clock=self.clock, token_clock=self.client_wall)
        self.brokers.append(broker)
        return broker

    def bar(self, bars: Mapping[str, Bar]) -> None:
        """The next minute's frame (09:00, 09:01, ...)."""
        self.server.advance(frame(OPEN + timedelta(minutes=self.minute), bars))
        self.minute += 1

    def walls_forward(self, delta: timedelta) -> None:
        self.fake_wall.advance(delta)
        self.client_wall.advance(delta)

    def close(self) -> None:
        for b in self.brokers:
            b.close()
        self.server.stop()


def start_harness(
    fake: FakeConfig | None = None, *, sim: SimConfig | None = None, tmp: Path | None = None
) -> Harness:
    clock = SimulatedClock(OPEN)
    venue = FakeVenue(
        INSTRUMENTS,
        clock,
        initial_cash=INITIAL_CASH,
        holdings=INITIAL_HOLDINGS,
        sim_config=sim or SimConfig(allow_reservation=False),
        fees=kiwoom_fees(),
        reference_prices=REFERENCE,
    )
    fake_wall = SimulatedClock(kst(2026, 3, 4, 8, 0))
    client_wall = SimulatedClock(kst(2026, 3, 4, 8, 0))
    server = FakeKiwoomServer(venue, fake or fast_fake(), token_clock=fake_wall).start()
    return Harness(server, venue, clock, fake_wall, client_wall)


def expected_cash(fills: Iterable[Fill], initial: int = INITIAL_CASH) -> int:
    cash = initial
    for f in fills:
        if f.side is OrderSide.BUY:
            cash -= f.amount + f.commission
        else:
            cash += f.amount - f.commission - f.tax
    return cash


def expected_holdings(
    fills: Iterable[Fill], initial: Mapping[str, int] = INITIAL_HOLDINGS
) -> dict[str, int]:
    out = dict(initial)
    for f in fills:
        out[f.symbol] = out.get(f.symbol, 0) + (f.qty if f.side is OrderSide.BUY else -f.qty)
    return {s: q for s, q in out.items() if q}


def venue_order_count(h: Harness) -> int:
    """Orders (new numbers, not modifies or cancels) the fake has accepted."""
    return sum(1 for o in h.venue.all_orders() if o.kind.value == "NEW")


def assert_books(h: Harness, broker: KiwoomBroker) -> list[Fill]:
    """Cash and holdings at the broker, at the venue and from the fills all agree."""
    fills = broker.fills()
    balance = broker.balance()
    assert balance.cash == expected_cash(fills) == h.venue.sim.account.cash
    assert balance.holdings == expected_holdings(fills) == h.venue.sim.account.holdings
    return fills
