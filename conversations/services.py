"""Writes for conversation features. Each public service owns its transaction and publishes its
events after commit; the `*_record` helpers run inside the caller's transaction."""

from datetime import datetime

from django.db import transaction
from emoji import is_emoji

from accounts.models import User
from core.errors import BadRequest, Conflict, Forbidden
from messaging.events import user_ref
from messaging.models import Conversation, Membership, Message
from messaging.selectors import membership_for
from messaging.text import storable_text

from .changes import change_record
from .events import PinsEvent, ReactionEvent, ThreadUpdatedEvent, thread_summary_data
from .models import Mention, MessageEdit, Pin, Reaction, ThreadSummary
from .selectors import visible_message


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


def threads_record(*, messages: list[Message]) -> None:
    """Counts new replies into their roots' thread summaries, each change numbered in the
    change cursor and published as `thread_updated` after commit. Call inside the transaction
    that stores the replies (their conversations are already row-locked)."""
    by_root: dict[int, list[Message]] = {}
    for message in messages:
        if message.thread_id is not None:
            by_root.setdefault(message.thread_id, []).append(message)
    for root_id in sorted(by_root):
        replies = by_root[root_id]
        first = replies[0]
        summary = ThreadSummary.objects.select_for_update().filter(root_id=root_id).first()
        if summary is None:
            root_seq = Message.objects.filter(pk=root_id).values_list("seq", flat=True).first()
            if root_seq is None:
                continue  # a reply to an unknown id: no root message to carry a summary
            summary = ThreadSummary(
                root_id=root_id,
                conversation_id=first.conversation_id,
                root_seq=root_seq,
                replies=0,
                participants=[],
            )
        summary.replies += len(replies)
        summary.last_reply_at = max(m.created_at for m in replies)
        for message in replies:
            if message.sender_id is not None and message.sender_id not in summary.participants:
                summary.participants.append(message.sender_id)
        summary.save()
        _thread_changed(summary)


def _thread_changed(summary: ThreadSummary) -> None:
    event: ThreadUpdatedEvent = {
        "type": "thread_updated",
        "conversation": summary.conversation_id,
        "id": str(summary.root_id),
        "seq": summary.root_seq,
        "thread_summary": thread_summary_data(summary),
        "change_seq": 0,  # numbered by change_record
    }
    change_record(
        conversation_id=summary.conversation_id,
        key=f"thread:{summary.root_id}",
        message_seq=summary.root_seq,
        event=dict(event),
    )


def thread_reply_deleted(*, message: Message) -> None:
    """A deleted reply stops counting: its root's summary is recounted from the replies left
    (count, newest reply, participants in order of their first reply) and published as
    `thread_updated`. Call inside the delete's transaction."""
    summary = ThreadSummary.objects.select_for_update().filter(root_id=message.thread_id).first()
    if summary is None:
        return
    left = list(
        Message.objects.filter(
            conversation_id=message.conversation_id,
            thread_id=message.thread_id,
            deleted_at__isnull=True,
        )
        .order_by("seq")
        .values_list("sender_id", "created_at")
    )
    summary.replies = len(left)
    if left:
        summary.last_reply_at = max(created_at for _, created_at in left)
    summary.participants = list(dict.fromkeys(sender for sender, _ in left if sender is not None))
    summary.save()
    _thread_changed(summary)


MAX_EMOJI_PER_MESSAGE = 20
MAX_EMOJI_CHARS = 32


def validate_emoji(value: object) -> str:
    """One Unicode emoji sequence (as the `emoji` package's Unicode data knows them)."""
    if not isinstance(value, str) or not value or len(value) > MAX_EMOJI_CHARS:
        raise BadRequest("emoji must be one Unicode emoji", field="emoji")
    value = storable_text(value, field="emoji")
    if not is_emoji(value):
        raise BadRequest("emoji must be one Unicode emoji", field="emoji")
    return value


