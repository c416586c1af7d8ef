"""Writes to conversations and messages. Each service owns its transaction and publishes
realtime events only after commit."""

import re
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from chatsite import metrics
from moderation.services import audit_record
from push.services import push_message_sent

from . import dedup, history_cache, realtime
from .errors import BadRequest, Conflict, EditWindowClosed, Forbidden, NotFound
from .events import (
    AckEvent,
    ConversationJoinedEvent,
    ConversationLeftEvent,
    MessageDeletedEvent,
    MessageUpdatedEvent,
    ack_event,
    message_change_event,
    message_event,
)
from .ids import next_message_id
from .models import Conversation, Membership, Message, MessageKey
from .selectors import conversation_summaries

BODY_MAX_CHARS = 4000
CLIENT_MSG_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def validate_client_msg_id(client_msg_id: object) -> str:
    if not isinstance(client_msg_id, str) or not CLIENT_MSG_ID_RE.fullmatch(client_msg_id):
        raise BadRequest(
            "client_msg_id must be 1 to 64 characters of A-Z a-z 0-9 _ . : -", field="client_msg_id"
        )
    return client_msg_id


def validate_body(body: object) -> str:
    if not isinstance(body, str):
        raise BadRequest("body must be a string", field="body")
    if not body.strip():
        raise BadRequest("body must not be empty or only whitespace", field="body")
    if len(body) > BODY_MAX_CHARS:
        raise BadRequest(f"body must be at most {BODY_MAX_CHARS} characters", field="body")
    if "\x00" in body:
        raise BadRequest("body must not contain NUL characters", field="body")
    return body


