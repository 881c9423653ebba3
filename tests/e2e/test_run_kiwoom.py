"""``qts run --broker kiwoom --account paper`` against the local Kiwoom exchange.

The twin of test_run_kis.py. The fake (REST + the real-time WebSocket on the same port) runs in
this process and replays the seeded synthetic market at high speed, as ``qts sim serve
--broker kiwoom`` does; ``qts run`` is a subprocess on the wall clock with its credentials from
the environment. Prints come over Kiwoom's WebSocket (0B), dated by ka10080; fills come from the
adapter's account polling. Synchronisation is on the run's output lines and the fake's records,
each with a ceiling, never a sleep.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_helpers import (
    KIWOOM_SECRETS,
    REPLAY_SPEED,
    assert_no_secret,
    assert_real_account_refused,
    assert_traded,
    kiwoom_env,
    kiwoom_venue,
    reap,
    start_qts,
    stop_qts,
)

from qts.brokers.kiwoom.fake import FakeKiwoomServer

RUN = ("run", "--broker", "kiwoom", "--account", "paper", "--for", "3m")
WAIT = 60.0  # ceiling for the run to place and fill its first order (Kiwoom paces 1 call/s/api)


@pytest.fixture
def fake() -> Iterator[FakeKiwoomServer]:
    with kiwoom_venue(REPLAY_SPEED) as (server, _venue, _replay):
        yield server


def test_qts_run_trades_through_the_kiwoom_fake(fake: FakeKiwoomServer, tmp_path: Path) -> None:
    proc, lines = start_qts(RUN, kiwoom_env(fake), tmp_path)
    try:
        lines.wait_for("subscribed 0B for 8 symbols", 30)
        venue_time = lines.wait_for("venue time 2026-03-04", 30)  # dated by ka10080
        assert "(from the first trade print)" in venue_time
        lines.wait_match(r" FILL (BUY|SELL) ", WAIT)
        lines.wait_match(r"fees [1-9][0-9,]*", WAIT)
        stop_qts(proc, lines=lines)
    finally:
        reap(proc)
    out = lines.rest(10)
    assert_traded(lines)

    hub = fake.kiwoom.realtime
    assert hub.logins >= 1 and hub.pushed >= 1
    assert fake.kiwoom.requests.get("ka10080", 0) >= 1  # the trading date came from the venue
    assert fake.kiwoom.requests.get("ka10001", 0) >= 8  # base prices of the universe
    assert fake.kiwoom.requests.get("kt10000", 0) + fake.kiwoom.requests.get("kt10001", 0) >= 1
    assert len(fake.venue.executions()) >= 1

    assert_no_secret(out, (*KIWOOM_SECRETS, *fake.kiwoom.issued_tokens()))


def test_a_real_kiwoom_account_refuses_to_start_without_the_live_switches(tmp_path: Path) -> None:
    assert_real_account_refused("kiwoom", tmp_path)
