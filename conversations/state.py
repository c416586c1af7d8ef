"""What changes on a message without changing the message (thread summaries, reactions, pins),
added to each answer as it is served: never stored in the shared history cache, so a page
served from the cache is as current as one read from the database."""

from typing import Any

from messaging.events import MessageEvent

from .events import ReactionSummary, thread_summary_data
from .models import Pin, Reaction, ThreadSummary

USERS_SHOWN = 10


def reaction_summaries(
    *, message_ids: list[int], viewer_id: int
) -> dict[int, list[ReactionSummary]]:
    """Per message: each emoji with its count, up to 10 users (earliest first) and whether the
    viewer is among them; emoji in the order they were first used."""
    summaries: dict[int, dict[str, ReactionSummary]] = {}
    rows = (
        Reaction.objects.filter(message_id__in=message_ids)
        .order_by("message_id", "created_at", "id")
        .values_list("message_id", "emoji", "user_id")
    )
    for message_id, emoji, user_id in rows:
        per_emoji = summaries.setdefault(message_id, {})
        summary = per_emoji.setdefault(
            emoji, {"emoji": emoji, "count": 0, "users": [], "me": False}
        )
        summary["count"] += 1
        if len(summary["users"]) < USERS_SHOWN:
            summary["users"].append(user_id)
        if user_id == viewer_id:
            summary["me"] = True
    return {mid: list(per_emoji.values()) for mid, per_emoji in summaries.items()}


def with_conversation_state(page: list[MessageEvent], *, viewer_id: int) -> list[MessageEvent]:
    """Copies of the page's messages with their `thread_summary` (roots with replies),
    `reactions` (as the viewer sees them: `me`) and `pinned`."""
    if not page:
        return page
    ids = [int(m["id"]) for m in page]
    threads = {s.root_id: s for s in ThreadSummary.objects.filter(root_id__in=ids)}
    reactions = reaction_summaries(message_ids=ids, viewer_id=viewer_id)
    pinned = set(Pin.objects.filter(message_id__in=ids).values_list("message_id", flat=True))
    if not threads and not reactions and not pinned:
        return page
    result: list[MessageEvent] = []
    for message in page:
        message_id = int(message["id"])
        extra: dict[str, Any] = {}
        if message_id in threads:
            extra["thread_summary"] = thread_summary_data(threads[message_id])
        if message_id in reactions:
            extra["reactions"] = reactions[message_id]
        if message_id in pinned:
            extra["pinned"] = True
        result.append({**message, **extra} if extra else message)  # type: ignore[typeddict-item]
    return result
