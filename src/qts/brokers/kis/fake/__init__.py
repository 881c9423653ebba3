"""A KIS-compatible local exchange for tests, benchmarks and ``qts sim serve --broker kis``.

REST and WebSocket listeners on 127.0.0.1 that speak KIS's wire protocol over a real
:class:`~qts.brokers.sim.SimBroker`. See docs/brokers.md for what it implements.
"""

from qts.brokers.kis.fake.credentials import PAPER_APP, REAL_APP, FakeApp, default_app
from qts.brokers.kis.fake.faults import Faults
from qts.brokers.kis.fake.options import FakeKisOptions, ServerStats
from qts.brokers.kis.fake.paced_clock import PacedClock
from qts.brokers.kis.fake.serve import build_replay_server, serve_kis
from qts.brokers.kis.fake.server import FakeKisServer

__all__ = [
    "PAPER_APP",
    "REAL_APP",
    "FakeApp",
    "FakeKisOptions",
    "FakeKisServer",
    "Faults",
    "PacedClock",
    "ServerStats",
    "build_replay_server",
    "default_app",
    "serve_kis",
]
