"""Reads of presence: who counts as a contact, and what a caller may see."""

from datetime import UTC, datetime

from django.db.models import Count, OuterRef, Subquery

from messaging.events import iso
from messaging.models import Conversation, Membership

from .events import PresenceEvent
from .models import DirectChatSender
from .store import presence_store


def contact_ids(
    *, user_id: int, among: list[int] | None = None, max_group_members: int | None = None
) -> list[int]:
    """Users other than user_id who share presence with them, in one query: members of a group
    they are in (optionally only groups of at most `max_group_members`), and the other member
    of each direct chat both have sent a message in. Opening a direct chat, or writing into one
    the other never answered, shares nothing; nor does the announcement conversation. Optionally
    only those in `among`."""
    groups = Membership.objects.filter(user_id=user_id, conversation__kind=Conversation.Kind.GROUP)
    if max_group_members is not None:
        sizes = (
            Membership.objects.filter(conversation_id=OuterRef("conversation_id"))
            .order_by()
            .values("conversation_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        groups = groups.annotate(size=Subquery(sizes)).filter(size__lte=max_group_members)
    co_members = Membership.objects.filter(
        conversation_id__in=groups.values("conversation_id")
    ).exclude(user_id=user_id)
    # Direct chats only ever get DirectChatSender rows: the other sender of a chat I wrote in.
    repliers = DirectChatSender.objects.filter(
        conversation_id__in=DirectChatSender.objects.filter(user_id=user_id).values(
            "conversation_id"
        )
    ).exclude(user_id=user_id)
    if among is not None:
        co_members = co_members.filter(user_id__in=among)
        repliers = repliers.filter(user_id__in=among)
    both = (
        co_members.order_by()
        .values_list("user_id", flat=True)
        .union(repliers.order_by().values_list("user_id", flat=True))
    )
    return sorted(set(both))


def _when(epoch: float | None) -> str | None:
    return iso(datetime.fromtimestamp(epoch, tz=UTC)) if epoch is not None else None


def presence_event(*, user_id: int, online: bool, last_seen: float | None) -> PresenceEvent:
    return {
        "type": "presence",
        "user": user_id,
        "status": "online" if online else "offline",
        "last_seen": _when(last_seen),
    }


def presence_of(*, viewer_id: int, user_ids: list[int]) -> list[PresenceEvent]:
    """Presence of the requested users the viewer shares presence with (contact_ids) and of the
    viewer; others are left out, so a stranger's presence is never told, not even to someone
    who opened a direct chat with them."""
    wanted = list(dict.fromkeys(user_ids))
    visible = set(contact_ids(user_id=viewer_id, among=wanted))
    if viewer_id in wanted:
        visible.add(viewer_id)
    shown = [uid for uid in wanted if uid in visible]
    states = presence_store().states(shown)
    return [
        presence_event(user_id=uid, online=states[uid].online, last_seen=states[uid].last_seen)
        for uid in shown
    ]
