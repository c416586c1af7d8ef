"""Parley's PostgreSQL backend: django-prometheus's, with a connection pool that tells load from
an outage.

Django 5.2's pool (psycopg_pool) bounds a process's connections; a thread that finds them all in
use waits for one, up to DB_POOL_TIMEOUT (30 s), so load queues instead of failing. But a pool
whose database went away also just waits: every request would hang for the whole timeout before
its 503, and a pool retries with growing back-off, so after the database came back requests could
keep failing for minutes. Parley keeps its documented outage behaviour instead (docs/operations.md,
"The database briefly unavailable"): while PostgreSQL refuses new connections, a request fails at
once (503 `unavailable`, a socket's `send` answered `unavailable`), and the first request that
finds it answering again replaces the pool, so the process recovers at once.
"""

import threading
from time import monotonic
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS
from django.db.backends.base.base import NO_DB_ALIAS
from django_prometheus.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

from chatsite import dbpool


def _too_many_connections(error: BaseException) -> bool:
    """PostgreSQL's "sorry, too many clients already" (psycopg gives no SQLSTATE for errors
    while connecting, so its English message is matched too)."""
    return getattr(error, "sqlstate", None) == "53300" or "too many clients" in str(error)


class Pool(ConnectionPool):
    """A psycopg pool that knows whether its last attempt to open a connection failed, and
    then fails the threads waiting for one instead of keeping them waiting."""

    refused: BaseException | None = None  # why the last attempt failed; None once one worked

    def _connect(self, timeout: float | None = None) -> Any:
        # psycopg_pool's one place where connections are opened (pinned in requirements.txt).
        try:
            conn = super()._connect(timeout)
        except Exception as error:
            if _too_many_connections(error):
                # PostgreSQL is there but full (other processes): load, not an outage. The
                # pool's connections still serve, and waiting threads get them as they return.
                raise
            self.refused = error
            self._fail_waiting(error)
            raise
        self.refused = None
        return conn

    def _getconn_with_check_loop(self, deadline: float) -> Any:
        # psycopg_pool's loop (pinned in requirements.txt), but for what follows a connection
        # that fails its health check. psycopg_pool drops it and sleeps with growing back-off
        # (1, 2, 4 s...) before trying the next one: right after PostgreSQL went away, a
        # request that met the pool's dead connections waited most of the timeout, and behind
        # it every send of its socket's process (seen in the outage scenario: one process
        # answered no `send` at all for the 10 s outage). Here a failed check asks PostgreSQL
        # at once: refusing → this request fails now (503 / `unavailable`); answering → the
        # next connection is tried without a pause (a lone dead connection is not an outage).
        while True:
            conn = self._getconn_unchecked(deadline - monotonic())
            try:
                self._check_connection(conn)
            except Exception:
                self._putconn(conn, from_getconn=True)
                self._probe(deadline)
                continue
            except BaseException:
                self._putconn(conn, from_getconn=True)
                raise
            return conn

    def _probe(self, deadline: float) -> None:
        """Raises OperationalError (and fails the waiting clients) when PostgreSQL refuses a
        new connection now."""
        timeout = max(1, min(5, round(deadline - monotonic())))
        try:
            psycopg.Connection.connect(
                self._resolve_conninfo(), **{**self._resolve_kwargs(), "connect_timeout": timeout}
            ).close()
        except Exception as error:
            if _too_many_connections(error):
                return
            self.refused = error
            self._fail_waiting(error)
            raise psycopg.OperationalError(f"PostgreSQL refuses connections: {error}") from error

    def _fail_waiting(self, error: BaseException) -> None:
        # As psycopg_pool's close() does: take the waiting clients out under the lock, tell each.
        with self._lock:
            waiting = list(self._waiting)
            self._waiting.clear()
        failure = psycopg.OperationalError(f"PostgreSQL refuses connections: {error}")
        for client in waiting:
            client.fail(failure)


class DatabaseWrapper(base.DatabaseWrapper):
    # Django keeps the pools in a dict of the class (`_connection_pools`, one per process and
    # alias); replacing one is guarded beside it, by the class too.
    _pool_replacing = threading.Lock()

    @property
    def pool(self) -> Pool | None:
        """As Django's `pool`, with Parley's Pool (and its stats exported, chatsite.dbpool)."""
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not pool_options:
            return None
        if self.alias not in self._connection_pools:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
            connect_kwargs = self.get_connection_params()
            # Autocommit in the pool; Django sets the connection up as it wants after getconn.
            connect_kwargs["autocommit"] = True
            pool = Pool(
                kwargs=connect_kwargs,
                open=False,  # opened on first use, by get_new_connection
                configure=self._configure_connection,
                check=Pool.check_connection if self.settings_dict["CONN_HEALTH_CHECKS"] else None,
                **({} if pool_options is True else pool_options),
            )
            # Threads racing here build a pool each; the first one stored wins (none is open).
            # The metrics show the primary's pool (replicas' pools: chatsite.db.replicas).
            if self._connection_pools.setdefault(self.alias, pool) is pool and self.alias == (
                DEFAULT_DB_ALIAS
            ):
                dbpool.watch(pool)
        return self._connection_pools[self.alias]

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        pool = self.pool
        if pool is not None and pool.refused is not None:
            # Does PostgreSQL answer now? If not, this request fails at once, as without a pool.
            probe = dict(conn_params)
            probe.setdefault("connect_timeout", max(1, round(settings.DB_POOL_TIMEOUT)))
            self.Database.connect(**probe).close()
            # It does: a new pool connects now, not at the old one's next back-off.
            with self._pool_replacing:
                if self._connection_pools.get(self.alias) is pool:
                    del self._connection_pools[self.alias]
                    pool.close(timeout=0)
        return super().get_new_connection(conn_params)
