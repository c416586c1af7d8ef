"""The Redis cache backend, with one connection pool per process instead of one per socket.

Django keeps a cache object per async context (`CacheHandler` is not thread-critical), and its
RedisCache gives every cache object its own connection pool. A server process runs each
WebSocket in its own context, so every socket that touched the cache (a `send` checks and
remembers its ack there) opened Redis connections of its own, held until the socket went away:
Redis clients grew with the number of sockets instead of staying flat. Here every cache object
of a process borrows the same pool (redis-py pools are thread-safe and reset after a fork).
"""

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

_pools: dict[tuple[str, str], Any] = {}
_pools_lock = threading.Lock()


class SharedPoolClient(RedisCacheClient):
    def _get_connection_pool(self, write: bool) -> Any:
        index = self._get_connection_pool_index(write)
        key = (self._servers[index], repr(sorted(self._pool_options.items())))
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = self._pool_class.from_url(
                    self._servers[index], **self._pool_options
                )
        return pool


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolClient
