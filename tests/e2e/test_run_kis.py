"""``qts run --broker kis --account paper`` against the local KIS exchange.

The fake runs in this process and replays the seeded synthetic market at high speed (a minute
bar every 1/SPEED minutes), exactly as ``qts sim serve --broker kis`` does; ``qts run`` runs as
a subprocess on the wall clock with its credentials from the environment. A wall-clock run is
not reproducible bar for bar, so the test checks what must hold: it connects and subscribes,
builds bars from the trade prints, runs cycles, places orders that fill, stops cleanly (exit 0)
on SIGTERM, and never prints a secret. Synchronisation is on data: the run's output lines and
the fake's own records, each with a ceiling, never a sleep.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_helpers import (
    FIRST_FILL_S,
    KIS_SECRETS,
    REPLAY_SPEED,
    assert_no_secret,
    assert_real_account_refused,
    assert_traded,
    kis_env,
    kis_venue,
    reap,
    start_qts,
    stop_qts,
)

from qts.brokers.kis.fake import FakeKisServer
from qts.brokers.kis.fake.credentials import PAPER_APP

RUN = ("run", "--broker", "kis", "--account", "paper", "--for", "3m")


@pytest.fixture
def fake() -> Iterator[FakeKisServer]:
    with kis_venue(REPLAY_SPEED) as (server, _clock, _market):
        yield server


def test_qts_run_trades_through_the_kis_fake(fake: FakeKisServer, tmp_path: Path) -> None:
    proc, lines = start_qts(RUN, kis_env(fake), tmp_path)
    try:
        lines.wait_for("subscribed H0STCNT0 for 8 symbols", 20)
        lines.wait_for("venue time", 20)
        # a fill reaches the console as it is booked, and the panel shows its fees
        lines.wait_match(r" FILL (BUY|SELL) ", FIRST_FILL_S)
        lines.wait_match(r"fees [1-9][0-9,]*", FIRST_FILL_S)
        stop_qts(proc, lines=lines)
    finally:
        reap(proc)
    out = lines.rest(10)
    assert_traded(lines)
    # the status panel of the live path shows the operating state and the pools
    assert re.search(r"state (AGGRESSIVE|BALANCED|DEFENSIVE).*pools: scalp [0-9,]+", out), out

    # the fake saw the registrations, the orders, and sent the fill notices
    for symbol in ("005870",):
        assert fake.subscriptions("H0STCNT0", symbol) >= 1
    assert fake.subscriptions("H0STCNI9", PAPER_APP.hts_id) >= 1
    assert fake.stats.orders_placed >= 1 and fake.stats.notices_sent >= 2
    assert fake.call(lambda: len(fake.account().sim.fills())) >= 1

    assert_no_secret(out, KIS_SECRETS)


def test_a_real_account_refuses_to_start_without_the_live_switches(tmp_path: Path) -> None:
    assert_real_account_refused("kis", tmp_path)
