"""Read-only PostgreSQL replicas (DATABASE_REPLICA_URLS) for the reads that tolerate lag.

Nothing reads from a replica unless it asks to: a view wraps the reads that may lag in
`replica_reads(user_id=...)` (REST history pages, search, user search, the admin's lists). The
send path, `sync`, acks, everything a socket does and every write stay on the primary
("default"), so the realtime promise never depends on replication.

Read-your-writes, by LSN: after a user's write commits, `note_writes(user_ids=...)` remembers the
primary's WAL position (`pg_current_wal_lsn()`) in the cache for REPLICA_LSN_TTL seconds. A
`replica_reads` block of that user picks a replica only if it has replayed that position
(`pg_last_wal_replay_lsn() >= lsn`); if none has (lag, paused replay, a replica down), the
block reads from the primary. So a client that just sent reads its own message at once, and a
lagging replica costs the primary some reads, never a wrong answer to the writer. Other users
may see a page up to the replica's lag behind: that is the trade.

A replica that fails to answer is skipped for REPLICA_RETRY_SECONDS (reads go to the others,
or the primary): the process remembers it in `ReplicaOutages`, built once at start-up
(`ChatsiteConfig.ready`).
"""

import contextlib
import contextvars
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

logger = logging.getLogger(__name__)

_reading_from: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "parley_replica_reads", default=None
)


class ReplicaOutages:
    """The replicas of this process that failed to answer, and until when they are skipped."""

    def __init__(self) -> None:
        self._down_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def is_down(self, alias: str, now: float) -> bool:
        return self._down_until.get(alias, 0) > now

    def mark_down(self, alias: str, until: float) -> None:
        with self._lock:
            self._down_until[alias] = until


def replica_outages() -> ReplicaOutages:
    """This process's replica outages (`ChatsiteConfig.ready`)."""
    outages: ReplicaOutages = apps.get_app_config("chatsite").replica_outages  # type: ignore[attr-defined]
    return outages


def replica_aliases() -> list[str]:
    return list(settings.DATABASE_REPLICAS)


def _lsn_key(user_id: int) -> str:
    return f"replica-lsn:{user_id}"


def note_writes(*, user_ids: Iterable[int]) -> None:
    """Remembers the primary's WAL position after a commit of these users' writes, so their
    replica reads wait for it. Call after commit; `writes_noted_on_commit` does."""
    user_ids = set(user_ids)
    if not settings.DATABASE_REPLICAS or not user_ids:
        return
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()::text")
            (lsn,) = cursor.fetchone()
    except Exception:
        # Without the position, these users' replica reads go to the primary for the TTL.
        logger.exception("reading the WAL position after a write failed")
        lsn = "FFFFFFFF/FFFFFFFF"
    cache.set_many({_lsn_key(u): lsn for u in user_ids}, timeout=settings.REPLICA_LSN_TTL)


def writes_noted_on_commit(*, user_ids: Iterable[int]) -> None:
    """After the current transaction commits, `note_writes(user_ids)`; nothing without
    replicas (no query, no cache write on the default setup)."""
    if settings.DATABASE_REPLICAS:
        transaction.on_commit(partial(note_writes, user_ids=list(user_ids)), robust=True)


def _caught_up(alias: str, lsn: str | None) -> bool:
    with connections[alias].cursor() as cursor:
        if lsn is None:
            cursor.execute("SELECT pg_is_in_recovery()")
            return True
        cursor.execute("SELECT coalesce(pg_last_wal_replay_lsn() >= %s::pg_lsn, false)", [lsn])
        return bool(cursor.fetchone()[0])


def replica_for(*, user_id: int | None) -> str:
    """The alias to read from for `user_id`: a replica that has replayed their last write, or
    the primary."""
    aliases = replica_aliases()
    if not aliases:
        return DEFAULT_DB_ALIAS
    lsn = cache.get(_lsn_key(user_id)) if user_id is not None else None
    now = time.monotonic()
    outages = replica_outages()
    random.shuffle(aliases)
    for alias in aliases:
        if outages.is_down(alias, now):
            continue
        try:
            if _caught_up(alias, lsn):
                return alias
        except DatabaseError:
            logger.warning("replica %s does not answer; reading from elsewhere", alias)
            outages.mark_down(alias, now + settings.REPLICA_RETRY_SECONDS)
            with contextlib.suppress(Exception):
                connections[alias].close()
    return DEFAULT_DB_ALIAS


@contextlib.contextmanager
def replica_reads(*, user_id: int | None) -> Iterator[str]:
    """Reads inside this block (in this thread or task) go to a replica that has replayed
    `user_id`'s last write, else to the primary; yields the alias chosen."""
    alias = replica_for(user_id=user_id)
    token = _reading_from.set(alias)
    try:
        yield alias
    finally:
        _reading_from.reset(token)


def reading_from_replica() -> bool:
    """Whether this code runs inside a replica_reads block that chose a replica (caches must
    not keep what a lagging replica answered)."""
    return _reading_from.get() not in (None, DEFAULT_DB_ALIAS)


class ReplicaRouter:
    """Django's router: writes and ordinary reads to the primary, reads inside replica_reads
    to the replica it chose. Migrations run on the primary only (replicas replay them)."""

    def db_for_read(self, model, **hints) -> str | None:
        return _reading_from.get()

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS


def admin_lists_middleware(get_response: Callable) -> Callable:
    """The admin's change lists (GET) read from a replica; its forms and actions do not."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if (
            settings.DATABASE_REPLICAS
            and request.method == "GET"
            and request.path_info.startswith("/admin/")
        ):
            try:
                name = resolve(request.path_info).url_name or ""
            except Resolver404:
                name = ""
            if name.endswith("_changelist"):
                user_id = request.user.pk if request.user.is_authenticated else None
                with replica_reads(user_id=user_id):
                    return get_response(request)
        return get_response(request)

    return middleware
