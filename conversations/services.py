"""Writes for conversation features. Each public service owns its transaction and publishes its
events after commit; the `*_record` helpers run inside the caller's transaction."""

from messaging.models import Membership, Message

from .models import Mention


def mentions_record(*, messages: list[Message]) -> None:
    """Writes who each message mentions (every other member for @all; never the sender), so
    unread_mentions counts them. Replaces what an earlier version of a message recorded. Call
    inside the transaction that stores or changes the messages."""
    if not messages:
        return
    Mention.objects.filter(message_id__in=[m.pk for m in messages]).delete()
    rows: list[Mention] = []
    everyone: dict[int, list[int]] = {}
    for message in messages:
        if message.deleted_at is not None:
            continue
        if message.mentions_all:
            if message.conversation_id not in everyone:
                everyone[message.conversation_id] = list(
                    Membership.objects.filter(conversation_id=message.conversation_id).values_list(
                        "user_id", flat=True
                    )
                )
            named = set(everyone[message.conversation_id])
        else:
            named = set(message.mentions or [])
        named.discard(message.sender_id)
        rows.extend(
            Mention(
                message_id=message.pk,
                conversation_id=message.conversation_id,
                seq=message.seq,
                user_id=user_id,
            )
            for user_id in sorted(named)
        )
    Mention.objects.bulk_create(rows)
