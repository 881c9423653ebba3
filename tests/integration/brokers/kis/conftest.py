"""Fixtures: a KIS fake on ephemeral loopback ports, and adapters connected to it.

The fake runs its asyncio loop in a background thread; tests synchronise through readiness
events (server started, subscriptions acknowledged, events queued), never through sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kis_kit import INSTRUMENTS, OPEN, PRICES, WAIT, config_for

from qts.brokers.kis import KisBroker, KisMode
from qts.brokers.kis.fake import FakeApp, FakeKisOptions, FakeKisServer, default_app
from qts.core.clock import SimulatedClock


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(OPEN)


@pytest.fixture
def fake_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Per-test fake options: ``parametrize("fake_options", [{...}], indirect=True)``."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def fake(clock: SimulatedClock, fake_options: dict[str, Any]) -> Iterator[FakeKisServer]:
    values: dict[str, Any] = {
        "mode": KisMode.REAL,
        "ping_interval_s": 0.2,
        "token_reissue_interval_s": 0.2,
    }
    values.update(fake_options)
    server = FakeKisServer(
        INSTRUMENTS,
        clock,
        options=FakeKisOptions(**values),
        reference_prices=PRICES,
    ).start()
    yield server
    server.stop()


@pytest.fixture
def app(fake: FakeKisServer) -> FakeApp:
    return default_app(fake.options.mode)


@pytest.fixture
def connect(
    fake: FakeKisServer, app: FakeApp, clock: SimulatedClock
) -> Iterator[Callable[..., KisBroker]]:
    made: list[KisBroker] = []

    def make(**overrides: object) -> KisBroker:
        broker = KisBroker(config_for(fake, app, **overrides), clock=clock, instruments=INSTRUMENTS)
        made.append(broker)
        if broker.ws is not None and broker.config.hts_id is not None:
            assert broker.ws.wait_ready(WAIT), "fill-notice registration not acknowledged"
        return broker

    yield make
    for broker in made:
        broker.close()
