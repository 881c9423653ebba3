"""Typed KIS errors: the gateway's ``msg_cd`` decides the class, so callers branch on types.

Messages carry the endpoint, the KIS code and KIS's own (stripped) text — never a header, a
body, a URL with query parameters, a token or an account number.
"""

from __future__ import annotations

from qts.core.errors import QtsError

MARKET_CLOSED = "APBK0918"
"""장운영시간이 아닙니다: outside the session KIS takes no order, revise or cancel."""

ORDERABLE_QTY_EXCEEDED = "APBK9002"
"""주문가능수량을 초과 했습니다: a sell above the sellable quantity (holdings minus open sells);
retrying does not change it (``qts.brokers.base.HOLDINGS_REFUSALS``)."""


class KisError(QtsError):
    """Base of every KIS adapter error."""

    def __init__(
        self, message: str, *, msg_cd: str = "", msg1: str = "", http_status: int | None = None
    ) -> None:
        self.msg_cd = msg_cd
        self.msg1 = msg1
        self.http_status = http_status
        super().__init__(message)


class KisApiError(KisError):
    """KIS answered ``rt_cd != "0"`` with a code that has no more specific class."""


class AuthError(KisApiError):
    """Credentials, token or approval key refused (EGW00103/105/121/122/124/125, ...)."""


class TokenExpired(AuthError):
    """EGW00123: the access token expired; a new one must be issued."""


class TokenIssueLimited(AuthError):
    """EGW00133: tokenP was called again within a minute."""


class RateLimited(KisApiError):
    """EGW00201: more requests per second than KIS allows for this app key."""


class ServerError(KisError):
    """A 5xx, a gateway fault (EGW00001/00002/00203) or an unreadable body: transient."""


class TransportError(KisError):
    """No usable HTTP answer: connect failure, timeout, dropped connection."""


class Rejected(KisApiError):
    """The order (or revise/cancel) was refused; ``msg_cd``/``msg1`` say why."""


class OrderOutcomeUnknown(KisError):
    """An order POST got no definite answer and no matching order was found by inquiry.

    The intent stays recorded; calling ``submit`` again with the same client order id looks
    the order up first, so it is never sent twice by this adapter.
    """


class ReadInterrupted(KisError):
    """A read not sent because the run is stopping (a paged inquiry under the rate limit would
    otherwise hold the stop up for seconds); nothing was asked of KIS."""


class ProtocolError(KisError):
    """KIS sent something this adapter cannot read (a field missing or malformed)."""


class WebSocketError(KisError):
    """A WebSocket control reply refused a request (subscribe limit, bad approval key, ...)."""


AUTH_CODES = frozenset({"EGW00103", "EGW00105", "EGW00121", "EGW00122", "EGW00124", "EGW00125"})
TOKEN_EXPIRED = "EGW00123"  # noqa: S105 - KIS error codes, not secrets
TOKEN_INVALID = "EGW00121"  # noqa: S105
TOKEN_ISSUE_LIMIT = "EGW00133"  # noqa: S105
RATE_LIMIT = "EGW00201"
SERVER_CODES = frozenset({"EGW00001", "EGW00002", "EGW00203"})


def error_for(
    where: str, msg_cd: str, msg1: str, http_status: int | None, *, order: bool = False
) -> KisError:
    """The typed error for a KIS failure answer at ``where`` (an endpoint name)."""
    text = msg1.strip()
    cls: type[KisError]
    if msg_cd == TOKEN_EXPIRED:
        cls = TokenExpired
    elif msg_cd == TOKEN_ISSUE_LIMIT:
        cls = TokenIssueLimited
    elif msg_cd in AUTH_CODES:
        cls = AuthError
    elif msg_cd == RATE_LIMIT:
        cls = RateLimited
    elif msg_cd in SERVER_CODES or (http_status is not None and http_status >= 500 and not msg_cd):
        cls = ServerError
    elif order:
        cls = Rejected
    else:
        cls = KisApiError
    message = f"KIS {where}: {msg_cd or 'no msg_cd'} {text}".rstrip()
    return cls(message, msg_cd=msg_cd, msg1=text, http_status=http_status)
