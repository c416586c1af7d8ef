"""The newest page of each conversation's history, cached (Redis, or local memory on the
embedded default).

An entry holds the newest PARLEY_HISTORY_CACHE_SIZE + 1 messages of a conversation (everyone's
view; each reader's join floor is applied when serving) and the seq of its newest message. It is
served only while that seq equals the conversation's last_seq, so a send makes every older
entry stale by itself; the send service also appends the new message to a warm entry after
commit so the cache stays warm in a busy conversation.

Edits and deletions do not change last_seq: whatever changes a stored message must call
`history_cache_invalidate(conversation_id)` after commit. Each conversation has a generation
token; invalidating replaces it, and a reader only stores a page under the token it saw before
reading the database, so a page read during an edit is never served after it.
"""

import uuid
from typing import TypedDict

from django.conf import settings
from django.core.cache import cache

from .events import MessageEvent


class _Entry(TypedDict):
    generation: str
    top_seq: int
    complete: bool  # the entry holds the conversation's whole history
    messages: list[MessageEvent]


def _entry_key(conversation_id: int) -> str:
    return f"history:{conversation_id}"


def _generation_key(conversation_id: int) -> str:
    return f"history-gen:{conversation_id}"


def _timeout() -> int:
    return settings.PARLEY_HISTORY_CACHE_SECONDS


def generation(conversation_id: int) -> str:
    key = _generation_key(conversation_id)
    current = cache.get(key)
    if current is None:
        cache.add(key, uuid.uuid4().hex, timeout=None)
        current = cache.get(key)
    return current


def history_cache_invalidate(conversation_id: int) -> None:
    """Drops the cached page of a conversation. Call after commit of anything that changes a
    stored message (edit, delete, redaction)."""
    cache.set(_generation_key(conversation_id), uuid.uuid4().hex, timeout=None)
    cache.delete(_entry_key(conversation_id))


def answer(
    messages: list[MessageEvent], *, complete: bool, floor_seq: int, limit: int
) -> tuple[list[MessageEvent], bool] | None:
    """(page, has_more) for a reader with that join floor from the newest `messages`, when they
    are enough to tell."""
    visible = [m for m in messages if m["seq"] > floor_seq]
    if len(visible) > limit:
        return visible[-limit:], True
    if complete or len(visible) < len(messages):
        # Nothing visible is older than these: the reader's floor cut them, or it is all.
        return visible, False
    return None


def newest_page(
    *, conversation_id: int, last_seq: int, floor_seq: int, limit: int
) -> tuple[list[MessageEvent], bool] | None:
    """(page, has_more) from the cache when it can answer exactly, else None."""
    if limit > settings.PARLEY_HISTORY_CACHE_SIZE:
        return None
    entry: _Entry | None = cache.get(_entry_key(conversation_id))
    if (
        entry is None
        or entry["top_seq"] != last_seq
        or entry["generation"] != cache.get(_generation_key(conversation_id))
    ):
        return None
    return answer(entry["messages"], complete=entry["complete"], floor_seq=floor_seq, limit=limit)


def _kept() -> int:
    # One more than the largest page served, so a full page can still tell has_more.
    return settings.PARLEY_HISTORY_CACHE_SIZE + 1


def page_store(
    *, conversation_id: int, generation_seen: str, messages: list[MessageEvent], complete: bool
) -> None:
    """Stores the newest messages read from the database under the generation seen before
    the read."""
    entry: _Entry = {
        "generation": generation_seen,
        "top_seq": messages[-1]["seq"] if messages else 0,
        "complete": complete and len(messages) <= _kept(),
        "messages": messages[-_kept() :],
    }
    cache.set(_entry_key(conversation_id), entry, timeout=_timeout())


def messages_added(events: list[MessageEvent]) -> None:
    """Appends just-committed messages (in seq order per conversation) to the warm entries that
    end right before them: one read and at most one write to the cache for the lot."""
    by_conversation: dict[int, list[MessageEvent]] = {}
    for event in events:
        by_conversation.setdefault(event["conversation"], []).append(event)
    keys = {_entry_key(conversation_id): conversation_id for conversation_id in by_conversation}
    updated: dict[str, _Entry] = {}
    for key, entry in cache.get_many(list(keys)).items():
        added = by_conversation[keys[key]]
        if entry["top_seq"] != added[0]["seq"] - 1:
            continue
        messages = [*entry["messages"], *added]
        updated[key] = {
            "generation": entry["generation"],
            "top_seq": added[-1]["seq"],
            "complete": entry["complete"] and len(messages) <= _kept(),
            "messages": messages[-_kept() :],
        }
    if updated:
        cache.set_many(updated, timeout=_timeout())
