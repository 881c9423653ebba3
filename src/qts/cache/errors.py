"""Errors of the cache: a failing backend, and a value the cache must not serve as current."""

from __future__ import annotations


class CacheError(Exception):
    """The cache backend failed (connection refused, timeout, protocol error). Callers never see
    it from :class:`~qts.cache.manager.CacheManager`: it counts towards the circuit breaker and
    the read goes to the store."""


class CacheStaleDataError(CacheError):
    """A cached value is older than its family's TTL (by its own timestamp field); it is never
    served as current: the manager reads through to the source instead."""

    def __init__(self, key: str, age_ms: int, ttl_ms: int) -> None:
        super().__init__(f"{key}: cached value is {age_ms} ms old, TTL {ttl_ms} ms")
        self.key = key
        self.age_ms = age_ms
        self.ttl_ms = ttl_ms


class PriceDataUnavailableError(LookupError):
    """No current price for a symbol: neither a fresh cache entry nor a price from the feed."""

    def __init__(self, symbol: str, reason: str = "no price from the feed") -> None:
        super().__init__(f"price:{symbol} unavailable: {reason}")
        self.symbol = symbol