def _next_seq(conversation_id: int) -> int:
    """Takes the conversation's next seq. The UPDATE row-locks only this conversation, so
    senders elsewhere are not serialized; a rollback returns the number (no gaps)."""
    table = Conversation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_seq = last_seq + 1, last_message_at = %s "  # noqa: S608
            "WHERE id = %s RETURNING last_seq",
            [timezone.now(), conversation_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound("No such conversation.", field="conversation")
    return int(row[0])


def _original_ack(*, sender: User, client_msg_id: str, conversation_id: int) -> AckEvent | None:
    # The key table's unique index finds the id; the id alone picks the message's partition.
    key = MessageKey.objects.filter(sender_id=sender.pk, client_msg_id=client_msg_id).first()
    original = Message.objects.filter(pk=key.message_id).first() if key is not None else None
    if original is None:
        return None
    if original.conversation_id != conversation_id:
        raise Conflict(
            "client_msg_id was already used for a message in another conversation",
            field="client_msg_id",
        )
    return ack_event(original, duplicate=True)


def _store_message(
    *,
    conversation_id: int,
    sender: User | None,
    client_msg_id: str | None,
    body: str,
    system: dict[str, Any] | None = None,
) -> Message:
    """The one way a message is stored, user or system: takes the conversation's next seq,
    writes its uniqueness key and the row, and after commit publishes it to the conversation
    and adds it to the history cache. Call inside a transaction the caller owns."""
    seq = _next_seq(conversation_id)
    message_id = next_message_id()
    # The key row enforces uniqueness across monthly partitions (MessageKey).
    MessageKey.objects.create(
        message_id=message_id,
        conversation_id=conversation_id,
        seq=seq,
        sender_id=sender.pk if sender is not None else None,
        client_msg_id=client_msg_id,
    )
    message = Message.objects.create(
        id=message_id,
        conversation_id=conversation_id,
        seq=seq,
        sender=sender,
        client_msg_id=client_msg_id,
        body=body,
        created_at=timezone.now(),
        system=system,
    )
    event = message_event(message, sender)
    transaction.on_commit(
        partial(realtime.publish_to_conversation, conversation_id, "chat.message", dict(event)),
        robust=True,
    )
    transaction.on_commit(partial(history_cache.message_added, event), robust=True)
    return message


def system_message_store(*, conversation_id: int, body: str, system: dict[str, Any]) -> Message:
    """Records an event in the conversation (a member joined, left, ...) as a message with a
    seq, so every member sees it in order, live and on sync. Call inside the caller's
    transaction, after any membership change it records has been made."""
    return _store_message(
        conversation_id=conversation_id,
        sender=None,
        client_msg_id=None,
        body=body,
        system=system,
    )


def message_send(*, sender: User, conversation_id: int, client_msg_id: str, body: str) -> AckEvent:
    """Stores a message exactly once per (sender, client_msg_id) with the conversation's next
    seq, and publishes it to the conversation after commit. A repeat returns the original ack."""
    client_msg_id = validate_client_msg_id(client_msg_id)
    body = validate_body(body)
    cached = dedup.cached_ack(sender_id=sender.pk, client_msg_id=client_msg_id)
    if cached is not None:
        if cached["conversation"] != conversation_id:
            raise Conflict(
                "client_msg_id was already used for a message in another conversation",
                field="client_msg_id",
            )
        return {**cached, "duplicate": True}
    try:
        with transaction.atomic():
            membership = (
                Membership.objects.select_related("conversation")
                .filter(conversation_id=conversation_id, user_id=sender.pk)
                .first()
            )
            if membership is None:
                raise NotFound("No such conversation.", field="conversation")
            if (
                membership.conversation.kind == Conversation.Kind.ANNOUNCEMENT
                and not sender.is_staff
            ):
                raise Forbidden("Only staff can post announcements.", field="conversation")
            message = _store_message(
                conversation_id=conversation_id,
                sender=sender,
                client_msg_id=client_msg_id,
                body=body,
            )
            ack = ack_event(message, duplicate=False)
            transaction.on_commit(
                partial(dedup.ack_remember, sender_id=sender.pk, ack=ack), robust=True
            )
            transaction.on_commit(
                partial(push_message_sent, conversation_id=conversation_id, message_id=message.pk),
                robust=True,
            )
    except IntegrityError:
        # Unique (sender, client_msg_id) of MessageKey fired: a concurrent or earlier send
        # stored it.
        duplicate = _original_ack(
            sender=sender, client_msg_id=client_msg_id, conversation_id=conversation_id
        )
        if duplicate is None:
            raise
        return duplicate
    metrics.message_stored(kind=membership.conversation.kind)
    return ack


def publish_conversation_joined(conversation_id: int, user_ids: list[int]) -> None:
    """After commit, tells each new member's sockets about the conversation (their own view of
    it: title and unread differ per member). Call inside the transaction that added them."""

    def publish() -> None:
        for user_id in user_ids:
            for summary in conversation_summaries(
                user_id=user_id, conversation_ids=[conversation_id]
            ):
                event: ConversationJoinedEvent = {
                    "type": "conversation.joined",
                    "conversation": summary,
                }
                realtime.publish_to_user(user_id, "conversation.joined", dict(event))

    transaction.on_commit(publish, robust=True)


def conversation_direct_open(*, user: User, other_id: int) -> tuple[Conversation, bool]:
    """The one direct conversation of a pair, created on first use; (conversation, created)."""
    if other_id == user.pk:
        raise BadRequest("You cannot open a direct chat with yourself.", field="user")
    if not User.objects.filter(pk=other_id, is_active=True).exists():
        raise NotFound("No such user.", field="user")
    low, high = sorted((user.pk, other_id))
    key = f"{low}:{high}"
    existing = Conversation.objects.filter(direct_key=key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                kind=Conversation.Kind.DIRECT, direct_key=key, created_by=user
            )
            Membership.objects.bulk_create(
                [Membership(conversation=conversation, user_id=uid) for uid in (low, high)]
            )
            publish_conversation_joined(conversation.pk, [low, high])
    except IntegrityError:
        # The other side opened it at the same moment.
        return Conversation.objects.get(direct_key=key), False
    return conversation, True


def publish_conversation_left(conversation_id: int, user_id: int, *, reason: str) -> None:
    """After commit, tells the user's sockets on every process to stop carrying the
    conversation. Call inside the transaction that removed the membership, before storing the
    system message that records it.

    It travels on the conversation's own fan-out channel, so every socket handles the leave
    before that system message (same channel, same order), and also to the user's channel-layer
    group in case the fan-out lost it; handling it twice is harmless."""
    event: ConversationLeftEvent = {
        "type": "conversation_left",
        "conversation": conversation_id,
        "reason": reason,  # type: ignore[typeddict-item]
    }
    addressed = {**event, "user": user_id}

    def publish() -> None:
        realtime.publish_to_conversation(conversation_id, "conversation.left", addressed)
        realtime.publish_to_user(user_id, "conversation.left", addressed)

    transaction.on_commit(publish, robust=True)


def _next_change_seq(conversation_id: int) -> int:
    table = Conversation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_change_seq = last_change_seq + 1 "  # noqa: S608
            "WHERE id = %s RETURNING last_change_seq",
            [conversation_id],
        )
        row = cursor.fetchone()
    return int(row[0])


def _message_for_change(*, conversation_id: int, message_id: int) -> Message:
    message = (
        Message.objects.select_for_update()
        .select_related("conversation")
        .filter(pk=message_id, conversation_id=conversation_id)
        .first()
    )
    if message is None:
        raise NotFound("No such message.", field="id")
    return message


