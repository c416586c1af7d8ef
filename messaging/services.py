"""Writes to conversations and messages. Each service owns its transaction and publishes
realtime events only after commit."""

import re
from functools import partial

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from chatsite import metrics
from push.services import push_message_sent

from . import dedup, history_cache, realtime
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .events import AckEvent, ConversationJoinedEvent, ack_event, message_event
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
            seq = _next_seq(conversation_id)
            message_id = next_message_id()
            # The key row enforces uniqueness across monthly partitions (MessageKey).
            MessageKey.objects.create(
                message_id=message_id,
                conversation_id=conversation_id,
                seq=seq,
                sender_id=sender.pk,
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
            )
            event = message_event(message, sender)
            transaction.on_commit(
                partial(
                    realtime.publish_to_conversation, conversation_id, "chat.message", dict(event)
                ),
                robust=True,
            )
            ack = ack_event(message, duplicate=False)
            transaction.on_commit(
                partial(dedup.ack_remember, sender_id=sender.pk, ack=ack), robust=True
            )
            transaction.on_commit(partial(history_cache.message_added, event), robust=True)
            transaction.on_commit(
                partial(
                    push_message_sent,
                    conversation_id=conversation_id,
                    message_id=message_id,
                ),
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
