import asyncio
import os
import shutil
import warnings
from datetime import datetime

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from rest_framework.test import APIClient

from protection.testing import protection_state_reset
from tests.factories import access_token, make_user

REAL_SERVICES = bool(settings.USES_POSTGRES and settings.REDIS_URL)


def tool_missing(name: str) -> bool:
    """For `skipif`: a command-line tool the test needs is not installed. Never with CI=true,
    where a missing tool is a failure (the test runs and says what is missing), not a skip."""
    return shutil.which(name) is None and os.environ.get("CI") != "true"


# Sockets in tests hop into a shared worker thread for the database; with persistent
# connections that thread would keep one open past the test and block dropping the test
# database. Close after every hop instead (production does too on PostgreSQL, where the pool
# requires it; Django closes the pool before dropping the test database).
settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
# Importing chatsite.asgi (the gateway tests) must not touch the database before pytest-django
# allows it; server processes the tests start still ensure partitions at start.
settings.PARLEY_PARTITIONS_ENSURE_AT_START = False
# Password hashing at production strength dominates a suite that creates many users.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# PARLEY_TEST_CLOCK=2027-12-31T23:59:50Z runs the in-process suite with the clock moved there
# (and ticking): a test or code path that assumes today's date fails such a run. Tests that
# start server or worker processes are left out of it: those processes keep the real clock.
TEST_CLOCK = os.environ.get("PARLEY_TEST_CLOCK", "").strip()
SUBPROCESS_MODULES = {"subprocess", "multiprocessing", "tests.servers", "tests.workers"}
_clock_travel = None


def pytest_configure(config):
    global _clock_travel
    if TEST_CLOCK:
        import time_machine

        moment = datetime.fromisoformat(TEST_CLOCK.replace("Z", "+00:00"))
        _clock_travel = time_machine.travel(moment, tick=True)
        _clock_travel.start()


def pytest_unconfigure(config):
    if _clock_travel is not None:
        _clock_travel.stop()


def _starts_processes(module) -> bool:
    """Whether a test module starts other processes (they would run on the real clock)."""
    for value in vars(module).values():
        name = getattr(value, "__module__", None) or getattr(value, "__name__", "")
        if isinstance(name, str) and name in SUBPROCESS_MODULES:
            return True
    return False


def pytest_report_header(config):
    database = "PostgreSQL" if settings.USES_POSTGRES else "SQLite"
    layer = "Redis" if settings.REDIS_URL else "in-memory"
    header = f"parley configuration: {database} database, {layer} channel layer and cache"
    if TEST_CLOCK:
        header += (
            f"\nparley test clock: moved to {TEST_CLOCK} (ticking); tests that start"
            " processes deselected"
        )
    return header


def pytest_collection_modifyitems(config, items):
    if TEST_CLOCK:
        moved, started = [], []
        for item in items:
            module = getattr(item, "module", None)
            (started if module is not None and _starts_processes(module) else moved).append(item)
        if started:
            config.hook.pytest_deselected(items=started)
            items[:] = moved
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
    """Each test starts with an empty channel layer and cache (and Redis DB, when used).

    The layer object itself is new too: a server process runs one event loop for its life, but
    every async test gets its own, and channels_redis keeps loop-bound state on the layer (the
    receive lock, the loop that owns it, a count of receivers). A receive cut off when an earlier
    test's loop closed would leave that state pointing at a dead loop, so the next test would
    fail with "bound to a different event loop" or wait forever on a lock nobody releases."""
    channel_layers.backends.clear()
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()
    else:
        from presence.store import presence_store
        from receipts.coalescing import memory_gates

        async_to_sync(get_channel_layer().flush)()
        presence_store().clear()
        memory_gates().clear()
    cache.clear()
    protection_state_reset()


@pytest.fixture(autouse=True)
async def _settle_tasks_before_the_loop_closes():
    """Every test's own event loop ends with no database hop still in flight.

    A socket's database hop runs on channels' single worker thread and may call back into the
    loop (a presence change publishes after commit through `async_to_sync`). When a test ends
    while such a hop runs, pytest-asyncio cancels the socket's task, which stops waiting for the
    hop, then closes the loop; the hop's callback lands on a loop that never runs again and the
    worker thread, shared by every later test, waits for it forever. So: cancel what is left
    while the loop still runs, then wait for the worker thread to drain."""
    yield
    current = asyncio.current_task()
    # Not the tasks asgiref starts for a worker thread's async_to_sync call: one cancelled before
    # its first step never tells the thread, which then waits forever. They end by themselves.
    left = [
        task
        for task in asyncio.all_tasks()
        if task is not current
        and not task.done()
        and task.get_coro().__qualname__ != "AsyncToSync.main_wrap"
    ]
    for task in left:
        task.cancel()
    if left:
        _, pending = await asyncio.wait(left, timeout=10)
        if pending:  # a task that ignores cancellation is a leak in production too
            warnings.warn(f"still running 10 s after being cancelled: {pending}", stacklevel=1)
    # The worker is one thread taking hops in order: when this call has run, every hop queued
    # before it has finished, its callbacks into this loop included. It also gives back the
    # connection that thread still holds (an async test's transactional flush runs there, and no
    # request end closes it): left open, it kept PostgreSQL from dropping the test database at
    # the end of the session ("being accessed by other users"), with or without the pool.
    await asyncio.wait_for(
        sync_to_async(connections.close_all, thread_sensitive=True)(), timeout=30
    )
    # Hops that run on the loop's thread pool (core/asyncdb.py) finish here too, while the
    # loop still runs everything they call back into.
    await asyncio.wait_for(asyncio.get_running_loop().shutdown_default_executor(), timeout=30)


@pytest.fixture(autouse=True)
def _own_message_ids(monkeypatch):
    """Each test issues message ids from a generator of its own, as a new process would: the
    process's generator never issues an id below one it issued, so a test that moved the clock
    forward (time_machine) would otherwise leave every later test's ids in that future."""
    from messaging import ids

    monkeypatch.setattr(ids, "_generator", ids._Generator())


@pytest.fixture
def moved_clock(monkeypatch):
    """`time_machine.travel` for one test. Message ids come from a generator of the test's own,
    as in a process started at the moved time: the process's generator never issues an id below
    one it issued, so a trip into the future would otherwise leave later tests' ids there."""
    import time_machine

    from messaging import ids

    monkeypatch.setattr(ids, "_generator", ids._Generator())
    return time_machine.travel


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
