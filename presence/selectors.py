"""Reads of presence: who counts as a contact, and what a caller may see."""

from datetime import UTC, datetime

from django.db.models import Count, OuterRef, Q, Subquery

from messaging.events import iso
from messaging.models import Conversation, Membership

from .events import PresenceEvent
from .store import presence_store

# Presence is shared through direct chats and groups; the announcement conversation holds
# everyone, so it does not make people contacts.
SHARING_KINDS = (Conversation.Kind.DIRECT, Conversation.Kind.GROUP)


def contact_ids(
    *, user_id: int, among: list[int] | None = None, max_group_members: int | None = None
) -> list[int]:
    """Users other than user_id who share a direct chat or a group with them (optionally only
    those in `among`; optionally only through groups of at most `max_group_members`)."""
    memberships = Membership.objects.filter(user_id=user_id, conversation__kind__in=SHARING_KINDS)
    if max_group_members is not None:
        sizes = (
            Membership.objects.filter(conversation_id=OuterRef("conversation_id"))
            .order_by()
            .values("conversation_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        memberships = memberships.annotate(size=Subquery(sizes)).filter(
            Q(conversation__kind=Conversation.Kind.DIRECT) | Q(size__lte=max_group_members)
        )
    shared = memberships.values("conversation_id")
    contacts = Membership.objects.filter(conversation_id__in=shared).exclude(user_id=user_id)
    if among is not None:
        contacts = contacts.filter(Q(user_id__in=among))
    return sorted(set(contacts.values_list("user_id", flat=True)))


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
    """Presence of the requested users the viewer shares a direct chat or group with (and of
    the viewer); others are left out, so a stranger's presence is never told."""
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
