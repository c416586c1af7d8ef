"""Frames of conversation features, built completely in the services."""

from typing import Literal, TypedDict

from messaging.events import MessageEvent, UserRef, iso

from .models import ThreadSummary


class ThreadSummaryData(TypedDict):
    replies: int
    last_reply_at: str
    participants: list[int]


class ThreadUpdatedEvent(TypedDict):
    """A root message's thread summary changed (a reply was stored)."""

    type: Literal["thread_updated"]
    conversation: int
    id: str  # the root message
    seq: int  # the root's seq
    thread_summary: ThreadSummaryData
    change_seq: int


def thread_summary_data(summary: ThreadSummary) -> ThreadSummaryData:
    return {
        "replies": summary.replies,
        "last_reply_at": iso(summary.last_reply_at),
        "participants": list(summary.participants),
    }


class ReactionEvent(TypedDict):
    """A user's reaction was added (on) or taken back; `count` is the emoji's new total."""

    type: Literal["reaction"]
    conversation: int
    message: str
    seq: int  # the message's seq
    emoji: str
    user: int
    on: bool
    count: int
    change_seq: int | None  # None when nothing changed (reacting twice)


class ReactionSummary(TypedDict):
    emoji: str
    count: int
    users: list[int]  # up to 10, earliest first
    me: bool


class PinsEvent(TypedDict):
    """A message was pinned or unpinned in the conversation."""

    type: Literal["pins"]
    conversation: int
    message: str
    seq: int  # the message's seq
    pinned: bool
    by: UserRef
    change_seq: int | None  # None when nothing changed


class PinEntry(TypedDict):
    message: MessageEvent
    pinned_by: UserRef | None
    pinned_at: str


class EditEntry(TypedDict):
    body: str  # the text before this edit
    edited_at: str  # when the edit replaced it
