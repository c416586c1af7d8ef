"""The process's PostgreSQL connection pool (Django's, psycopg_pool) seen by Prometheus.

psycopg_pool counts in the memory of its process; Prometheus's multiprocess mode only sees values
written through prometheus_client. So each process that uses the pool runs one daemon thread
that copies `pop_stats()` into chatsite.metrics every DB_POOL_STATS_INTERVAL seconds. The thread
starts with the first connection the pool hands out in that process (`connection_created`), so
a process that never queries runs none, and a forked child (a Celery pool process) starts its
own. It ends when the pool is closed (tests close it before dropping their database); the next
connection from a new pool starts another.
"""

import logging
import os
import threading
import time
from typing import Any

from django.conf import settings
from django.db.backends.signals import connection_created

from . import metrics

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# The pool watched and the process watching it: a fork copies the variable, not the thread.
_watched: tuple[int, Any] | None = None


def install() -> None:
    """Called once by each entry point (chatsite.asgi, chatsite.celery)."""
    connection_created.connect(_connection_handed_out, dispatch_uid="chatsite.dbpool")


def _connection_handed_out(sender: Any, connection: Any, **kwargs: Any) -> None:
    global _watched
    pool = getattr(connection, "pool", None)
    if pool is None or _watched == (os.getpid(), pool):
        return
    with _lock:
        if _watched == (os.getpid(), pool):
            return
        _watched = (os.getpid(), pool)
    threading.Thread(
        target=_export_while_open, args=(pool,), name="parley-db-pool-stats", daemon=True
    ).start()


def _export_while_open(pool: Any) -> None:
    while not pool.closed:
        try:
            metrics.db_pool_observed(stats=pool.pop_stats())
        except Exception:  # a metric is never worth the thread
            logger.exception("reading the database pool's stats failed")
        time.sleep(settings.DB_POOL_STATS_INTERVAL)
    # A closed pool holds nothing: its gauges go back to zero, its last counts are kept.
    closed = {"pool_size": 0, "pool_available": 0, "pool_max": 0, "requests_waiting": 0}
    metrics.db_pool_observed(stats={**pool.pop_stats(), **closed})
