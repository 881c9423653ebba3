"""Alerts reach each service's local stand-in in its API shape; credentials never appear in a
message or a log line; a paper day sends its fills and its day report; safety transitions and a
missed heartbeat are alerted once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from qts.app.operator import OperatorSurface, validate
from qts.app.paper import run_paper
from qts.config.loader import load_config
from qts.config.ops import AlertsSection
from qts.core.clock import SimulatedClock
from qts.core.errors import ConfigError
from qts.core.time import KST
from qts.data.sqlite import SqliteStore
from qts.ops.alerts import Alert, AlertRouter, channels_from_config
from qts.ops.alerts.fake import Services, serve
from qts.ops.alerts.router import HeartbeatWatch
from qts.safety.supervisor import SafetySupervisor

TOKEN = "123456:AAE-fake-bot-token-xyz"
SLACK = "/services/T0001/B0001/s3cretSlackPath"


@pytest.fixture
def services() -> Iterator[Services]:
    s = Services(TOKEN, SLACK)
    server = serve(s)
    yield s
    server.shutdown()


def _env(s: Services) -> dict[str, str]:
    return {"QTS_TELEGRAM_TOKEN": TOKEN, "QTS_SLACK_WEBHOOK_URL": s.base + SLACK}


def _router(s: Services, fills: bool = False) -> AlertRouter:
    section = AlertsSection(
        webhook_url=s.base + "/hook", telegram_chat_id="-1001", telegram_api=s.base, slack=True
    )
    channels, problems = channels_from_config(section, _env(s))
    assert problems == [] and [c.name for c in channels] == ["webhook", "telegram", "slack"]
    return AlertRouter(channels, fills=fills)


def test_each_service_gets_the_alert_in_its_shape(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    router = _router(services)
    router.send(Alert("heartbeat", "missed heartbeat", "no cycle for 90 s", {"age_s": 90}))
    router.flush()
    router.close()
    assert router.poster.sent == 3 and router.poster.failed == 0
    (tg,) = services.of("telegram")
    assert tg == {"chat_id": "-1001", "text": "[QTS] missed heartbeat\nno cycle for 90 s"}
    (sl,) = services.of("slack")
    assert sl == {"text": "[QTS] missed heartbeat\nno cycle for 90 s"}
    (hook,) = services.of("webhook")
    assert hook["kind"] == "heartbeat" and hook["data"] == {"age_s": 90}
    for body in (tg, sl, hook):
        assert TOKEN not in str(body) and "s3cretSlackPath" not in str(body)
    assert TOKEN not in caplog.text and "s3cretSlackPath" not in caplog.text


def test_a_refused_message_is_counted_and_logged_without_the_token(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = {"QTS_TELEGRAM_TOKEN": "999999:wrong-token-abcdef"}
    channels, _ = channels_from_config(
        AlertsSection(telegram_chat_id="1", telegram_api=services.base), wrong
    )
    router = AlertRouter(channels)
    router.send(Alert("safety", "safety FAIL", "x"))
    router.flush()
    router.close()
    assert router.poster.failed == 1 and services.of("telegram") == []
    assert "telegram alert failed" in caplog.text
    assert "wrong-token" not in caplog.text


def test_a_channel_without_its_credential_refuses_to_start() -> None:
    cfg = load_config(None, []).config
    cfg = cfg.model_copy(update={"alerts": AlertsSection(telegram_chat_id="1", slack=True)})
    with pytest.raises(ConfigError, match=r"QTS_TELEGRAM_TOKEN.*QTS_SLACK_WEBHOOK_URL"):
        validate(cfg)


def test_safety_transitions_are_alerted_once(services: Services, tmp_path: Path) -> None:
    from datetime import datetime

    router = _router(services)
    store = SqliteStore(str(tmp_path / "s.sqlite"))
    clock = SimulatedClock(datetime(2026, 1, 5, 9, 0, tzinfo=KST))
    safety = SafetySupervisor(store, clock, [router])
    safety.begin_cycle()
    safety.report("FS040", "broker execution error: HTTP 500")
    safety.report("FS040", "again, same state")  # no transition: history only
    safety.end_cycle()
    router.flush()
    router.close()
    store.close()
    hooks = services.of("webhook")
    assert len(hooks) == 1, hooks
    assert hooks[0]["data"]["state_before"] == "NORMAL" and hooks[0]["data"]["code"] == "FS040"
    assert "FS040" in services.of("telegram")[0]["text"]


def test_missed_heartbeat_is_alerted_once_per_silence(services: Services) -> None:
    router = _router(services)
    age = [0.0]
    watch = HeartbeatWatch(router, lambda: age[0], lambda: True, limit_s=30.0)
    watch.check()
    age[0] = 45.0
    watch.check()
    watch.check()  # still silent: no second alert
    age[0] = 1.0
    watch.check()  # a cycle ran: re-armed
    age[0] = 31.0
    watch.check()
    router.flush()
    router.close()
    assert watch.missed == 2
    assert [b["kind"] for b in services.of("webhook")] == ["heartbeat", "heartbeat"]


def test_a_paper_day_sends_fills_and_the_day_report(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in _env(services).items():
        monkeypatch.setenv(k, v)
    cfg = load_config(None, []).config
    section = AlertsSection(
        webhook_url=services.base + "/hook",
        telegram_chat_id="42",
        telegram_api=services.base,
        slack=True,
        fills=True,
    )
    cfg = cfg.model_copy(
        update={"alerts": section, "dashboard": cfg.dashboard.model_copy(update={"enabled": False})}
    )
    validate(cfg)
    surface = OperatorSurface(cfg, echo=lambda _m: None)
    db = tmp_path / "day.sqlite"
    result = run_paper(cfg, db, None, timedelta(days=1), on_ready=surface.attach)
    surface.close()
    fills = result.engine.oms.account.ledger
    store = result.engine.store
    stored_fills = store.load_fills()
    result.engine.close()
    hooks = services.of("webhook")
    kinds = [h["kind"] for h in hooks]
    assert kinds.count("fill") == len(stored_fills) > 0, (kinds, len(fills))
    reports = [h for h in hooks if h["kind"] == "day_report"]
    assert len(reports) == 1
    data = reports[0]["data"]
    assert data["day"] == "2026-01-05" and data["fills"] == len(stored_fills)
    check = SqliteStore(str(db))
    try:
        last = check.load_equity()[-1]
    finally:
        check.close()
    assert data["equity"] == last.equity
    assert data["day_pnl"] == last.equity - 100_000_000
    tg = [m["text"] for m in services.of("telegram")]
    assert len(tg) == len(hooks) and any("day report 2026-01-05" in t for t in tg)
    assert len(services.of("slack")) == len(hooks)
