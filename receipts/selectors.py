"""What the sender of a message may know of its delivery: state in a direct chat, counts in a
group."""

from typing import Any

from django.db.models import Count, QuerySet

from messaging.events import MessageEvent
from messaging.models import Conversation, Membership

from .models import DepartedMember


def with_receipts(
    page: list[MessageEvent], *, viewer_id: int, conversation: Conversation
) -> list[MessageEvent]:
    """Adds to the viewer's own messages in `page` their receipt state among the other members:
    `status` (sent/delivered/read) in a direct chat, `delivered_count`/`read_count` elsewhere.
    Members who joined after a message do not count for it; members who left since still
    count for what they had received and read when they left (once per stay, so a member who
    rejoined is not counted twice)."""
    # Copies: the page may come from the shared history cache and must not carry one viewer's
    # receipt state into another's answer.
    page = [
        dict(m) if m["sender"] is not None and m["sender"]["id"] == viewer_id else m  # type: ignore[misc]
        for m in page
    ]
    own = [m for m in page if m["sender"] is not None and m["sender"]["id"] == viewer_id]
    if not own:
        return page
    first = min(m["seq"] for m in own)
    last = max(m["seq"] for m in own)
    others = Membership.objects.filter(conversation_id=conversation.pk).exclude(user_id=viewer_id)
    if conversation.kind == Conversation.Kind.DIRECT:
        cursors = others.values_list("delivered_seq", "read_seq").first() or (0, 0)
        for m in own:
            if cursors[1] >= m["seq"]:
                m["status"] = "read"
            elif cursors[0] >= m["seq"]:
                m["status"] = "delivered"
            else:
                m["status"] = "sent"
        return page
    # A histogram of the cursors that matter for this page, of current and departed members:
    # one row per distinct triple and table, so even a large group costs one small query.
    # Departed stays and the current one cover disjoint seq ranges (each counts only after its
    # joined_seq, and a rejoin starts after the leave), so nobody counts twice for a message.
    departed = DepartedMember.objects.filter(conversation_id=conversation.pk).exclude(
        user_id=viewer_id
    )
    rows = list(
        _histogram(others, first=first, last=last).union(
            _histogram(departed, first=first, last=last), all=True
        )
    )
    for m in own:
        seq = m["seq"]
        m["delivered_count"] = sum(n for d, _, j, n in rows if d >= seq and j < seq)
        m["read_count"] = sum(n for _, r, j, n in rows if r >= seq and j < seq)
    return page


def on_history_read(
    *, page: list[MessageEvent], viewer_id: int, conversation: Conversation, **kwargs: Any
) -> None:
    """messaging.signals.history_read: the viewer's receipt state on their own messages."""
    page[:] = with_receipts(page, viewer_id=viewer_id, conversation=conversation)


def _histogram(cursors: QuerySet[Any], *, first: int, last: int) -> QuerySet[Any]:
    return (
        cursors.filter(delivered_seq__gte=first, joined_seq__lt=last)
        .values_list("delivered_seq", "read_seq", "joined_seq")
        .annotate(n=Count("id"))
        .order_by()
    )
