import os

SECRET_KEY = "baseline-not-secret"  # noqa: S105 (loopback benchmark app, no auth)
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["daphne", "channels"]
ROOT_URLCONF = "bench.baseline.urls"
ASGI_APPLICATION = "bench.baseline.asgi.application"
DATABASES: dict = {}
USE_TZ = True
_redis = os.environ.get("REDIS_URL", "")
# The tutorial passes a plain URL, so redis-py caps the layer's pool at 100 connections and
# handshakes fail under load ("Too many connections"). BASELINE_REDIS_MAX_CONNECTIONS (the
# bench's --baseline-pool) sizes the pool instead, for a fair comparison of the rest.
_pool = int(os.environ.get("BASELINE_REDIS_MAX_CONNECTIONS", "0"))
_host = {"address": _redis, "max_connections": _pool} if _pool else _redis
CHANNEL_LAYERS = {
    "default": (
        {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [_host]}}
        if _redis
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}
