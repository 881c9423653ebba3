"""No part of a secret reaches a log line at DEBUG, over a real session with the KIS fake.

websockets shortens long frames when it logs them (``first 48 … last 24`` characters), so a
subscribe frame's approval key used to be cut in two and its first half escaped the redaction
of whole secrets. The filter now redacts a record's arguments before they are formatted; this
test looks for every substring of six characters or more of every secret in every line.

The credentials are random per run (a fixed app key such as ``PS…0000000001`` would match
``000000`` in any price or order number and prove nothing).
"""

from __future__ import annotations

import io
import logging
import secrets
import string
from collections.abc import Iterator

import pytest
from kis_kit import (
    INSTRUMENTS,
    OPEN,
    PRICES,
    SAMSUNG,
    WAIT,
    Tape,
    buy,
    collect,
    config_for,
    filled_qty,
)

from qts.brokers.kis import KisBroker, KisMode
from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.fake import FakeApp, FakeKisOptions, FakeKisServer
from qts.core.clock import SimulatedClock

MIN_FRAGMENT = 6
ALNUM = string.ascii_letters + string.digits


def _random(n: int, alphabet: str = ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def fragments(secret: str) -> set[str]:
    """Every substring of ``secret`` with at least MIN_FRAGMENT characters."""
    n = len(secret)
    return {secret[i:j] for i in range(n) for j in range(i + MIN_FRAGMENT, n + 1)}


@pytest.fixture
def app() -> FakeApp:
    return FakeApp(
        app_key="PS" + _random(34),
        app_secret=_random(180),
        # digits that no price, quantity, time or order number of the session contains
        cano="97979797",
        acnt_prdt_cd="01",
        hts_id="qz" + _random(8, string.ascii_lowercase),
        mode=KisMode.PAPER,
    )


@pytest.fixture
def fake(app: FakeApp) -> Iterator[FakeKisServer]:
    options = FakeKisOptions(
        mode=KisMode.PAPER,
        apps=(app,),
        rate_limit=1000,
        ping_interval_s=0.2,
        token_reissue_interval_s=0.2,
    )
    server = FakeKisServer(
        INSTRUMENTS, SimulatedClock(OPEN), options=options, reference_prices=PRICES
    ).start()
    yield server
    server.stop()


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Everything logged anywhere at DEBUG, formatted as a console handler would."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield out
    root.removeHandler(handler)
    root.setLevel(old)


def test_no_fragment_of_a_secret_in_debug_logs(
    fake: FakeKisServer, app: FakeApp, debug_log: io.StringIO
) -> None:
    config = config_for(fake, app, rate_limit_per_s=1000)
    with KisBroker(config, clock=fake.clock, instruments=INSTRUMENTS) as broker:
        assert broker.ws is not None and broker.ws.wait_ready(WAIT)
        broker.subscribe_trades(SAMSUNG)
        assert fake.wait_subscribed("H0STCNT0", SAMSUNG, 1, WAIT)
        assert broker.submit(buy("frag-1", 3, 70_000)).accepted
        tape = Tape()
        fake.advance(tape.frame())
        collect(broker, lambda ev: filled_qty(ev) == 3)
        broker.balance()
        broker.open_orders()
        broker.quote(SAMSUNG)
        fake.expire_tokens()  # a second token is issued and used
        broker.balance()
        assert fake.drop_websockets() == 1  # a second approval-key login
        assert fake.wait_subscribed(ep.notice_tr(True), app.hts_id, 2, WAIT)

    text = debug_log.getvalue()
    assert "qts.brokers.kis.ws.frames" in text and "httpx" in text  # the noisy loggers ran
    assert "..." in text  # websockets shortened at least one frame
    tokens = fake.call(lambda: list(fake._tokens) + list(fake._approval_of.values()))
    assert len(tokens) >= 3
    cano = app.cano
    for secret in (app.app_key, app.app_secret, cano, app.hts_id, *tokens):
        leaked = sorted(f for f in fragments(secret) if f in text)
        assert leaked == [], f"{len(leaked)} fragments of a {len(secret)}-char secret leaked"
