"""The Redis cache backend, with one connection pool per process instead of one per socket.

Django keeps a cache object per async context (`CacheHandler` is not thread-critical), and its
RedisCache gives every cache object its own connection pool. A server process runs each
WebSocket in its own context, so every socket that touched the cache (a `send` checks and
remembers its ack there) opened Redis connections of its own, held until the socket went away:
Redis clients grew with the number of sockets instead of staying flat. Here every cache object
of a process borrows the same pool (redis-py pools are thread-safe and reset after a fork).

LOCATION may also be a `redis+sentinel://` address (chatsite.redis_url): Django would split it at
its commas into several servers, so it is kept whole, and its pool is a Sentinel-managed one that
follows failovers.

The pools live in `SharedPools`, built once at start-up (`ChatsiteConfig.ready`).
"""

import threading
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

from chatsite.redis_url import is_sentinel, sync_pool


class SharedPools:
    """The process's cache connection pools, one per (server, pool options)."""

    def __init__(self) -> None:
        self._pools: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], build: Callable[[], Any]) -> Any:
        """The pool for `key`, built by `build` on first use."""
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = build()
        return pool


def shared_pools() -> SharedPools:
    """This process's cache pools (`ChatsiteConfig.ready`)."""
    pools: SharedPools = apps.get_app_config("chatsite").cache_pools  # type: ignore[attr-defined]
    return pools


class SharedPoolClient(RedisCacheClient):
    def _get_connection_pool(self, write: bool) -> Any:
        index = self._get_connection_pool_index(write)
        url = self._servers[index]

        def build() -> Any:
            if is_sentinel(url):
                return sync_pool(url, **self._pool_options)
            return self._pool_class.from_url(url, **self._pool_options)

        return shared_pools().get((url, repr(sorted(self._pool_options.items()))), build)


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        if isinstance(server, str) and is_sentinel(server):
            self._servers = [server]
        self._class = SharedPoolClient
