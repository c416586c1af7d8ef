from django.apps import AppConfig


class ChatsiteConfig(AppConfig):
    name = "chatsite"
    verbose_name = "Parley's plumbing: Redis clients, cache pools, replicas, the DB pool's stats"

    def ready(self) -> None:
        from .cache import SharedPools
        from .db.replicas import ReplicaOutages
        from .dbpool import PoolStatsExport
        from .redis import RedisClients

        # The process's plumbing state, built once here instead of kept in module globals:
        # Redis clients (chatsite/redis.py), the cache's connection pools (chatsite/cache.py),
        # replicas that did not answer (chatsite/db/replicas.py), and which database pool the
        # metrics show (chatsite/dbpool.py).
        self.redis = RedisClients()
        self.cache_pools = SharedPools()
        self.replica_outages = ReplicaOutages()
        self.db_pool_stats = PoolStatsExport()
