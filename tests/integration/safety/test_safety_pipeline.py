"""The safety layer inside the real pipeline: stage checks raise their codes, the state machine
stops trading, LOCKDOWN survives a restart, and only a recorded approval lifts it."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from qts.app.live_books import default_books_file
from qts.app.wiring import Engine, build_engine
from qts.core.time import at
from qts.data.sqlite import SqliteStore
from qts.engines.contracts import CalcData, StrategyDecision
from qts.engines.indicators import IndicatorSpec
from qts.engines.risk import RiskLimits
from qts.feeds.bars import BarSeries, to_epoch
from qts.feeds.replay import FrameTable
from qts.model.enums import Signal, Track
from qts.model.frame import BarFrame
from qts.model.instrument import Instrument
from qts.pipeline.runner import SessionView
from qts.safety.notifier import WebhookNotifier
from qts.safety.state import SafetyState
from qts.safety.supervisor import request_recovery

SYM = "005930"
DAY = date(2026, 3, 4)
OPEN = SessionView(True, 300.0)
N, F, L = SafetyState.NORMAL, SafetyState.FAIL, SafetyState.LOCKDOWN


class Scripted:
    """A strategy that does what the test tells it to, cycle by cycle."""

    name: ClassVar[str] = "scripted"
    track: ClassVar[Track] = Track.SCALP

    def __init__(self) -> None:
        self.params = None
        self.next: list[StrategyDecision] = []
        self.fail = False

    def indicators(self) -> list[IndicatorSpec]:
        return []

    def evaluate(self, calc: CalcData) -> list[StrategyDecision]:
        if self.fail:
            raise ZeroDivisionError("scripted failure")
        out, self.next = self.next, []
        return out


def buy(qty: int) -> StrategyDecision:
    return StrategyDecision(SYM, "scripted", Track.SCALP, Signal.BUY, "test", recommended_qty=qty)


def frames(n: int) -> list[BarFrame]:
    first = to_epoch(at(DAY, time(9, 0)))
    ts = first + 60 * np.arange(n, dtype=np.int64)
    p = np.full(n, 70_000, dtype=np.int64)
    table = FrameTable([BarSeries(SYM, ts, p, p, p, p, np.full(n, 10_000, dtype=np.int64))])
    return list(table.frames())


def engine(db: Path, strategy: Scripted, cash: int = 100_000_000, **kw: Any) -> Engine:
    return build_engine(
        run_id="safety-it",
        mode="paper",
        universe=frames(1)[0].universe,
        instruments={SYM: Instrument.krx(SYM)},
        strategies=[strategy],
        initial_cash=cash,
        fees="krx",
        limits=RiskLimits(),
        start=at(DAY, time(8, 30)),
        db=db,
        durable=True,
        participation=1.0,
        latency_ms=0,
        reference_prices={SYM: 70_000},
        **kw,
    )


def cycle(e: Engine, frame: BarFrame, late: timedelta = timedelta(0)) -> None:
    """One cycle the way the trading loop runs it: the spine books the venue's events and
    publishes the bar's prices (the pre-trade checks read them through the cache)."""
    e.clock.advance_to(frame.end + late)
    e.venue.on_frame(frame)
    fills = e.spine.before_cycle(frame, e.oms.broker.drain_events())
    report = e.runner.run_cycle(frame, frame.end + late, OPEN)
    e.spine.after_cycle(report, fills)


@pytest.fixture
def bars() -> list[BarFrame]:
    return frames(40)


LATE = timedelta(minutes=10)  # a cycle run this late sees stale data; later cycles use bar 12+


def test_stale_data_fails_blocks_orders_then_clears(tmp_path: Path, bars: list[BarFrame]) -> None:
    s = Scripted()
    e = engine(tmp_path / "r.sqlite", s)
    s.next = [buy(10)]
    cycle(e, bars[0], late=LATE)  # the bar is 10 minutes old: FS010
    assert e.runner.safety.state is F
    assert not e.oms.orders  # the buy was decided but never sent
    cycle(e, bars[12])
    assert e.runner.safety.state is N
    kinds = [(ev.kind, ev.code) for ev in e.runner.safety.history()]
    assert kinds == [("code", "FS010"), ("clean_cycle", "")]
    e.close()


