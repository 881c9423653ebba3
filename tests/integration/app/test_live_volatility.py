"""The live path feeds the micro risk loop every trade print and the broker's volatility index;
an index spike served by the local exchange fires the kill switch (KIS and Kiwoom).

KIS: the index is read from inquire-daily-indexchartprice (FHKUP03500100; the wire spec defines
no index push for KIS). Kiwoom: the index arrives as 0J pushes on the real-time WebSocket. The
fakes serve the synthetic market's VKOSPI-like series under any index code; ``set_index`` spikes
it. Waits are on conditions with deadlines, never sleeps standing in for synchronisation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from qts.app.live import BrokerRun, run_broker
from qts.app.wiring import Engine
from qts.brokers.kis import KisMode
from qts.brokers.kis.fake import FakeKisServer
from qts.brokers.kis.fake.credentials import PAPER_APP
from qts.brokers.kis.fake.serve import build_replay_server
from qts.brokers.kis.fake.server import FakeKisOptions
from qts.brokers.kiwoom.fake import (
    TEST_ACCOUNT_NO,
    TEST_APP_KEY,
    TEST_SECRET_KEY,
    FakeConfig,
    FakeKiwoomServer,
    MarketReplay,
    synthetic_venue,
)
from qts.config.loader import load_config

SPEED = 120.0
WAIT = 40.0
CODE = "VKOSPI"


def wait_until(check: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class Run:
    """run_broker on a thread; the engine once ready, the result once stopped."""

    def __init__(
        self, broker: str, env: dict[str, str], live: dict[str, Any] | None = None
    ) -> None:
        cfg = load_config(None, []).config
        cfg = cfg.model_copy(update={"risk_loop": cfg.risk_loop.model_copy(
            update={"vol_index": CODE, "vol_index_poll_s": 0.2}),
            "live": cfg.live.model_copy(update=live or {})})  # fmt: skip
        self.stop = threading.Event()
        self.engine: Engine | None = None
        self.result: BrokerRun | None = None
        self.error: BaseException | None = None
        self.lines: list[str] = []
        kwargs: dict[str, Any] = {"broker": broker, "account": "paper", "stop": self.stop,
                                  "env": env, "on_ready": self._ready, "echo": self.lines.append,
                                  "duration": timedelta(seconds=90)}  # fmt: skip
        self.thread = threading.Thread(target=self._run, args=(cfg, kwargs), daemon=True)
        self.thread.start()

    def _ready(self, engine: Engine) -> None:
        self.engine = engine

    def _run(self, cfg: Any, kwargs: dict[str, Any]) -> None:
        try:
            self.result = run_broker(cfg, **kwargs)
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def ready(self) -> Engine:
        wait_until(lambda: self.engine is not None or self.error is not None)
        if self.error is not None:
            raise self.error
        assert self.engine is not None
        return self.engine

    def finish(self) -> BrokerRun:
        self.stop.set()
        self.thread.join(30)
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def check_kill_switch(run: Run, spike: Callable[[], None]) -> None:
    engine = run.ready()
    spine = engine.spine
    wait_until(lambda: spine.index_values >= 2 and spine.prints >= 8)  # baseline flows in
    assert not spine.micro.killed
    spike()
    wait_until(lambda: spine.micro.killed)
    wait_until(lambda: not engine.runner.trading_enabled or spine.controls.suspended(
        engine.clock.now()))  # fmt: skip
    result = run.finish()
    try:
        # every print reached the micro risk loop, not one per minute bar
        feed = result.feed
        assert spine.prints + feed.before_engine == feed.prints > feed.frames
        assert feed.before_engine <= len(feed.symbols)  # the first minute, nothing held yet
        codes = [e.code for e in engine.store.load_safety_events()]
        assert "FS104" in codes
    finally:
        result.engine.close()


@pytest.fixture
def kis() -> Iterator[FakeKisServer]:
    options = FakeKisOptions(mode=KisMode.PAPER, rate_limit=50)
    server, clock, frames = build_replay_server(seed=7, speed=SPEED, options=options)
    server.start()
    server.replay(frames, clock)
    yield server
    server.stop()


def test_a_vkospi_spike_at_the_kis_fake_fires_the_kill_switch(kis: FakeKisServer) -> None:
    env = {
        "KIS_VTS_APP_KEY": PAPER_APP.app_key,
        "KIS_VTS_APP_SECRET": PAPER_APP.app_secret,
        "KIS_VTS_ACCOUNT_NO": PAPER_APP.account_no,
        "KIS_VTS_HTS_ID": PAPER_APP.hts_id,
        "KIS_VTS_BASE_URL": kis.rest_url,
        "KIS_VTS_WS_URL": kis.ws_url,
    }
    run = Run("kis", env)
    check_kill_switch(run, lambda: kis.set_index(CODE, 45.0))
    assert kis.stats.paths["inquire-daily-indexchartprice"] >= 3


def test_a_vkospi_spike_at_the_kiwoom_fake_fires_the_kill_switch() -> None:
    venue, market, day = synthetic_venue(7, date(2026, 3, 4))
    server = FakeKiwoomServer(venue, FakeConfig(per_api=None, overall=None)).start()
    stop = threading.Event()
    replay = MarketReplay(venue, market, day, SPEED, stop=stop).start()
    try:
        env = {
            "KIWOOM_VTS_APP_KEY": TEST_APP_KEY,
            "KIWOOM_VTS_APP_SECRET": TEST_SECRET_KEY,
            "KIWOOM_VTS_ACCOUNT_NO": TEST_ACCOUNT_NO,
            "KIWOOM_VTS_BASE_URL": server.base_url,
            "KIWOOM_VTS_WEBSOCKET_URL": server.base_url.replace("http://", "ws://")
            + "/api/dostk/websocket",
        }
        run = Run("kiwoom", env)
        hub = server.kiwoom.realtime
        check_kill_switch(run, lambda: hub.set_index(CODE, 45.0))
        assert hub.index_pushed >= 3
    finally:
        stop.set()
        replay.join(5)
        server.stop()
