"""``/health`` judges the session and the feed's age on the clock the engine trades on.

A new-user walkthrough of the live path found ``feed: session closed`` at venue time 09:08,
while trading: the check read the machine's wall clock, and the local KIS exchange replays a day
on its own clock, hours away from it. Here the engine's trading clock is a trading day of March
2026 (the live path's VenueClock, anchored by a print; or the simulated clock of a paper run),
months from the wall clock, and the real dashboard server (OperatorSurface, as ``qts run``
attaches it) answers over HTTP. At 09:08 and at 20:00 of that day at least one of the two
disagrees with whatever the wall clock says, so the old check fails one of them at any hour.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest

from qts.app.live import VenueClock
from qts.app.operator import OperatorSurface
from qts.app.wiring import Engine, build_engine
from qts.config.loader import load_config
from qts.core.clock import WallClock
from qts.core.time import at
from qts.engines.contracts import CycleReport
from qts.engines.risk import RiskLimits
from qts.model.frame import Universe
from qts.model.instrument import Instrument

DAY = date(2026, 3, 4)  # a Wednesday, a KRX trading day; months from when the tests run
SYM = "005930"
PORT = 18761  # this suite's port range: 18750-18799
LIMIT_S = 300.0  # safety.max_data_age_s's default: the feed check's limit


def venue_at(t: time) -> VenueClock:
    """The live path's clock once the venue's first trade print (at ``t`` on DAY) anchored it."""
    clock = VenueClock()
    clock.observe(at(DAY, t))
    return clock


@contextmanager
def served(tmp_path: Path, live: bool, t: time) -> Iterator[tuple[Engine, str]]:
    """An engine whose trading clock reads ``t`` on DAY, with its operator surface serving."""
    start = at(DAY, t)
    tmp_path.mkdir(parents=True, exist_ok=True)
    engine = build_engine(
        run_id="health-clock",
        mode="paper",
        universe=Universe((SYM,)),
        instruments={SYM: Instrument.krx(SYM)},
        strategies=[],
        initial_cash=100_000_000,
        fees="krx",
        limits=RiskLimits(),
        start=start,
        db=tmp_path / "books.sqlite",
        durable=True,
        participation=1.0,
        latency_ms=0,
        reference_prices={SYM: 70_000},
        # the live path: the engine's own clock is the wall clock, the venue's is separate
        wall_clock=live,
        venue_clock=venue_at(t) if live else None,
    )
    assert abs(engine.trading_clock.now() - WallClock().now()) > timedelta(hours=2)
    cfg = load_config(None, []).config
    assert cfg.safety.max_data_age_s == LIMIT_S
    cfg = cfg.model_copy(update={"dashboard": cfg.dashboard.model_copy(update={"port": PORT})})
    surface = OperatorSurface(cfg, echo=lambda _m: None)
    try:
        surface.attach(engine)
        assert surface.dashboard is not None, "the dashboard did not start"
        yield engine, surface.dashboard.url
    finally:
        surface.close()
        engine.close()


def cycle(engine: Engine, bar_end: datetime) -> None:
    """A cycle's report, handed to the spine's UI subscribers as after_cycle does."""
    for subscriber in list(engine.spine.ui):
        subscriber(CycleReport("c-test", bar_end, None), [])


def feed(url: str) -> tuple[int, dict[str, object]]:
    r = httpx.get(url + "health", timeout=10)
    checks = r.json()["checks"]
    assert isinstance(checks, dict)
    out = checks["feed"]
    assert isinstance(out, dict)
    return r.status_code, out


@pytest.mark.parametrize("live", [True, False], ids=["live-venue-clock", "paper-sim-clock"])
def test_the_session_is_judged_on_the_trading_clock(tmp_path: Path, live: bool) -> None:
    with served(tmp_path / "open", live, time(9, 8)) as (_engine, url):
        status, check = feed(url)
        assert status == 200 and check["ok"], check
        detail = str(check["detail"])
        assert detail.startswith("last cycle ") and detail.endswith(f"(limit {LIMIT_S:g} s)")
    with served(tmp_path / "closed", live, time(20, 0)) as (_engine, url):
        status, check = feed(url)
        assert status == 200 and check["ok"], check
        assert str(check["detail"]).startswith("session closed; "), check


def test_the_feed_ages_on_the_venue_clock(tmp_path: Path) -> None:
    """At venue time 09:08 the last bar that ended at 09:00 is eight minutes old, however
    recently (in wall seconds) its cycle ran; a bar ending at 09:08 is fresh."""
    with served(tmp_path, True, time(9, 8)) as (engine, url):
        cycle(engine, at(DAY, time(9, 0)))
        status, check = feed(url)
        assert status == 503 and not check["ok"], check
        age = float(str(check["detail"]).split()[2])
        assert 8 * 60 <= age < 9 * 60, check
        cycle(engine, at(DAY, time(9, 8)))
        status, check = feed(url)
        assert status == 200 and check["ok"], check
        assert float(str(check["detail"]).split()[2]) < 60, check
