"""The dedup fast path: the ack of each recent send, cached per (sender, client_msg_id).

A client that retries a send it never saw acked (the usual case after a reconnect) gets the
original ack from the cache (Redis, or local memory on the embedded default) without opening a
transaction or taking the conversation's seq lock. Entries expire after
PARLEY_DEDUP_CACHE_SECONDS: the cache prunes itself. It is only a hint: the unique
(sender, client_msg_id) constraint of MessageKey stays the truth, so a retry after the entry is
gone is still caught by the database and answered with the original ack.
"""

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from .events import AckEvent
from .models import Message, MessageKey


def _key(sender_id: int, client_msg_id: str) -> str:
    return f"dedup:{sender_id}:{client_msg_id}"


def cached_acks(keys: list[tuple[int, str]]) -> dict[tuple[int, str], AckEvent]:
    """The cached acks of (sender_id, client_msg_id) pairs, in one round trip."""
    if not keys:
        return {}
    by_key = {
        _key(sender_id, client_msg_id): (sender_id, client_msg_id)
        for sender_id, client_msg_id in keys
    }
    found = cache.get_many(list(by_key))
    return {by_key[key]: ack for key, ack in found.items()}


def acks_remember(acks: list[tuple[int, AckEvent]]) -> None:
    """Caches the acks of just-stored messages, (sender_id, ack) each, in one round trip."""
    if acks:
        cache.set_many(
            {_key(sender_id, ack["client_msg_id"]): ack for sender_id, ack in acks},
            timeout=settings.PARLEY_DEDUP_CACHE_SECONDS,
        )


def ack_forget(*, sender_id: int, client_msg_id: str) -> None:
    cache.delete(_key(sender_id, client_msg_id))


def message_keys_prune(*, batch: int = 10_000) -> int:
    """Deletes keys whose message no longer exists (its conversation was deleted, or its month
    was detached while the key sweep was interrupted); returns how many. Keys of existing
    messages are never touched: they are the uniqueness constraint."""
    key_table = MessageKey._meta.db_table
    message_table = Message._meta.db_table
    deleted = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {key_table} WHERE message_id IN ("  # noqa: S608
                f"SELECT k.message_id FROM {key_table} k LEFT JOIN {message_table} m"
                " ON m.id = k.message_id WHERE m.id IS NULL LIMIT %s)",
                [batch],
            )
            count = cursor.rowcount
        deleted += count
        if count < batch:
            return deleted