def reaction_set(
    *, user: User, conversation_id: int, message_id: int, emoji: object, on: object
) -> ReactionEvent:
    """A member's one reaction of each emoji on a message, added (on) or taken back;
    idempotent. Each change takes the conversation's next change_seq and is published as a
    `reaction` frame after commit; at most MAX_EMOJI_PER_MESSAGE distinct emoji a message."""
    emoji = validate_emoji(emoji)
    if not isinstance(on, bool):
        raise BadRequest("on must be true or false", field="on")
    with transaction.atomic():
        membership = membership_for(user_id=user.pk, conversation_id=conversation_id)
        message = visible_message(membership=membership, message_id=message_id)
        if message.deleted_at is not None:
            raise Conflict("The message was deleted.", field="message")
        # Row-locks the conversation: reactions to its messages are counted one at a time.
        Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        mine = Reaction.objects.filter(message_id=message.pk, emoji=emoji, user=user)
        changed = False
        if on and not mine.exists():
            distinct = set(
                Reaction.objects.filter(message_id=message.pk).values_list("emoji", flat=True)
            )
            if emoji not in distinct and len(distinct) >= MAX_EMOJI_PER_MESSAGE:
                raise BadRequest(
                    f"a message has at most {MAX_EMOJI_PER_MESSAGE} different emoji",
                    field="emoji",
                )
            Reaction.objects.create(
                message_id=message.pk, conversation_id=conversation_id, user=user, emoji=emoji
            )
            changed = True
        elif not on:
            changed = mine.delete()[0] > 0
        event: ReactionEvent = {
            "type": "reaction",
            "conversation": conversation_id,
            "message": str(message.pk),
            "seq": message.seq,
            "emoji": emoji,
            "user": user.pk,
            "on": on,
            "count": Reaction.objects.filter(message_id=message.pk, emoji=emoji).count(),
            "change_seq": None,
        }
        if changed:
            event = change_record(  # type: ignore[assignment]
                conversation_id=conversation_id,
                key=f"reaction:{message.pk}:{emoji}:{user.pk}",
                message_seq=message.seq,
                event=dict(event),
            )
    return event


MAX_PINS = 50
Role = Membership.Role


def pin_set(*, user: User, conversation_id: int, message_id: int, on: bool) -> PinsEvent:
    """Pins (on) or unpins a message of the conversation: any member of a direct chat, a
    group's owner and admins, staff in the announcement conversation. Idempotent; each change
    takes the conversation's next change_seq and is published as `pins` after commit."""
    with transaction.atomic():
        membership = membership_for(user_id=user.pk, conversation_id=conversation_id)
        kind = membership.conversation.kind
        if kind == Conversation.Kind.GROUP and membership.role not in (Role.OWNER, Role.ADMIN):
            raise Forbidden("Only the group's owner and admins pin messages.", field="message")
        if kind == Conversation.Kind.ANNOUNCEMENT and not user.is_staff:
            raise Forbidden("Only staff pin announcements.", field="message")
        message = visible_message(membership=membership, message_id=message_id)
        Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        pinned = Pin.objects.filter(conversation_id=conversation_id, message_id=message.pk)
        changed = False
        if on and not pinned.exists():
            if message.deleted_at is not None:
                raise Conflict("The message was deleted.", field="message")
            if Pin.objects.filter(conversation_id=conversation_id).count() >= MAX_PINS:
                raise BadRequest(f"a conversation has at most {MAX_PINS} pins", field="message")
            Pin.objects.create(
                conversation_id=conversation_id,
                message_id=message.pk,
                message_seq=message.seq,
                pinned_by=user,
            )
            changed = True
        elif not on:
            changed = pinned.delete()[0] > 0
        event: PinsEvent = {
            "type": "pins",
            "conversation": conversation_id,
            "message": str(message.pk),
            "seq": message.seq,
            "pinned": on,
            "by": user_ref(user),
            "change_seq": None,
        }
        if changed:
            event = change_record(  # type: ignore[assignment]
                conversation_id=conversation_id,
                key=f"pin:{message.pk}",
                message_seq=message.seq,
                event=dict(event),
            )
    return event


def message_edit_record(*, message: Message, edited_at: datetime) -> None:
    """Keeps the body an edit is about to replace. Call inside the edit's transaction."""
    MessageEdit.objects.create(
        message_id=message.pk,
        conversation_id=message.conversation_id,
        body=message.body,
        edited_at=edited_at,
    )


def message_forget(*, message: Message, actor: User) -> None:
    """A deleted message loses its earlier texts and its pin (members are told: `pins`).
    Call inside the delete's transaction."""
    MessageEdit.objects.filter(message_id=message.pk).delete()
    unpinned = Pin.objects.filter(
        conversation_id=message.conversation_id, message_id=message.pk
    ).delete()[0]
    if unpinned:
        event: PinsEvent = {
            "type": "pins",
            "conversation": message.conversation_id,
            "message": str(message.pk),
            "seq": message.seq,
            "pinned": False,
            "by": user_ref(actor),
            "change_seq": None,
        }
        change_record(
            conversation_id=message.conversation_id,
            key=f"pin:{message.pk}",
            message_seq=message.seq,
            event=dict(event),
        )
