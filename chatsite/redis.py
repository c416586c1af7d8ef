"""The process's Redis clients: REDIS_URL for shared state (presence, rate limits, lists, ...),
and the realtime tier's shards (REDIS_SHARD_URLS) for the conversation fan-out.

Each URL may be a plain `redis://` one or a `redis+sentinel://` one (chatsite.redis_url builds
the client either way; a Sentinel-managed client follows failovers by itself).

None on the embedded default: callers then keep that state in process memory, which is right
for the single process the embedded default runs.
"""

import functools

import redis
from django.conf import settings

from chatsite.redis_url import sync_client


@functools.cache
def redis_client() -> redis.Redis | None:
    if not settings.REDIS_URL:
        return None
    return sync_client(
        settings.REDIS_URL, max_connections=settings.REDIS_POOL, health_check_interval=30
    )


@functools.cache
def shard_clients() -> tuple[redis.Redis, ...]:
    """Sync clients of the realtime tier's Redis shards (REDIS_SHARD_URLS), in settings order;
    empty on the embedded default. A shard that is REDIS_URL itself shares its client."""
    if not settings.REDIS_URL:
        return ()
    return tuple(
        redis_client()
        if url == settings.REDIS_URL
        else sync_client(url, max_connections=settings.REDIS_POOL, health_check_interval=30)
        for url in settings.REDIS_SHARD_URLS
    )
