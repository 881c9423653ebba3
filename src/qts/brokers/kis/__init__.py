"""KIS (Korea Investment & Securities) Open API adapter: REST + real-time WebSocket.

``KisBroker`` implements the Broker protocol over KIS's domestic-stock API; ``fake`` is a local
KIS-compatible exchange for tests. See docs/brokers.md and docs/adr/0004-kis-adapter.md.
"""

from qts.brokers.kis.broker import KisBroker
from qts.brokers.kis.config import KisConfig, KisMode
from qts.brokers.kis.errors import (
    AuthError,
    KisApiError,
    KisError,
    OrderOutcomeUnknown,
    ProtocolError,
    RateLimited,
    Rejected,
    ServerError,
    TokenExpired,
    TokenIssueLimited,
    TransportError,
    WebSocketError,
)

__all__ = [
    "AuthError",
    "KisApiError",
    "KisBroker",
    "KisConfig",
    "KisError",
    "KisMode",
    "OrderOutcomeUnknown",
    "ProtocolError",
    "RateLimited",
    "Rejected",
    "ServerError",
    "TokenExpired",
    "TokenIssueLimited",
    "TransportError",
    "WebSocketError",
]
