"""Kiwoom Securities REST adapter (api.kiwoom.com / mockapi.kiwoom.com).

Design notes, what the local fake implements, and the test credentials: docs/brokers.md.
"""

from qts.brokers.kiwoom.broker import KiwoomBroker
from qts.brokers.kiwoom.config import KiwoomConfig, KiwoomMode, RateLimit, RateLimits
from qts.brokers.kiwoom.errors import (
    KiwoomApiError,
    KiwoomAuthError,
    KiwoomError,
    KiwoomProtocolError,
    KiwoomRateLimited,
    KiwoomReadInterrupted,
    KiwoomTransportError,
    Redactor,
    reject_code,
)
from qts.brokers.kiwoom.rest import KiwoomRestClient, Reply
from qts.brokers.kiwoom.store import (
    MemoryOrderStore,
    OrderRecord,
    OrderStore,
    RecordState,
    SqliteOrderStore,
)

__all__ = [
    "KiwoomApiError",
    "KiwoomAuthError",
    "KiwoomBroker",
    "KiwoomConfig",
    "KiwoomError",
    "KiwoomMode",
    "KiwoomProtocolError",
    "KiwoomRateLimited",
    "KiwoomReadInterrupted",
    "KiwoomRestClient",
    "KiwoomTransportError",
    "MemoryOrderStore",
    "OrderRecord",
    "OrderStore",
    "RateLimit",
    "RateLimits",
    "RecordState",
    "Redactor",
    "Reply",
    "SqliteOrderStore",
    "reject_code",
]
