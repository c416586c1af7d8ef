"""Typed events: one dataclass per server frame type of docs/protocol.md, plus `RawEvent` for
frame types this SDK does not know (the protocol may add some; clients must not break).

Every event keeps the frame it came from in `raw`, so fields added to the protocol later are
reachable before the SDK names them. Ids of messages are strings (64-bit), as on the wire.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class User:
    id: int
    username: str
    display_name: str | None = None
    avatar_url: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "User | None":
        if not data:
            return None
        return cls(
            data["id"], data.get("username", ""), data.get("display_name"), data.get("avatar_url")
        )


@dataclass(slots=True)
class ConversationSummary:
    id: int
    kind: str
    title: str
    last_seq: int
    read_seq: int = 0
    unread: int = 0
    joined_seq: int = 0
    last_change_seq: int = 0
    unread_mentions: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ConversationSummary":
        return cls(
            d["id"],
            d.get("kind", ""),
            d.get("title", ""),
            d.get("last_seq", 0),
            d.get("read_seq", 0),
            d.get("unread", 0),
            d.get("joined_seq", 0),
            d.get("last_change_seq", 0),
            d.get("unread_mentions", 0),
            d,
        )


@dataclass(slots=True)
class Event:
    """Base of every event."""

    raw: dict[str, Any] = field(repr=False)

    @property
    def type(self) -> str:
        return str(self.raw.get("type", ""))


@dataclass(slots=True)
class Ready(Event):
    """The first frame of each connection (after every reconnect too)."""

    user: User
    conversations: list[ConversationSummary]
    heartbeat_interval: float


@dataclass(slots=True)
class Message(Event):
    """A stored message, delivered once per (conversation, seq) whether it came live or from a
    `sync`. `sender` is None for system messages; `body` is None for a deleted message."""

    conversation: int
    id: str
    seq: int
    sender: User | None
    body: str | None
    client_msg_id: str | None
    created_at: str | None
    edited_at: str | None = None
    deleted: bool = False
    system: dict[str, Any] | None = None
    html: str | None = None
    reply_to: dict[str, Any] | None = None
    thread: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[int] = field(default_factory=list)

    @classmethod
    def from_dict(cls, f: dict[str, Any]) -> "Message":
        sender = f.get("sender")
        return cls(
            f,
            f["conversation"],
            f["id"],
            f["seq"],
            User.from_dict(sender) if sender else None,
            f.get("body"),
            f.get("client_msg_id"),
            f.get("created_at"),
            f.get("edited_at"),
            f.get("deleted", False),
            f.get("system"),
            f.get("html"),
            f.get("reply_to"),
            f.get("thread"),
            f.get("attachments") or [],
            f.get("mentions") or [],
        )


@dataclass(slots=True)
class MessageUpdated(Event):
    conversation: int
    id: str
    seq: int
    body: str
    edited_at: str | None
    change_seq: int | None
    html: str | None = None


@dataclass(slots=True)
class MessageDeleted(Event):
    conversation: int
    id: str
    seq: int
    deleted_at: str | None
    change_seq: int | None


@dataclass(slots=True)
class Receipt(Event):
    conversation: int
    user: int
    delivered_seq: int
    read_seq: int


@dataclass(slots=True)
class Typing(Event):
    conversation: int
    user: int


@dataclass(slots=True)
class Presence(Event):
    user: int
    status: str
    last_seen: str | None


@dataclass(slots=True)
class Reaction(Event):
    conversation: int
    message: str
    seq: int | None
    emoji: str
    user: int
    on: bool
    count: int
    change_seq: int | None


@dataclass(slots=True)
class Pins(Event):
    conversation: int
    message: str
    seq: int | None
    pinned: bool
    by: User | None
    change_seq: int | None


@dataclass(slots=True)
class ThreadUpdated(Event):
    conversation: int
    id: str
    seq: int | None
    thread_summary: dict[str, Any]
    change_seq: int | None


@dataclass(slots=True)
class Preview(Event):
    conversation: int
    id: str
    seq: int | None
    previews: list[dict[str, Any]]


@dataclass(slots=True)
class ConversationAdded(Event):
    """The `conversation` frame: you were added to (or opened) a conversation."""

    conversation: ConversationSummary


@dataclass(slots=True)
class ConversationLeft(Event):
    """You are no longer a member (`reason`: removed, left; `gone` when a reconnect's `ready`
    no longer lists it)."""

    conversation: int
    reason: str


@dataclass(slots=True)
class UserUpdated(Event):
    user: dict[str, Any]


@dataclass(slots=True)
class Ephemeral(Event):
    conversation: int
    command: str | None
    text: str
    ref: str | None


@dataclass(slots=True)
class CommandDone(Event):
    conversation: int
    ref: str | None


@dataclass(slots=True)
class WebhookDisabled(Event):
    webhook: int
    url: str
    reason: str


@dataclass(slots=True)
class Error(Event):
    """An `error` frame not answered by a failed `send()` (those raise `ParleyError`)."""

    code: str
    detail: str
    ref: str | None
    field: str | None
    request_id: str | None
    retry_after: float | None


@dataclass(slots=True)
class Disconnected(Event):
    """The socket closed. `reconnect_in` is the delay before the next try, None when the client
    stopped for good (4401 without `refresh=`, 4403, or `close()`)."""

    code: int | None
    reconnect_in: float | None


@dataclass(slots=True)
class RawEvent(Event):
    """A frame type this SDK does not name (see `raw`)."""


@dataclass(slots=True)
class Ack:
    """The server's answer to `send()`: the message is stored (committed). `duplicate` is True
    when this `client_msg_id` was stored before (a resend); the fields are the original's."""

    client_msg_id: str
    conversation: int
    id: str
    seq: int
    created_at: str | None
    duplicate: bool
    received_at: float  # time.time() when the ack arrived
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_dict(cls, f: dict[str, Any], received_at: float) -> "Ack":
        return cls(
            f["client_msg_id"],
            f["conversation"],
            f["id"],
            f["seq"],
            f.get("created_at"),
            bool(f.get("duplicate")),
            received_at,
            f,
        )


