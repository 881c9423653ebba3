"""The hot cache (spec §7, NG-4): prices, positions, risk state and order status at
sub-millisecond cost, with the store behind every read and a circuit breaker around the cache."""

from qts.cache.breaker import BreakerState, CircuitBreaker
from qts.cache.errors import CacheError, CacheStaleDataError, PriceDataUnavailableError
from qts.cache.factory import open_backend
from qts.cache.hot import HotCache
from qts.cache.keys import TTL_MS, Family
from qts.cache.manager import CacheManager
from qts.cache.memory import MemoryCache
from qts.cache.metrics import CacheMetrics
from qts.cache.port import CacheBackend
from qts.cache.values import CachedPosition, OrderStatusView, PriceQuote, RiskState

__all__ = [
    "TTL_MS",
    "BreakerState",
    "CacheBackend",
    "CacheError",
    "CacheManager",
    "CacheMetrics",
    "CacheStaleDataError",
    "CachedPosition",
    "CircuitBreaker",
    "Family",
    "HotCache",
    "MemoryCache",
    "OrderStatusView",
    "PriceDataUnavailableError",
    "PriceQuote",
    "RiskState",
    "open_backend",
]
