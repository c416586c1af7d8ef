"""The announcement conversation: one per server, every active user a member, staff post.

It is created with the first broadcast, enrolling every active user then; users created or
reactivated later are enrolled by a post-save hook in their own transaction. Enrolment is
INSERT ... ON CONFLICT DO NOTHING, and the creator enrols again after its commit, so a user
registering while the conversation is being created is enrolled by one side or the other.
"""

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

import realtime
from accounts.models import User
from audit.models import AuditLogEntry
from audit.services import audit_record
from core.errors import Forbidden
from messaging.events import AckEvent, ConversationJoinedEvent, ConversationSummary
from messaging.models import Conversation, Membership
from messaging.services import message_send

ANNOUNCEMENT_TITLE = "Announcements"
ENROL_BATCH = 1000


def announcement_conversation_id() -> int | None:
    return (
        Conversation.objects.filter(kind=Conversation.Kind.ANNOUNCEMENT)
        .values_list("pk", flat=True)
        .first()
    )


def _enrol(conversation_id: int, user_ids: list[int]) -> None:
    for start in range(0, len(user_ids), ENROL_BATCH):
        Membership.objects.bulk_create(
            [
                Membership(conversation_id=conversation_id, user_id=uid)
                for uid in user_ids[start : start + ENROL_BATCH]
            ],
            ignore_conflicts=True,
        )


def _enrol_everyone(conversation_id: int) -> None:
    """Enrols active users who are not members yet, in one INSERT ... SELECT: the ORM's
    bulk_create spent most of a first broadcast to 5,000 users preparing their rows in Python
    (docs/performance.md)."""
    membership = Membership._meta.db_table
    user = User._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {membership} (conversation_id, user_id, role, delivered_seq, "  # noqa: S608
            "read_seq, joined_seq, joined_at, muted) "
            f"SELECT %s, u.id, %s, 0, 0, 0, %s, %s FROM {user} u WHERE u.is_active "
            f"AND NOT EXISTS (SELECT 1 FROM {membership} m "
            "WHERE m.conversation_id = %s AND m.user_id = u.id) "
            "ON CONFLICT DO NOTHING",
            [conversation_id, Membership.Role.MEMBER, timezone.now(), False, conversation_id],
        )


def _publish_joined(conversation: Conversation, user_ids: list[int]) -> None:
    """Tells connected users about the new conversation; one summary fits all (nobody has
    read anything yet)."""
    summary: ConversationSummary = {
        "id": conversation.pk,
        "kind": conversation.kind,
        "title": conversation.name or ANNOUNCEMENT_TITLE,
        "last_seq": 0,
        "read_seq": 0,
        "unread": 0,
        "unread_mentions": 0,
        "joined_seq": 0,
        "last_change_seq": 0,
    }
    event: ConversationJoinedEvent = {"type": "conversation", "conversation": summary}
    realtime.publish_to_users(user_ids, event["type"], dict(event))


def announcement_conversation_ensure() -> int:
    """The announcement conversation's id, created (with every active user enrolled, told
    live after commit) on first use. One exists at most (a partial unique constraint)."""
    existing = announcement_conversation_id()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                kind=Conversation.Kind.ANNOUNCEMENT, name=ANNOUNCEMENT_TITLE
            )
            _enrol_everyone(conversation.pk)
            user_ids = list(
                Membership.objects.filter(conversation=conversation).values_list(
                    "user_id", flat=True
                )
            )
            transaction.on_commit(lambda: _publish_joined(conversation, user_ids), robust=True)
    except IntegrityError:
        # Created concurrently by another broadcast.
        return announcement_conversation_id()  # type: ignore[return-value]
    # Users who registered while this transaction ran enrolled nobody (no conversation yet).
    transaction.on_commit(lambda: _enrol_everyone(conversation.pk), robust=True)
    return conversation.pk


def announcement_enroll_on_save(sender: type, instance: User, **kwargs: object) -> None:
    """Post-save hook: an active user belongs to the announcement conversation, if one exists."""
    if not instance.is_active or kwargs.get("raw"):
        return
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and "is_active" not in update_fields:
        return  # e.g. a login touching last_login: membership cannot have changed
    conversation_id = announcement_conversation_id()
    if conversation_id is not None:
        _enrol(conversation_id, [instance.pk])


def broadcast_post(
    *, actor: User, client_msg_id: str, body: str = "", attachments: object = None, via: str = "api"
) -> AckEvent:
    """Only staff post announcements; through the one send path, so they are stored with a
    seq, delivered live to every member and kept for sync, with files like any message.
    Audited (once per message)."""
    if not actor.is_staff:
        raise Forbidden("Only staff can post announcements.", field="conversation")
    conversation_id = announcement_conversation_ensure()
    with transaction.atomic():
        _enrol(conversation_id, [actor.pk])
        ack = message_send(
            sender=actor,
            conversation_id=conversation_id,
            client_msg_id=client_msg_id,
            body=body,
            attachments=attachments,
        )
        if not ack["duplicate"]:
            audit_record(
                actor=actor,
                action=AuditLogEntry.Action.BROADCAST_POST,
                target=f"announcement {ack['id']}: {body[:80]}",
                target_type="message",
                target_id=ack["id"],
                via=via,
            )
    return ack
