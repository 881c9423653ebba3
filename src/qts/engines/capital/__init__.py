"""Capital flow (NG-5): three pools, their allocation, rebalancing, promotion, demotion, locks."""

from qts.engines.capital.config import CapitalConfig
from qts.engines.capital.pool import POOLS, CapitalBook, PoolSnapshot, PoolState, Transfer
from qts.engines.capital.view import CapitalView

__all__ = [
    "POOLS",
    "CapitalBook",
    "CapitalConfig",
    "CapitalView",
    "PoolSnapshot",
    "PoolState",
    "Transfer",
]
