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
CHANNEL_LAYERS = {
    "default": (
        {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [_redis]}}
        if _redis
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}
