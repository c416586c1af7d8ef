"""Shapes of what the server pushes to clients, built completely by services and selectors.

The realtime tier only forwards these; it never reads the database to complete them.
"""

from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict

from accounts.events import PublicUser, public_user
from accounts.models import User

from .models import Conversation, Message

# A user in any event: id, username, display_name, avatar_url (accounts.events.PublicUser).
UserRef = PublicUser


class MessageEvent(TypedDict):
    type: Literal["message"]
    conversation: int
    id: str  # 64-bit ids travel as strings: JavaScript numbers lose precision past 2**53.
    seq: int
    sender: UserRef | None  # None for system messages
    client_msg_id: str | None
    body: str | None  # None once deleted (a tombstone)
    created_at: str
    edited_at: str | None
    deleted: bool
    system: dict[str, Any] | None  # what a system message records (e.g. member_added)
    # Only on the viewer's own messages in history and sync (receipts.selectors.with_receipts).
    status: NotRequired[Literal["sent", "delivered", "read"]]  # direct chats
    delivered_count: NotRequired[int]  # groups: other members it was delivered to / read by
    read_count: NotRequired[int]


class AckEvent(TypedDict):
    type: Literal["ack"]
    client_msg_id: str
    conversation: int
    id: str
    seq: int
    created_at: str
    duplicate: bool


class ConversationSummary(TypedDict):
    id: int
    kind: str
    title: str
    last_seq: int
    read_seq: int
    unread: int
    joined_seq: int  # history before it is not the viewer's
    last_change_seq: int  # the newest edit/delete; compare with the client's change cursor
    members: NotRequired[list[UserRef]]


class ConversationJoinedEvent(TypedDict):
    """Sent to a user's sockets when they become a member of a conversation."""

    type: Literal["conversation.joined"]
    conversation: ConversationSummary


class ConversationLeftEvent(TypedDict):
    """Sent to a user's sockets when they stop being a member (removed, or they left)."""

    type: Literal["conversation_left"]
    conversation: int
    reason: Literal["removed", "left"]


class MessageUpdatedEvent(TypedDict):
    type: Literal["message_updated"]
    conversation: int
    id: str
    seq: int
    body: str
    edited_at: str
    change_seq: int


class MessageDeletedEvent(TypedDict):
    type: Literal["message_deleted"]
    conversation: int
    id: str
    seq: int
    deleted_at: str
    change_seq: int


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a Z suffix."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def user_ref(user: User) -> UserRef:
    return public_user(
        id=user.pk,
        username=user.username,
        display_name=user.display_name,
        avatar_key=user.avatar_key,
    )


def message_event(message: Message, sender: User | None) -> MessageEvent:
    return {
        "type": "message",
        "conversation": message.conversation_id,
        "id": str(message.pk),
        "seq": message.seq,
        "sender": user_ref(sender) if sender is not None else None,
        "client_msg_id": message.client_msg_id,
        "body": None if message.deleted_at else message.body,
        "created_at": iso(message.created_at),
        "edited_at": iso(message.edited_at) if message.edited_at else None,
        "deleted": message.deleted_at is not None,
        "system": message.system,
    }


def message_change_event(message: Message) -> MessageUpdatedEvent | MessageDeletedEvent:
    """The current state of an edited or deleted message, as its change frame."""
    if message.deleted_at is not None:
        return {
            "type": "message_deleted",
            "conversation": message.conversation_id,
            "id": str(message.pk),
            "seq": message.seq,
            "deleted_at": iso(message.deleted_at),
            "change_seq": message.change_seq,
        }
    assert message.edited_at is not None  # noqa: S101 (only changed messages get here)
    return {
        "type": "message_updated",
        "conversation": message.conversation_id,
        "id": str(message.pk),
        "seq": message.seq,
        "body": message.body,
        "edited_at": iso(message.edited_at),
        "change_seq": message.change_seq,
    }


def ack_event(message: Message, *, duplicate: bool) -> AckEvent:
    return {
        "type": "ack",
        "client_msg_id": message.client_msg_id or "",
        "conversation": message.conversation_id,
        "id": str(message.pk),
        "seq": message.seq,
        "created_at": iso(message.created_at),
        "duplicate": duplicate,
    }


def conversation_title(
    conversation: Conversation, *, viewer_id: int, member_names: dict[int, str]
) -> str:
    """Groups show their name; a direct chat shows the other person's username."""
    if conversation.kind == Conversation.Kind.DIRECT:
        others = [name for uid, name in member_names.items() if uid != viewer_id]
        return others[0] if others else "(you)"
    if conversation.kind == Conversation.Kind.ANNOUNCEMENT:
        return conversation.name or "Announcements"
    return conversation.name
