"""What changes on a message without changing the message (thread summaries, reactions, pins),
added to each answer as it is served: never stored in the shared history cache, so a page
served from the cache is as current as one read from the database.

It is read from ConversationChange, which holds the newest change of each thing (a thread's
summary, each user's reaction of each emoji, a pin) and is written in the same transaction as
the ThreadSummary, Reaction and Pin rows it mirrors: one indexed query for a whole page, and
none at all in a conversation that never had a change."""

from typing import Any

from messaging.events import MessageEvent

from .events import ReactionSummary
from .models import ConversationChange

USERS_SHOWN = 10


def message_states(
    *, conversation_id: int, first_seq: int, last_seq: int, viewer_id: int
) -> dict[int, dict[str, Any]]:
    """{message id: {"thread_summary"?, "reactions"?, "pinned"?}} for the messages with seq in
    [first_seq, last_seq]. Reactions: each emoji with its count, up to 10 users (earliest
    first) and whether the viewer is among them; emoji in the order first used."""
    rows = (
        ConversationChange.objects.filter(
            conversation_id=conversation_id,
            message_seq__gte=first_seq,
            message_seq__lte=last_seq,
        )
        .order_by("change_seq")
        .values_list("event", flat=True)
    )
    states: dict[int, dict[str, Any]] = {}
    reactions: dict[int, dict[str, ReactionSummary]] = {}
    for event in rows:
        kind = event["type"]
        if kind == "thread_updated":
            states.setdefault(int(event["id"]), {})["thread_summary"] = event["thread_summary"]
        elif kind == "pins" and event["pinned"]:
            states.setdefault(int(event["message"]), {})["pinned"] = True
        elif kind == "reaction" and event["on"]:
            per_emoji = reactions.setdefault(int(event["message"]), {})
            summary = per_emoji.setdefault(
                event["emoji"], {"emoji": event["emoji"], "count": 0, "users": [], "me": False}
            )
            summary["count"] += 1
            if len(summary["users"]) < USERS_SHOWN:
                summary["users"].append(event["user"])
            if event["user"] == viewer_id:
                summary["me"] = True
    for message_id, per_emoji in reactions.items():
        states.setdefault(message_id, {})["reactions"] = list(per_emoji.values())
    return states


def with_conversation_state(
    page: list[MessageEvent], *, viewer_id: int, any_changes: bool = True
) -> list[MessageEvent]:
    """Copies of the page's messages with their `thread_summary` (roots with replies),
    `reactions` (as the viewer sees them: `me`) and `pinned`. `any_changes`: False when the
    conversation never had a change (its last_change_seq is 0), which saves the query."""
    if not page or not any_changes:
        return page
    seqs = [m["seq"] for m in page]
    states = message_states(
        conversation_id=page[0]["conversation"],
        first_seq=min(seqs),
        last_seq=max(seqs),
        viewer_id=viewer_id,
    )
    if not states:
        return page
    return [
        {**m, **states[int(m["id"])]} if int(m["id"]) in states else m  # type: ignore[misc]
        for m in page
    ]
