from django.apps import AppConfig


class ChatsiteConfig(AppConfig):
    name = "chatsite"
    verbose_name = "Parley's plumbing: Redis clients, cache pools, replicas, the DB pool's stats"

    def ready(self) -> None:
        from .cache import SharedPools
        from .redis import RedisClients

        # The process's plumbing state, built once here instead of kept in module globals:
        # Redis clients (chatsite/redis.py) and the cache's connection pools (chatsite/cache.py).
        self.redis = RedisClients()
        self.cache_pools = SharedPools()