def test_a_failing_stage_raises_its_code(tmp_path: Path, bars: list[BarFrame]) -> None:
    s = Scripted()
    e = engine(tmp_path / "r.sqlite", s)
    s.fail = True
    cycle(e, bars[0])
    assert e.runner.safety.state is F
    assert e.runner.safety.status.last_code == "FS030"
    assert "ZeroDivisionError" in e.runner.safety.status.last_message
    e.close()


def test_broker_rejections_fail_then_lock_down(tmp_path: Path, bars: list[BarFrame]) -> None:
    # the venue holds cash for a market buy at the upper price limit (+30 %), the risk gate
    # sizes at the last price: a buy of almost all the cash is refused by the venue
    # FAIL blocks the next cycle's buy, so that cycle is clean and clears FAIL; the run of broker
    # failures is not broken by it (only an accepted order breaks it): the third locks down
    s = Scripted()
    e = engine(tmp_path / "r.sqlite", s, cash=10_000_000)
    states = []
    for i in range(5):
        s.next = [buy(140)]
        cycle(e, bars[i])
        states.append(e.runner.safety.state)
    assert states == [F, N, F, N, L]
    codes = [ev.code for ev in e.runner.safety.history() if ev.kind == "code"]
    assert codes == ["FS040"] * 3
    s.next = [buy(1)]
    cycle(e, bars[5])
    rejected = [o for o in e.oms.orders.values() if o.status.value == "REJECTED"]
    assert len(e.oms.orders) == 3 == len(rejected)  # LOCKDOWN: the small buy was never sent
    e.close()


def test_lockdown_survives_a_restart_and_needs_a_recorded_approval(
    tmp_path: Path, bars: list[BarFrame]
) -> None:
    db = tmp_path / "r.sqlite"
    s = Scripted()
    e = engine(db, s)
    cycle(e, bars[0], late=LATE)
    cycle(e, bars[1], late=LATE)
    assert e.runner.safety.state is L
    e.close()

    s = Scripted()
    e = engine(db, s)  # restart
    assert e.runner.safety.state is L
    s.next = [buy(10)]
    cycle(e, bars[12])
    cycle(e, bars[13])
    assert e.runner.safety.state is L and not e.oms.orders  # clean cycles do not lift it

    store = SqliteStore(db)  # another process: the operator's CLI
    request_recovery(store, "alice", "data feed restored", e.clock.now())
    store.close()
    assert e.runner.safety.state is L  # applied by the run, at its next cycle
    s.next = [buy(10)]
    cycle(e, bars[14])
    assert e.runner.safety.state is N
    assert len(e.oms.orders) == 1
    history = [(ev.kind, ev.state_after.value, ev.operator) for ev in e.runner.safety.history()]
    assert history[-2:] == [
        ("recovery_requested", "LOCKDOWN", "alice"),
        ("recovery", "NORMAL", "alice"),
    ]
    assert ("restart", "LOCKDOWN", "") in history
    e.close()


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    _Hook.received.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/safety"
    server.shutdown()


def test_events_reach_the_webhook(tmp_path: Path, bars: list[BarFrame], webhook: str) -> None:
    s = Scripted()
    e = engine(tmp_path / "r.sqlite", s, webhook_url=webhook)
    cycle(e, bars[0], late=LATE)
    cycle(e, bars[12])
    hook = next(n for n in e.runner.safety.notifiers if isinstance(n, WebhookNotifier))
    hook.flush()
    got = [(m["code"], m["state_before"], m["state_after"]) for m in _Hook.received]
    assert got == [("FS010", "NORMAL", "FAIL"), ("", "FAIL", "NORMAL")]
    assert _Hook.received[0]["meaning"] == "required raw field missing or stale"
    e.close()


