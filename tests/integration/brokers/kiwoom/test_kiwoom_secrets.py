"""No app key, secret key, account number or token in logs, exception texts or reprs."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from kiwoom_kit import SAMSUNG, Harness, flat

from qts.brokers.base import OrderRequest
from qts.brokers.kiwoom import KiwoomConfig, KiwoomError
from qts.brokers.kiwoom.errors import Redactor
from qts.brokers.kiwoom.fake import (
    TEST_ACCOUNT_NO,
    TEST_APP_KEY,
    TEST_SECRET_KEY,
    FaultKind,
    When,
)
from qts.core.errors import ConfigError
from qts.model.enums import OrderSide, OrderType


def test_secrets_stay_out_of_logs_errors_and_reprs(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: qts, httpx, httpcore, aiohttp
    errors: list[BaseException] = []
    shown: list[str] = []

    broker = h.broker(timeout_s=0.3)
    shown += [repr(broker), repr(broker.config), str(broker.config), repr(broker.rest)]
    shown += [repr(broker.rest.auth), repr(broker.rest.redact), repr(broker.store)]
    shown.append(str(broker.config.model_dump()))

    acks = [
        broker.submit(OrderRequest("s1", SAMSUNG, OrderSide.BUY, OrderType.LIMIT, 3, 70_000)),
        broker.submit(OrderRequest("s2", SAMSUNG, OrderSide.SELL, OrderType.MARKET, 9, None)),
    ]
    h.fake_wall.advance(timedelta(days=2))  # token expired at the fake: 8005, re-issue
    h.faults.add(FaultKind.DELAY, "kt10000", when=When.AFTER, seconds=0.6)
    acks.append(
        broker.submit(OrderRequest("s3", SAMSUNG, OrderSide.BUY, OrderType.MARKET, 1, None))
    )
    h.faults.add(FaultKind.TOKEN_INVALID, "ka10075", times=2)
    try:
        broker.open_orders()
    except KiwoomError as exc:
        errors.append(exc)
    h.faults.add(FaultKind.HTTP_ERROR, "kt00001", times=10)
    try:
        broker.balance()
    except KiwoomError as exc:
        errors.append(exc)
    h.bar({SAMSUNG: flat(70_000)})
    events = broker.drain_events()
    shown += [repr(a) for a in acks] + [repr(e) for e in events]
    shown += [repr(o) for o in broker.open_orders()] + [repr(f) for f in broker.fills()]

    with pytest.raises(KiwoomError) as bad_key:
        h.broker(app_key="QTSWRONGAPPKEY0000000000000")
    errors.append(bad_key.value)
    with pytest.raises(ConfigError) as bad_account:
        h.broker(account_no="5099999999")
    errors.append(bad_account.value)
    with pytest.raises(ValueError) as invalid:  # a pydantic validation error
        KiwoomConfig(app_key=" ", secret_key=TEST_SECRET_KEY, account_no=TEST_ACCOUNT_NO)
    errors.append(invalid.value)

    tokens = h.fake.issued_tokens()
    assert len(tokens) >= 3
    secrets = [TEST_APP_KEY, TEST_SECRET_KEY, TEST_ACCOUNT_NO, *tokens]
    texts = [caplog.text, *shown]
    for err in errors:
        texts += [str(err), repr(err), str(err.__cause__ or ""), str(err.__context__ or "")]
    assert len(errors) == 5
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert "kt10000" in caplog.text  # the logs do say what happened


def test_redactor_masks_what_a_server_echoes() -> None:
    redact = Redactor([TEST_APP_KEY, TEST_ACCOUNT_NO])
    redact.add_token("tok3n-abcdef")
    echoed = f"appkey {TEST_APP_KEY} account {TEST_ACCOUNT_NO} token tok3n-abcdef"
    assert redact(echoed) == "appkey *** account *** token ***"
