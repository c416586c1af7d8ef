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

import functools
from collections.abc import Callable
from typing import Any

from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import close_old_connections


def db_hop(func: Callable[..., Any]) -> DatabaseSyncToAsync:
    @functools.wraps(func)
    def hop(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        finally:
            # The hop gives its connection back to the pool itself, not only through channels'
            # wrapper: channels' test communicator turns that off (it patches
            # channels.db.close_old_connections), and a pooled connection a thread keeps is a
            # slot lost when the thread ends (in-process tests on PostgreSQL ran the pool dry).
            close_old_connections()

    return DatabaseSyncToAsync(hop, thread_sensitive=not settings.USES_POSTGRES)
