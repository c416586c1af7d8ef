"""Frames of conversation features, built completely in the services."""

from typing import Literal, TypedDict

from messaging.events import iso

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
