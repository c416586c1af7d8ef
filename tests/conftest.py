import os

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from protection.testing import protection_state_reset
from tests.factories import access_token, make_user

REAL_SERVICES = bool(settings.USES_POSTGRES and settings.REDIS_URL)

# Sockets in tests hop into a shared worker thread for the database; with persistent
# connections that thread would keep one open past the test and block dropping the test
# database. Close after every hop instead (production keeps DB_CONN_MAX_AGE).
settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
# Password hashing at production strength dominates a suite that creates many users.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_report_header(config):
    database = "PostgreSQL" if settings.USES_POSTGRES else "SQLite"
    layer = "Redis" if settings.REDIS_URL else "in-memory"
    return f"parley configuration: {database} database, {layer} channel layer and cache"


def pytest_collection_modifyitems(config, items):
    # Tests that need PostgreSQL + Redis belong to that configuration's run; on the embedded
    # default they are deselected (not skipped), and that run proves the embedded path.
    if REAL_SERVICES:
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("postgres") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(autouse=True)
def _fresh_realtime_state():
    """Each test starts with an empty channel layer and cache (and Redis DB, when used)."""
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()
    else:
        from presence.store import presence_store
        from receipts.coalescing import _memory as held_receipts

        async_to_sync(get_channel_layer().flush)()
        presence_store().clear()
        held_receipts.clear()
    cache.clear()
    protection_state_reset()


@pytest.fixture
def reorder_wait(settings):
    settings.PARLEY_REORDER_WAIT = 0.2
    return settings.PARLEY_REORDER_WAIT


@pytest.fixture
def user(db):
    return make_user()


@pytest.fixture
def client_for():
    """An APIClient authenticated with a bearer token for the given user."""

    def build(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(user)}")
        return client

    return build


@pytest.fixture
def anon_client():
    return APIClient()


def postgres_env_for_subprocess() -> dict[str, str]:
    """Environment for a server process that must see this test's database and Redis."""
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": url,
            "REDIS_URL": settings.REDIS_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        }
    )
    return env
