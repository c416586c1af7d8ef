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
"""

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

from chatsite.redis_url import is_sentinel, sync_pool

_pools: dict[tuple[str, str], Any] = {}
_pools_lock = threading.Lock()


class SharedPoolClient(RedisCacheClient):
    def _get_connection_pool(self, write: bool) -> Any:
        index = self._get_connection_pool_index(write)
        key = (self._servers[index], repr(sorted(self._pool_options.items())))
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                url = self._servers[index]
                if is_sentinel(url):
                    pool = sync_pool(url, **self._pool_options)
                else:
                    pool = self._pool_class.from_url(url, **self._pool_options)
                _pools[key] = pool
        return pool


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        if isinstance(server, str) and is_sentinel(server):
            self._servers = [server]
        self._class = SharedPoolClient
