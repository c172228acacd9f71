"""Redis as cache and fan-out bus, with a short timeout and a breaker.

Every Redis call has a timeout (``VEGAFS_CACHE_TIMEOUT_S``, 0.25 s by default). A call that fails
or times out opens the breaker for ``COOLDOWN_S``: calls skip Redis (a cache miss, a local-only
event) until it closes, so a stopped or hung Redis costs a request at most one timeout, and the
service comes back to Redis by itself.
"""

import logging
import threading
import time
from typing import Any

import redis

from vegafs.cache.bus import Bus, LocalBus, LocalHub
from vegafs.cache.memory import MemoryCache
from vegafs.cache.store import Cache

log = logging.getLogger("vegafs.cache")
COOLDOWN_S = 1.0
CHANNEL_PREFIX = "vegafs:event:"


class _Breaker:
    def __init__(self) -> None:
        self._open_until = 0.0
        self._lock = threading.Lock()

    def closed(self) -> bool:
        return time.monotonic() >= self._open_until

    def trip(self, error: Exception) -> None:
        with self._lock:
            if self.closed():
                log.warning("redis unavailable (%s); retrying in %.0f s", error, COOLDOWN_S)
            self._open_until = time.monotonic() + COOLDOWN_S


def _client(url: str, timeout_s: float) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry_on_timeout=False,
        health_check_interval=30,
    )


class RedisCache:
    def __init__(self, url: str, timeout_s: float) -> None:
        self._redis = _client(url, timeout_s)
        self._breaker = _Breaker()

    def get(self, key: str) -> bytes | None:
        if not self._breaker.closed():
            return None
        try:
            value: Any = self._redis.get(key)
        except redis.RedisError as e:
            self._breaker.trip(e)
            return None
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if not self._breaker.closed():
            return
        try:
            self._redis.set(key, value, px=max(1, int(ttl_s * 1000)))
        except redis.RedisError as e:
            self._breaker.trip(e)

    def close(self) -> None:
        self._redis.close()


class RedisBus:
    """Publishes to Redis; a listener thread hands every event to this process's hub."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.hub = LocalHub()
        self._url = url
        self._redis = _client(url, timeout_s)
        self._breaker = _Breaker()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="vegafs-redis-bus", daemon=True)
        self._thread.start()

    def publish(self, topic: str) -> None:
        if self._breaker.closed():
            try:
                self._redis.publish(CHANNEL_PREFIX + topic, b"")
                return
            except redis.RedisError as e:
                self._breaker.trip(e)
        self.hub.deliver(topic)  # other processes fall back to polling the database

    def _listen(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            # A long read timeout: a quiet channel is normal. Pings find a dead connection.
            conn = redis.Redis.from_url(self._url, socket_connect_timeout=1, socket_timeout=5)
            pubsub = conn.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.psubscribe(CHANNEL_PREFIX + "*")
                delay = 0.1
                last_ping = time.monotonic()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        if time.monotonic() - last_ping > 5:
                            pubsub.ping()
                            last_ping = time.monotonic()
                    elif message["type"] == "pmessage":  # not the "pong" answering the ping
                        channel = message["channel"].decode()
                        self.hub.deliver(channel.removeprefix(CHANNEL_PREFIX))
            except (redis.RedisError, OSError) as e:
                log.debug("redis bus listener: %s", e)
            except Exception:  # never let the listener die: this process would go deaf
                log.exception("redis bus listener failed; reconnecting")
            finally:
                try:
                    pubsub.close()
                    conn.close()
                except (redis.RedisError, OSError):
                    pass
            self._stop.wait(delay)
            delay = min(delay * 2, 2.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._redis.close()


def connect(redis_url: str | None, timeout_s: float) -> tuple[Cache, Bus]:
    """The cache and bus the settings ask for."""
    if redis_url is None:
        return MemoryCache(), LocalBus()
    return RedisCache(redis_url, timeout_s), RedisBus(redis_url, timeout_s)
