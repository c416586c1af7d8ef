"""Shapes of what the server pushes to clients, built completely by services and selectors.

The realtime tier only forwards these; it never reads the database to complete them.
"""

from datetime import UTC, datetime
from typing import Literal, NotRequired, TypedDict

from accounts.models import User

from .models import Conversation, Message


class UserRef(TypedDict):
    id: int
    username: str


class MessageEvent(TypedDict):
    type: Literal["message"]
    conversation: int
    id: str  # 64-bit ids travel as strings: JavaScript numbers lose precision past 2**53.
    seq: int
    sender: UserRef | None  # None for system messages
    client_msg_id: str | None
    body: str
    created_at: str


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
    members: NotRequired[list[UserRef]]


class ConversationJoinedEvent(TypedDict):
    """Sent to a user's sockets when they become a member of a conversation."""

    type: Literal["conversation.joined"]
    conversation: ConversationSummary


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a Z suffix."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def user_ref(user: User) -> UserRef:
    return {"id": user.pk, "username": user.username}


def message_event(message: Message, sender: User | None) -> MessageEvent:
    return {
        "type": "message",
        "conversation": message.conversation_id,
        "id": str(message.pk),
        "seq": message.seq,
        "sender": user_ref(sender) if sender is not None else None,
        "client_msg_id": message.client_msg_id,
        "body": message.body,
        "created_at": iso(message.created_at),
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
