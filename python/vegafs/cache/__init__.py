"""Cache and event bus: Redis when ``VEGAFS_REDIS_URL`` is set, in-process otherwise.

Redis is never the only copy of anything: the database holds every job, so Redis down means
slower (SSE falls back to polling the database, results are recomputed), never wrong.
"""

from vegafs.cache.bus import Bus, LocalHub, Waiter
from vegafs.cache.memory import MemoryCache
from vegafs.cache.redis_backend import RedisCache, connect
from vegafs.cache.store import Cache, result_key

__all__ = [
    "Bus",
    "Cache",
    "LocalHub",
    "MemoryCache",
    "RedisCache",
    "Waiter",
    "connect",
    "result_key",
]
