"""The change cursor for what is not a message's own text: each change takes the
conversation's next change_seq (shared with edits and deletes) and replaces its key's row in
ConversationChange, so `changes` after a reconnect replays the newest state of each thing."""

from functools import partial
from typing import Any

from django.db import connection, transaction

import realtime
from messaging.models import Conversation

from .models import ConversationChange


def change_seq_take(conversation_id: int) -> int:
    """The conversation's next change_seq; row-locks the conversation until commit."""
    table = Conversation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_change_seq = last_change_seq + 1 "  # noqa: S608
            "WHERE id = %s RETURNING last_change_seq",
            [conversation_id],
        )
        row = cursor.fetchone()
    return int(row[0])


def change_record(
    *, conversation_id: int, key: str, message_seq: int, event: dict[str, Any]
) -> dict[str, Any]:
    """Numbers `event` with the next change_seq, keeps it as `key`'s newest change and
    publishes it to the conversation after commit. Call inside the caller's transaction."""
    event = {**event, "change_seq": change_seq_take(conversation_id)}
    ConversationChange.objects.update_or_create(
        conversation_id=conversation_id,
        key=key,
        defaults={"change_seq": event["change_seq"], "message_seq": message_seq, "event": event},
    )
    transaction.on_commit(
        partial(realtime.publish_to_conversation, conversation_id, event["type"], event),
        robust=True,
    )
    return event
