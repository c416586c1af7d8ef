"""The process's Redis clients: REDIS_URL for shared state (presence, rate limits, lists, ...),
and the realtime tier's shards (REDIS_SHARD_URLS) for the conversation fan-out.

Each URL may be a plain `redis://` one or a `redis+sentinel://` one (chatsite.redis_url builds
the client either way; a Sentinel-managed client follows failovers by itself).

None on the embedded default: callers then keep that state in process memory, which is right
for the single process the embedded default runs.

The clients live in `RedisClients`, built once at start-up (`ChatsiteConfig.ready`); code reaches
them through `redis_client()` and `shard_clients()`.
"""

import threading

import redis
from django.apps import apps
from django.conf import settings

from chatsite.redis_url import sync_client

Clients = tuple[redis.Redis | None, tuple[redis.Redis, ...]]


class RedisClients:
    """The REDIS_URL client and the shards' clients, built on first use from the settings of
    that moment (building connects nothing: a client connects on its first command)."""

    def __init__(self) -> None:
        self._built: Clients | None = None
        self._lock = threading.Lock()

    def get(self) -> Clients:
        built = self._built
        if built is None:
            with self._lock:
                if self._built is None:
                    self._built = self._build()
                built = self._built
        return built

    def reset(self) -> None:
        """Drops the clients: the next use builds them from the settings again (tests that
        point REDIS_URL elsewhere)."""
        with self._lock:
            self._built = None

    @staticmethod
    def _build() -> Clients:
        if not settings.REDIS_URL:
            return None, ()
        main = sync_client(
            settings.REDIS_URL, max_connections=settings.REDIS_POOL, health_check_interval=30
        )
        # A shard that is REDIS_URL itself shares its client.
        shards = tuple(
            main
            if url == settings.REDIS_URL
            else sync_client(url, max_connections=settings.REDIS_POOL, health_check_interval=30)
            for url in settings.REDIS_SHARD_URLS
        )
        return main, shards


def redis_clients() -> RedisClients:
    """This process's Redis clients (`ChatsiteConfig.ready`)."""
    clients: RedisClients = apps.get_app_config("chatsite").redis  # type: ignore[attr-defined]
    return clients


def redis_client() -> redis.Redis | None:
    return redis_clients().get()[0]


def shard_clients() -> tuple[redis.Redis, ...]:
    """Sync clients of the realtime tier's Redis shards (REDIS_SHARD_URLS), in settings order;
    empty on the embedded default. A shard that is REDIS_URL itself shares its client."""
    return redis_clients().get()[1]
