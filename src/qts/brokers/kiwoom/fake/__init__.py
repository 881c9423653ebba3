"""A Kiwoom-compatible local REST server backed by the simulated KRX exchange (tests, demos).

``FakeKiwoomServer(venue, FakeConfig(...)).start()`` in tests; ``serve(...)`` for the CLI.
What it implements, and what it does not, is listed in docs/brokers.md (Kiwoom).
"""

from qts.brokers.kiwoom.fake.faults import Fault, FaultKind, FaultPlan, When
from qts.brokers.kiwoom.fake.runner import (
    FakeKiwoomServer,
    MarketReplay,
    check_loopback,
    serve,
    synthetic_venue,
)
from qts.brokers.kiwoom.fake.server import (
    TEST_ACCOUNT_NO,
    TEST_APP_KEY,
    TEST_SECRET_KEY,
    CodeStyle,
    FakeConfig,
    FakeKiwoom,
    Limit,
    LimitReply,
    NumberStyle,
)
from qts.brokers.kiwoom.fake.venue import FakeVenue, KwFill, KwOrder, kiwoom_fees

__all__ = [
    "TEST_ACCOUNT_NO",
    "TEST_APP_KEY",
    "TEST_SECRET_KEY",
    "CodeStyle",
    "FakeConfig",
    "FakeKiwoom",
    "FakeKiwoomServer",
    "FakeVenue",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "KwFill",
    "KwOrder",
    "Limit",
    "LimitReply",
    "MarketReplay",
    "NumberStyle",
    "When",
    "check_loopback",
    "kiwoom_fees",
    "serve",
    "synthetic_venue",
]