def _publish_change(message: Message) -> MessageUpdatedEvent | MessageDeletedEvent:
    event = message_change_event(message)
    handler = "message.deleted" if message.deleted_at else "message.updated"
    transaction.on_commit(
        partial(realtime.publish_to_conversation, message.conversation_id, handler, dict(event)),
        robust=True,
    )
    # The cached newest page holds the old text; an edit does not move last_seq, so the cache
    # cannot tell by itself.
    transaction.on_commit(
        partial(history_cache.history_cache_invalidate, message.conversation_id), robust=True
    )
    return event


def message_edit(
    *, editor: User, conversation_id: int, message_id: int, body: str
) -> MessageUpdatedEvent:
    """Only the sender edits, within PARLEY_EDIT_WINDOW of sending and never after a delete;
    each edit takes the conversation's next change_seq and is published after commit."""
    body = validate_body(body)
    with transaction.atomic():
        membership = (
            Membership.objects.filter(conversation_id=conversation_id, user_id=editor.pk)
            .only("joined_seq")
            .first()
        )
        if membership is None:
            raise NotFound("No such conversation.", field="conversation")
        message = _message_for_change(conversation_id=conversation_id, message_id=message_id)
        if message.seq <= membership.joined_seq:
            raise NotFound("No such message.", field="id")
        if message.sender_id != editor.pk:
            raise Forbidden("You can only edit your own messages.", field="id")
        if message.deleted_at is not None:
            raise Conflict("The message was deleted.", field="id")
        window = settings.PARLEY_EDIT_WINDOW
        if timezone.now() - message.created_at > timedelta(seconds=window):
            raise EditWindowClosed(
                f"Messages can be edited for {window} seconds after sending.", field="id"
            )
        message.body = body
        message.edited_at = timezone.now()
        message.change_seq = _next_change_seq(conversation_id)
        message.save(update_fields=["body", "edited_at", "change_seq"])
        event = _publish_change(message)
    return event  # type: ignore[return-value]


def can_moderate(*, user: User, membership: Membership | None) -> bool:
    """Staff moderate everywhere; a group's owner and admins moderate their group."""
    if user.is_staff:
        return True
    return (
        membership is not None
        and membership.conversation.kind == Conversation.Kind.GROUP
        and membership.role in (Membership.Role.OWNER, Membership.Role.ADMIN)
    )


def message_delete(
    *, actor: User, conversation_id: int, message_id: int, reason: str = "", via: str = "api"
) -> MessageDeletedEvent:
    """The sender, the group's owner/admins and staff delete: the row stays as a tombstone
    (seq kept, body erased) with the next change_seq, published after commit. Deleting another
    person's message is audited. Deleting a tombstone again changes nothing."""
    with transaction.atomic():
        membership = (
            Membership.objects.select_related("conversation")
            .filter(conversation_id=conversation_id, user_id=actor.pk)
            .first()
        )
        if membership is None and not actor.is_staff:
            raise NotFound("No such conversation.", field="conversation")
        message = _message_for_change(conversation_id=conversation_id, message_id=message_id)
        if membership is not None and not actor.is_staff and message.seq <= membership.joined_seq:
            raise NotFound("No such message.", field="id")
        own = message.sender_id is not None and message.sender_id == actor.pk
        if not own and not can_moderate(user=actor, membership=membership):
            raise Forbidden("You can only delete your own messages.", field="id")
        if message.system is not None and not actor.is_staff:
            raise Forbidden("System messages cannot be deleted.", field="id")
        if message.deleted_at is not None:
            return message_change_event(message)  # type: ignore[return-value]
        message.body = ""
        message.deleted_at = timezone.now()
        message.change_seq = _next_change_seq(conversation_id)
        message.save(update_fields=["body", "deleted_at", "change_seq"])
        if not own:
            audit_record(
                actor=actor,
                action="message_delete",
                target=f"message {message.pk} (#{message.seq} in conversation {conversation_id})",
                target_type="message",
                target_id=str(message.pk),
                reason=reason,
                via=via,
            )
        event = _publish_change(message)
    return event  # type: ignore[return-value]


def membership_update(*, user: User, conversation_id: int, muted: object) -> Membership:
    """Changes the caller's own settings in a conversation; a muted one sends them no push."""
    if not isinstance(muted, bool):
        raise BadRequest("muted must be true or false", field="muted")
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .filter(conversation_id=conversation_id, user_id=user.pk)
            .first()
        )
        if membership is None:
            raise NotFound("No such conversation.", field="conversation")
        if membership.muted != muted:
            membership.muted = muted
            membership.save(update_fields=["muted"])
    return membership
