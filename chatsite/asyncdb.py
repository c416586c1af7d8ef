"""Database hops from async code (the WebSocket gateway) that may run side by side.

Channels' `database_sync_to_async` is thread-sensitive: every hop of every socket of a server
process runs on one shared thread, so sends, each waiting a few milliseconds for its commit,
queue behind one another (measured: about 60 sends/s per process on PostgreSQL, see
docs/performance.md). Parley's hops are self-contained (each service owns its transaction and
gets plain data), so they run on the event loop's thread pool instead. Each hop takes a
connection from the process's PostgreSQL pool and gives it back when it ends (channels'
`close_old_connections` around the hop, CONN_MAX_AGE 0), so REST requests and hops together
never hold more than DB_POOL_MAX_SIZE connections (settings, "Database").

SQLite (the embedded default) serializes writers anyway, and its shared in-memory test database
refuses concurrent writers outright, so there the hops stay on channels' one thread.
"""

from collections.abc import Callable
from typing import Any

from channels.db import DatabaseSyncToAsync
from django.conf import settings


def db_hop(func: Callable[..., Any]) -> DatabaseSyncToAsync:
    return DatabaseSyncToAsync(func, thread_sensitive=not settings.USES_POSTGRES)
