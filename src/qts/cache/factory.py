"""Choose the cache backend from the configuration (``cache.backend`` / ``cache.url``)."""

from __future__ import annotations

from qts.cache.memory import MemoryCache
from qts.cache.port import CacheBackend
from qts.core.clock import Clock
from qts.core.errors import ConfigError

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def open_backend(backend: str, url: str | None, prefix: str, clock: Clock) -> CacheBackend:
    """``memory``: in-process (no server). ``redis``: redis-py at ``url``. The Redis backend is
    opened lazily — a Redis that is down at start is a cache outage, not a refusal to trade."""
    if backend == "memory":
        return MemoryCache(clock, prefix)
    if backend == "redis":
        from qts.cache.redis_cache import RedisCache

        try:
            return RedisCache(url or DEFAULT_URL, prefix)
        except ValueError as exc:
            raise ConfigError("Config_Local", "cache.url", str(exc)) from None
    raise ConfigError("Config_Local", "cache.backend", f"expected memory or redis, got {backend!r}")
