"""chatsite/cache.py: every cache object of a process shares one Redis connection pool."""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from chatsite.cache import RedisCache

URL = "redis://127.0.0.1:1/0"  # never connected to: pools connect lazily


def pool_of(cache) -> object:
    return cache._cache._get_connection_pool(write=True)


def test_cache_objects_share_one_connection_pool():
    assert pool_of(RedisCache(URL, {})) is pool_of(RedisCache(URL, {}))
    # Django's own backend gives each object a pool of its own: the reason for this module.
    assert pool_of(DjangoRedisCache(URL, {})) is not pool_of(DjangoRedisCache(URL, {}))


def test_other_servers_and_options_get_their_own_pool():
    base = pool_of(RedisCache(URL, {}))
    assert pool_of(RedisCache("redis://127.0.0.1:2/0", {})) is not base
    assert pool_of(RedisCache(URL, {"OPTIONS": {"socket_timeout": 3}})) is not base