def qts(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qts", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
    )


def test_the_safety_cli(tmp_path: Path, bars: list[BarFrame]) -> None:
    db = tmp_path / "r.sqlite"
    e = engine(db, Scripted())
    cycle(e, bars[0], late=LATE)
    cycle(e, bars[1], late=LATE)
    e.close()
    status = qts("safety", "status", "--db", str(db))
    assert status.returncode == 0 and "state: LOCKDOWN" in status.stdout
    assert "FS010" in status.stdout and "trading allowed: no" in status.stdout
    refused = qts("safety", "approve-recovery", "--db", str(db), "--operator", " ", "--reason", "x")
    assert refused.returncode != 0 and "operator" in refused.stderr
    assert "Traceback" not in refused.stderr
    ok = qts(
        "safety",
        "approve-recovery",
        "--db",
        str(db),
        "--operator",
        "bob",
        "--reason",
        "checked the feed",
    )
    assert ok.returncode == 0, ok.stderr
    status = qts("safety", "status", "--db", str(db))
    assert "recovery approved by bob" in status.stdout
    history = qts("safety", "history", "--db", str(db))
    assert "NORMAL->FAIL" in history.stdout and "FAIL->LOCKDOWN" in history.stdout
    assert "recovery_requested" in history.stdout and "[bob]" in history.stdout
    e = engine(db, Scripted())  # the next start applies the approval
    assert e.runner.safety.state is N
    e.close()
    missing = qts("safety", "status", "--db", str(tmp_path / "none.sqlite"))
    assert missing.returncode != 0 and "no such database" in missing.stderr


def test_the_safety_cli_finds_a_live_runs_own_books_by_broker_and_account(
    tmp_path: Path, bars: list[BarFrame]
) -> None:
    """``--broker``/``--account`` as given to ``qts run``: the account's default books under
    var/ of the folder the run runs in, named after the account the environment holds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIWOOM_")}
    env |= {
        "KIWOOM_VTS_APP_KEY": "app-key-of-the-test",
        "KIWOOM_VTS_APP_SECRET": "secret-of-the-test",
        "KIWOOM_VTS_ACCOUNT_NO": "81234567",
    }
    live = ("--broker", "kiwoom", "--account", "paper")
    missing = qts("safety", "status", *live, cwd=tmp_path, env=env)
    assert missing.returncode != 0 and "no books of this paper account" in missing.stderr
    assert "Traceback" not in missing.stderr

    db = tmp_path / default_books_file("kiwoom", "paper", "81234567")
    db.parent.mkdir()
    e = engine(db, Scripted())
    cycle(e, bars[0], late=LATE)
    cycle(e, bars[1], late=LATE)
    e.close()
    status = qts("safety", "status", *live, cwd=tmp_path, env=env)
    assert status.returncode == 0, status.stderr
    assert "state: LOCKDOWN" in status.stdout
    ok = qts(
        "safety",
        "approve-recovery",
        *live,
        "--operator",
        "al",
        "--reason",
        "ok",
        cwd=tmp_path,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    assert "recovery approved by al" in qts("safety", "status", "--db", str(db)).stdout
    history = qts("safety", "history", "--broker", "kiwoom", cwd=tmp_path, env=env)  # paper
    assert history.returncode == 0 and "[al]" in history.stdout

    other = dict(env, KIWOOM_VTS_ACCOUNT_NO="87654321")  # another account: other books
    assert qts("safety", "status", *live, cwd=tmp_path, env=other).returncode != 0
    both = qts("safety", "status", *live, "--db", str(db), cwd=tmp_path, env=env)
    assert both.returncode != 0 and "not both" in both.stderr
    alone = qts("safety", "status", "--db", str(db), "--account", "real")
    assert alone.returncode != 0 and "--account" in alone.stderr
    e = engine(db, Scripted())  # the next start applies the approval
    assert e.runner.safety.state is N
    e.close()
