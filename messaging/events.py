"""Shapes of what the server pushes to clients, built completely by services and selectors.

The realtime tier only forwards these; it never reads the database to complete them.
"""

from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict

from accounts.events import PublicUser, public_user
from accounts.models import User

from .models import Conversation, Message
from .text import plain_html

# A user in any event: id, username, display_name, avatar_url (accounts.events.PublicUser).
UserRef = PublicUser


class ReplyRef(TypedDict):
    """What a reply shows of its parent: the parent's current text, cut to 100 characters."""

    id: str
    seq: int | None
    sender: UserRef | None
    excerpt: str  # "" once the parent is deleted


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
    # Files (uploads.events.AttachmentRef); set by the send service and the history selectors.
    attachments: NotRequired[list[dict[str, Any]]]
    # Link previews (previews.events.PreviewRef); filled in later by a `preview` frame.
    previews: NotRequired[list[dict[str, Any]]]
    html: NotRequired[str | None]  # the body rendered and sanitized; None once deleted
    mentions: NotRequired[list[int]]  # user ids named with @username
    mentions_all: NotRequired[bool]  # @all / @everyone by an owner or admin of the group
    reply_to: NotRequired[ReplyRef | None]  # the message this one answers
    thread: NotRequired[str | None]  # id of the root of its reply chain
    # Added per answer (conversations.selectors.with_conversation_state), never cached:
    thread_summary: NotRequired[dict[str, Any]]  # roots only: {replies, last_reply_at, ...}
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
    unread_mentions: int  # unread messages that mention the viewer (@username or @all)
    joined_seq: int  # history before it is not the viewer's
    last_change_seq: int  # the newest edit/delete; compare with the client's change cursor
    # The newest message the viewer may see (what a conversation list previews); None when
    # there is none yet.
    last_message: "MessageEvent | None"
    members: NotRequired[list[UserRef]]


class ConversationJoinedEvent(TypedDict):
    """Sent to a user's sockets when they become a member of a conversation."""

    type: Literal["conversation"]
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
    html: NotRequired[str]
    mentions: NotRequired[list[int]]
    mentions_all: NotRequired[bool]


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


EXCERPT_CHARS = 100


def reply_ref(reply_to_id: int, parent: Message | None) -> ReplyRef:
    if parent is None:
        return {"id": str(reply_to_id), "seq": None, "sender": None, "excerpt": ""}
    return {
        "id": str(parent.pk),
        "seq": parent.seq,
        "sender": user_ref(parent.sender) if parent.sender is not None else None,
        "excerpt": "" if parent.deleted_at else parent.body[:EXCERPT_CHARS],
    }


def message_event(
    message: Message, sender: User | None, *, parent: Message | None = None
) -> MessageEvent:
    """A message as clients see it. `parent`: the message it replies to (with its sender
    loaded), when it is a reply."""
    event = _message_fields(message, sender)
    if message.reply_to_id is not None:
        event["reply_to"] = reply_ref(message.reply_to_id, parent)
        event["thread"] = str(message.thread_id)
    return event


def _message_fields(message: Message, sender: User | None) -> MessageEvent:
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
        **rich_fields(message),  # type: ignore[typeddict-item]
    }


def rich_fields(message: Message) -> dict[str, Any]:
    """The rendered body and mentions of a message (conversations.markup)."""
    if message.deleted_at is not None:
        return {"html": None, "mentions": [], "mentions_all": False}
    return {
        "html": message.html or plain_html(message.body),
        "mentions": list(message.mentions or []),
        "mentions_all": bool(message.mentions_all),
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
        **rich_fields(message),  # type: ignore[typeddict-item]
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