def _get(f: dict[str, Any], *names: str) -> list[Any]:
    return [f.get(name) for name in names]


def parse_event(f: dict[str, Any]) -> Event:
    """The typed event of a server frame (RawEvent for an unknown type)."""
    kind = f.get("type")
    if kind == "message":
        return Message.from_dict(f)
    if kind == "receipt":
        return Receipt(f, *_get(f, "conversation", "user", "delivered_seq", "read_seq"))
    if kind == "typing":
        return Typing(f, *_get(f, "conversation", "user"))
    if kind == "presence":
        return Presence(f, *_get(f, "user", "status", "last_seen"))
    if kind == "message_updated":
        return MessageUpdated(
            f, *_get(f, "conversation", "id", "seq", "body", "edited_at", "change_seq", "html")
        )
    if kind == "message_deleted":
        return MessageDeleted(f, *_get(f, "conversation", "id", "seq", "deleted_at", "change_seq"))
    if kind == "reaction":
        return Reaction(
            f,
            *_get(f, "conversation", "message", "seq", "emoji", "user"),
            f.get("on", True),
            f.get("count", 0),
            f.get("change_seq"),
        )
    if kind == "pins":
        return Pins(
            f,
            *_get(f, "conversation", "message", "seq", "pinned"),
            User.from_dict(f.get("by")),
            f.get("change_seq"),
        )
    if kind == "thread_updated":
        return ThreadUpdated(
            f, *_get(f, "conversation", "id", "seq", "thread_summary", "change_seq")
        )
    if kind == "preview":
        return Preview(f, *_get(f, "conversation", "id", "seq"), f.get("previews") or [])
    if kind == "conversation":
        return ConversationAdded(f, ConversationSummary.from_dict(f["conversation"]))
    if kind == "conversation_left":
        return ConversationLeft(f, f["conversation"], f.get("reason", ""))
    if kind == "user_updated":
        return UserUpdated(f, f.get("user") or {})
    if kind == "ephemeral":
        return Ephemeral(f, *_get(f, "conversation", "command"), f.get("text", ""), f.get("ref"))
    if kind == "command_done":
        return CommandDone(f, *_get(f, "conversation", "ref"))
    if kind == "webhook_disabled":
        return WebhookDisabled(f, f.get("webhook", 0), f.get("url", ""), f.get("reason", ""))
    if kind == "error":
        return Error(
            f,
            f.get("code", ""),
            f.get("detail", ""),
            *_get(f, "ref", "field", "request_id", "retry_after"),
        )
    if kind == "ready":
        return Ready(
            f,
            User.from_dict(f.get("user")) or User(0, ""),
            [ConversationSummary.from_dict(c) for c in f.get("conversations", [])],
            float(f.get("heartbeat_interval", 25)),
        )
    return RawEvent(f)
