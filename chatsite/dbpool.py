"""The process's PostgreSQL connection pool seen by Prometheus.

psycopg_pool counts in the memory of its process; Prometheus's multiprocess mode only sees values
written through prometheus_client. So each pool, once created (lazily, by the process that first
queries: a forked Celery child makes its own), gets a daemon thread that copies its `pop_stats()`
into chatsite.metrics every DB_POOL_STATS_INTERVAL seconds, until the pool is closed (tests close
it before dropping their database; chatsite.db.postgresql replaces it after an outage).

Which pool the gauges show is kept by `PoolStatsExport`, built once at start-up
(`ChatsiteConfig.ready`).
"""

import logging
import threading
import time
from typing import Any

from django.apps import apps
from django.conf import settings

from . import metrics

logger = logging.getLogger(__name__)


class PoolStatsExport:
    """Copies pools' stats into the metrics; the gauges show the pool watched last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current: Any = None  # the pool whose gauges are shown

    def watch(self, pool: Any) -> None:
        """Exports `pool`'s stats from now on, in place of any earlier pool's."""
        with self._lock:
            self.current = pool
        threading.Thread(
            target=self._export_while_open, args=(pool,), name="parley-db-pool-stats", daemon=True
        ).start()

    def _export_while_open(self, pool: Any) -> None:
        opened = False  # a pool is created closed and opened by its first use
        while not (pool.closed and (opened or self.current is not pool)):
            opened = opened or not pool.closed
            self._export(pool, pool.pop_stats())
            time.sleep(settings.DB_POOL_STATS_INTERVAL)
        stats = pool.pop_stats()
        if self.current is pool:  # a closed pool holds nothing: its gauges go back to zero
            stats.update(pool_size=0, pool_available=0, pool_max=0, requests_waiting=0)
        self._export(pool, stats)

    def _export(self, pool: Any, stats: dict[str, int]) -> None:
        try:
            if self.current is pool:
                metrics.db_pool_observed(stats=stats)
            else:  # a replaced pool's last counts still count; its gauges are not the process's
                metrics.db_pool_counted(stats=stats)
        except Exception:  # a metric is never worth the thread
            logger.exception("exporting the database pool's stats failed")


def pool_stats_export() -> PoolStatsExport:
    """This process's pool stats export (`ChatsiteConfig.ready`)."""
    export: PoolStatsExport = apps.get_app_config("chatsite").db_pool_stats  # type: ignore[attr-defined]
    return export


def watch(pool: Any) -> None:
    """Exports `pool`'s stats from now on, in place of any earlier pool's."""
    pool_stats_export().watch(pool)
