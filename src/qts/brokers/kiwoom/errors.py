"""Typed Kiwoom errors, the classification of failure answers, and the secret redactor.

Kiwoom answers most failures with HTTP 200 and ``return_code != 0``; the detail code sits in
brackets inside ``return_msg`` (``"...[8005:Token이 유효하지 않습니다]"``). Some clients see the
detail code as the ``return_code`` itself (``8005``, ``1700``), and rate limits may also come
back as HTTP 429. :func:`classify` accepts every one of these shapes.

Messages carry the api-id, the codes and Kiwoom's text passed through :class:`Redactor` —
never a header, a request body, a token, a key or an account number.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable
from enum import StrEnum

from qts.core.errors import QtsError

_DETAIL = re.compile(r"\[(\d{3,5})\s*:")


class KiwoomError(QtsError):
    """Base of every Kiwoom adapter error."""

    def __init__(
        self,
        message: str,
        *,
        api_id: str = "",
        return_code: int | None = None,
        detail_code: int | None = None,
        return_msg: str = "",
        http_status: int | None = None,
    ) -> None:
        self.api_id = api_id
        self.return_code = return_code
        self.detail_code = detail_code
        self.return_msg = return_msg
        self.http_status = http_status
        super().__init__(message)


class KiwoomApiError(KiwoomError):
    """Kiwoom answered ``return_code != 0`` (a refusal: input, business rule, order reject)."""


class KiwoomAuthError(KiwoomApiError):
    """Credentials or token refused (return code 3, detail 8001–8050, HTTP 401)."""


class KiwoomRateLimited(KiwoomApiError):
    """Request limit exceeded (return code 5 / detail 1700 / HTTP 429). Nothing was done."""


class KiwoomReadInterrupted(KiwoomError):
    """A read not sent because the run is stopping (paged inquiries under the rate limit would
    otherwise hold the stop up for seconds); nothing was asked of Kiwoom."""


class KiwoomTransportError(KiwoomError):
    """No usable answer: timeout, dropped connection, 5xx, unreadable body.

    ``sent`` is False only when the request certainly never reached the server (the
    connection could not be opened); otherwise the server may have acted on it.
    """

    def __init__(
        self,
        message: str,
        *,
        sent: bool,
        timeout: bool = False,
        api_id: str = "",
        http_status: int | None = None,
    ) -> None:
        self.sent = sent
        self.timeout = timeout
        super().__init__(message, api_id=api_id, http_status=http_status)


class KiwoomProtocolError(KiwoomError):
    """Kiwoom sent something this adapter cannot read (a field missing or malformed)."""


class Failure(StrEnum):
    """What a non-OK answer means for the caller."""

    OK = "OK"
    AUTH_TOKEN = "AUTH_TOKEN"  # noqa: S105 - token invalid/expired: re-issue once and resend
    AUTH = "AUTH"  # credentials refused: do not retry
    RATE_LIMIT = "RATE_LIMIT"  # retry later (queries only)
    REFUSED = "REFUSED"  # any other return_code != 0


TOKEN_CODES = frozenset({8003, 8005, 8006, 8009})
AUTH_CODES = frozenset(
    {1512, 1513, 1514, 1515, 1516, 8001, 8002, 8010, 8011, 8012, 8020, 8030, 8031, 8040, 8050}
) | {8103}
RATE_CODES = frozenset({1700})
NOT_RETRYABLE_LIMIT = frozenset({1634})  # "too many symbols in one batch": same text as 1700


def detail_code(return_msg: str) -> int | None:
    """The bracketed detail code of a ``return_msg`` (``[8005:...]`` → 8005)."""
    m = _DETAIL.search(return_msg)
    return int(m.group(1)) if m else None


def classify(http_status: int, return_code: int, return_msg: str) -> Failure:
    """Map (HTTP status, return_code, return_msg) to a :class:`Failure`."""
    detail = detail_code(return_msg)
    codes = {c for c in (return_code, detail) if c is not None}
    if http_status == 429:
        return Failure.RATE_LIMIT
    if http_status == 401:
        return Failure.AUTH_TOKEN
    if return_code == 0 and http_status < 400:
        return Failure.OK
    if codes & TOKEN_CODES:
        return Failure.AUTH_TOKEN
    if codes & AUTH_CODES:
        return Failure.AUTH
    if codes & NOT_RETRYABLE_LIMIT:
        return Failure.REFUSED
    if codes & RATE_CODES or (return_code == 5 and detail is None):
        return Failure.RATE_LIMIT
    if return_code == 3:
        return Failure.AUTH_TOKEN
    return Failure.REFUSED


# The Ack code (and status reason) of an order call that ended without a definite answer and
# whose order no inquiry has found yet.
UNCONFIRMED = "UNCONFIRMED"

# Order refusals: Kiwoom's order texts are not published; these keywords cover the texts the
# mock server and the OpenAPI+ generation used, and the local fake (README: "Rejections").
_REJECT_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("INSUFFICIENT_CASH", ("주문가능금액", "증거금", "예수금이 부족")),
    ("INSUFFICIENT_HOLDINGS", ("매도가능수량", "잔고가 부족", "잔고수량")),
    ("OUTSIDE_PRICE_LIMIT", ("상한가", "하한가", "상하한")),
    ("OFF_TICK", ("호가단위",)),
    ("MARKET_CLOSED", ("장운영시간", "장종료", "장 종료", "장마감", "장시작전", "장 시작 전")),
    ("UNKNOWN_ORDER", ("원주문", "취소가능수량", "정정가능수량", "정정/취소가능")),
    ("INVALID_QTY", ("주문수량", "수량이 올바르지", "정정수량", "취소수량")),
    ("INVALID_PRICE", ("주문단가", "주문가격", "정정단가")),
    ("UNKNOWN_SYMBOL", ("종목코드", "종목정보")),
    ("NO_REFERENCE_PRICE", ("기준가",)),
)
_REJECT_DETAILS = {1901: "UNKNOWN_SYMBOL", 1902: "UNKNOWN_SYMBOL", 1511: "INVALID_REQUEST"}


def reject_code(error: KiwoomError) -> str:
    """The QTS rejection code (``Ack.code``) for a refused order request.

    The codes are those of ``qts.brokers.sim.RejectCode`` where one fits, plus
    ``RATE_LIMITED``, ``AUTH_FAILED``, ``BROKER_UNAVAILABLE``, ``INVALID_REQUEST`` and
    ``BROKER_REJECTED`` (anything else).
    """
    if isinstance(error, KiwoomRateLimited):
        return "RATE_LIMITED"
    if isinstance(error, KiwoomAuthError):
        return "AUTH_FAILED"
    if isinstance(error, KiwoomTransportError):
        return "BROKER_UNAVAILABLE"
    if error.detail_code in _REJECT_DETAILS:
        return _REJECT_DETAILS[error.detail_code]
    text = error.return_msg
    for code, words in _REJECT_KEYWORDS:
        if any(w in text for w in words):
            return code
    return "BROKER_REJECTED"


class Redactor:
    """Replaces every known secret (keys, account, recent tokens) in a text with ``***``."""

    def __init__(self, secrets: Iterable[str] = (), *, tokens_kept: int = 16) -> None:
        self._lock = threading.Lock()
        self._fixed: list[str] = []
        self._tokens: deque[str] = deque(maxlen=tokens_kept)
        for s in secrets:
            self.add(s)

    def add(self, secret: str) -> None:
        """A secret for the life of the redactor (keys, account numbers)."""
        if len(secret) < 4:  # too short to be a secret; replacing it would mangle text
            return
        with self._lock:
            if secret not in self._fixed:
                self._fixed.append(secret)

    def add_token(self, token: str) -> None:
        """An access token; the latest ``tokens_kept`` are remembered."""
        if len(token) < 4:
            return
        with self._lock:
            if token not in self._tokens:
                self._tokens.append(token)

    def __call__(self, text: str) -> str:
        with self._lock:
            secrets = sorted([*self._fixed, *self._tokens], key=len, reverse=True)
        for s in secrets:
            if s in text:
                text = text.replace(s, "***")
        return text

    def __repr__(self) -> str:
        return f"Redactor({len(self._fixed)} secrets, {len(self._tokens)} tokens)"
