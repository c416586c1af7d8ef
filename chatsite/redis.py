"""The process's Redis client for Parley's shared state (presence, rate limits, lists, ...).

None on the embedded default: callers then keep that state in process memory, which is right
for the single process the embedded default runs.
"""

import functools

import redis
from django.conf import settings


@functools.cache
def redis_client() -> redis.Redis | None:
    if not settings.REDIS_URL:
        return None
    return redis.Redis.from_url(
        settings.REDIS_URL, max_connections=settings.REDIS_POOL, health_check_interval=30
    )
