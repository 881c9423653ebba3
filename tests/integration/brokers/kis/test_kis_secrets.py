"""Secrets never leave the adapter: not in any log record (ours, httpx's, websockets' frame
dumps at DEBUG), not in exception messages, not in reprs — through a session that exercises
every error path."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import pytest
from kis_kit import INSTRUMENTS, Tape, buy, collect, config_for, filled_qty
from pydantic import SecretStr, ValidationError

from qts.brokers.kis import AuthError, KisBroker, KisConfig, KisError, OrderOutcomeUnknown
from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.fake import FakeApp, FakeKisServer
from qts.core.clock import SimulatedClock
from qts.core.errors import ConfigError


def test_no_secret_in_logs_exceptions_or_reprs(
    fake: FakeKisServer,
    app: FakeApp,
    clock: SimulatedClock,
    connect: Callable[..., KisBroker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    broker = connect(order_timeout_s=0.3, lookup_attempts=1)
    texts += [repr(broker.config), str(broker.config), repr(broker.rest.auth._token)]
    tape = Tape()
    assert broker.submit(buy("ok", 1, 70_000)).accepted
    assert not broker.submit(buy("poor", 100_000, 70_000)).accepted
    fake.expire_tokens()
    fake.faults.fail(ep.DAILY_CCLD.path, status=500)
    broker.open_orders()
    fake.faults.fail(ep.ORDER_BUY.path, status=500, count=2)  # never processed, twice
    with pytest.raises(OrderOutcomeUnknown) as unknown:
        broker.submit(buy("lost", 1, 70_000))
    texts += [str(unknown.value), repr(unknown.value)]
    assert fake.drop_websockets() == 1
    assert fake.wait_subscribed(ep.notice_tr(fake.options.paper), app.hts_id, 2, 10)
    fake.advance(tape.frame())
    collect(broker, lambda ev: filled_qty(ev) == 1)
    broker.balance()

    wrong = config_for(fake, app, app_secret=SecretStr("W" * 180))
    with pytest.raises(AuthError) as denied:
        KisBroker(wrong, clock=clock, instruments=INSTRUMENTS)
    texts += [str(denied.value), repr(denied.value)]
    nowhere = config_for(fake, app, base_url="http://127.0.0.1:9", max_retries=0)
    with pytest.raises(KisError) as down:
        KisBroker(nowhere, clock=clock, instruments=INSTRUMENTS)
    texts += [str(down.value), repr(down.value)]
    with pytest.raises(ValidationError) as invalid:
        KisConfig(app_key=SecretStr("k"), app_secret=SecretStr("s"), cano=SecretStr("1234567"))
    texts.append(str(invalid.value))
    env = {"KIS_MODE": "KIS_VTS", "KIS_VTS_APP_KEY": app.app_key, "KIS_VTS_ACCOUNT_NO": "123"}
    with pytest.raises(ConfigError) as missing:
        KisConfig.from_env(env)
    texts.append(str(missing.value))
    env["KIS_VTS_APP_SECRET"] = app.app_secret
    with pytest.raises(ConfigError) as malformed:
        KisConfig.from_env(env)
    texts.append(str(malformed.value))
    env["KIS_VTS_ACCOUNT_NO"] = f"{app.cano}-{app.acnt_prdt_cd}"
    loaded = KisConfig.from_env(env)
    assert loaded.cano.get_secret_value() == app.cano and loaded.acnt_prdt_cd == "01"
    texts.append(repr(loaded))

    secrets = [app.app_key, app.app_secret, app.cano, app.cano + app.acnt_prdt_cd, app.hts_id]
    secrets += fake.call(lambda: list(fake._tokens) + list(fake._approval_of.values()))
    assert len(secrets) >= 7
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts += [formatter.format(r) for r in caplog.records]
    names = {r.name for r in caplog.records}
    assert "httpx" in names and "qts.brokers.kis.ws.frames" in names  # the noisy ones ran
    leaks = [(s[:6], t[:120]) for t in texts for s in secrets if s in t]
    assert leaks == []


def test_token_cache_file_is_private(
    fake: FakeKisServer, app: FakeApp, clock: SimulatedClock, tmp_path: os.PathLike[str]
) -> None:
    path = os.path.join(tmp_path, "token.json")
    cfg = config_for(fake, app, token_cache_path=path, ws_enabled=False)
    with KisBroker(cfg, clock=clock, instruments=INSTRUMENTS) as first:
        first.balance()
    assert os.stat(path).st_mode & 0o077 == 0
    with KisBroker(cfg, clock=clock, instruments=INSTRUMENTS) as second:
        second.balance()  # the cached token is reused: no second issue within the minute
        assert second.rest.auth.issued == 0
    assert fake.stats.tokens_issued == 1
