"""The simulated KRX exchange: matching engine, venue account, broker adapter, crash journal.

Assumptions are listed in docs/simulator.md.
"""

from qts.brokers.sim.account import SimAccount
from qts.brokers.sim.broker import SimBroker
from qts.brokers.sim.config import MarketBuyHold, RejectCode, SimConfig
from qts.brokers.sim.exchange import SimExchange, SimOrder
from qts.brokers.sim.journal import SimJournal

__all__ = [
    "MarketBuyHold",
    "RejectCode",
    "SimAccount",
    "SimBroker",
    "SimConfig",
    "SimExchange",
    "SimJournal",
    "SimOrder",
]
