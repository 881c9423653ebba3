"""The fake's switches and test credentials.

The spec leaves some of Kiwoom's behaviour open (brokers-and-sheets-wire §2); each open question
is a switch here, so a test can pin the fake to one answer: the error-code style, how a rate
limit answers, the limits themselves, the token lifetime, the number formats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

# Documented test credentials of the fake (not secrets: they open nothing but the fake).
TEST_APP_KEY = "QTSFAKEKIWOOMAPPKEY000000000000000000"
TEST_SECRET_KEY = "QTSFAKEKIWOOMSECRETKEY00000000000000000000000"  # noqa: S105
TEST_ACCOUNT_NO = "5012345678"


class CodeStyle(StrEnum):
    ENVELOPE = "envelope"  # return_code 3 (auth) / 5 (limit) / 2 (other), detail in brackets
    DETAIL = "detail"  # return_code = the detail code (8005, 1700, 1511, ...)


class LimitReply(StrEnum):
    HTTP_429 = "429"
    RETURN_CODE = "rc"
    ALTERNATE = "alternate"


class NumberStyle(StrEnum):
    PLAIN = "plain"  # "71000"
    PADDED = "padded"  # "0000071000"
    SIGNED = "signed"  # "+71000"
    COMMA = "comma"  # "+071,000.00"
    MIXED = "mixed"  # all of the above, in turn


@dataclass(frozen=True, slots=True)
class Limit:
    rate: float
    burst: int


@dataclass
class FakeConfig:
    """Behaviour switches of the fake. The defaults follow the spec's observations."""

    app_key: str = TEST_APP_KEY
    secret_key: str = TEST_SECRET_KEY
    account_no: str = TEST_ACCOUNT_NO
    mock: bool = True  # 모의투자: KRX only, "모의투자 ..." messages
    token_lifetime: timedelta = timedelta(hours=24)
    code_style: CodeStyle = CodeStyle.ENVELOPE
    limit_reply: LimitReply = LimitReply.ALTERNATE
    per_api: Limit | None = Limit(1.0, 2)
    overall: Limit | None = Limit(5.0, 5)
    limits: dict[str, Limit] = field(default_factory=dict)  # per api-id overrides
    page_size: int = 50
    numbers: NumberStyle = NumberStyle.MIXED
    ping_interval_s: float = 10.0  # WebSocket PING period
