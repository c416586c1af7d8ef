"""Presence and typing: ephemeral state, never stored in the database.

Presence changes are announced once per change, after commit (there is no transaction here, so
at once), to the `user.<id>` groups of the user's contacts: people sharing a group, or a direct
chat both have sent a message in (presence.selectors.contact_ids). When two people become
contacts (a reply in a direct chat, joining a group) each is told the other's presence.
"""

import logging
from functools import partial

from django.conf import settings
from django.db import transaction

import realtime
from accounts.models import User
from chatsite import metrics
from core.errors import Forbidden
from messaging.models import Conversation, Membership
from messaging.selectors import membership_for

from .events import PresenceEvent, TypingEvent
from .models import DirectChatSender
from .selectors import contact_ids, presence_event
from .store import presence_store

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500


def presence_timeout() -> float:
    """Seconds a connection counts as alive after its last sign of life."""
    return settings.PARLEY_HEARTBEAT_INTERVAL * settings.PARLEY_HEARTBEAT_TIMEOUT_FACTOR


def _announce(*, user_id: int, online: bool) -> None:
    metrics.presence_changed(status="online" if online else "offline")
    state = presence_store().states([user_id])[user_id]
    event = presence_event(user_id=user_id, online=online, last_seen=state.last_seen)
    # Live presence goes through direct chats and groups up to a size: in a big group everyone
    # coming online at once would be members² frames. Larger groups' members can still ask
    # GET /api/presence/.
    contacts = contact_ids(
        user_id=user_id, max_group_members=settings.PARLEY_PRESENCE_PUSH_MAX_MEMBERS
    )
    transaction.on_commit(partial(_publish, contacts, event), robust=True)


def _publish(contacts: list[int], event: PresenceEvent) -> None:
    realtime.publish_to_users(contacts, event["type"], dict(event))


def _tell(audiences: dict[int, list[int]]) -> None:
    """Publishes each user's current presence to the users listed for them (after commit)."""
    audiences = {about: to for about, to in audiences.items() if to}
    if not audiences:
        return
    states = presence_store().states(sorted(audiences))
    for about, to in audiences.items():
        state = states[about]
        event = presence_event(user_id=about, online=state.online, last_seen=state.last_seen)
        _publish(to, event)


def presence_direct_senders_record(*, sends: list[tuple[int, int]]) -> None:
    """Records who has written in which direct chat, from the (conversation_id, sender_id) of
    the direct-chat messages being stored; call inside the send's transaction (which holds the
    conversations' locks). The second member's first message makes the two share presence:
    after commit each is told the other's. Costs one query when nobody new wrote."""
    wanted = set(sends)
    if not wanted:
        return
    known = set(
        DirectChatSender.objects.filter(
            conversation_id__in=sorted({conversation_id for conversation_id, _ in wanted})
        ).values_list("conversation_id", "user_id")
    )
    new = wanted - known
    if not new:
        return
    DirectChatSender.objects.bulk_create(
        [DirectChatSender(conversation_id=c, user_id=u) for c, u in sorted(new)],
        ignore_conflicts=True,
    )
    senders: dict[int, set[int]] = {}
    for conversation_id, user_id in known | new:
        senders.setdefault(conversation_id, set()).add(user_id)
    audiences: dict[int, list[int]] = {}
    for conversation_id in sorted({conversation_id for conversation_id, _ in new}):
        pair = sorted(senders[conversation_id])
        if len(pair) == 2:
            first, second = pair
            audiences.setdefault(first, []).append(second)
            audiences.setdefault(second, []).append(first)
    if audiences:
        transaction.on_commit(partial(_tell, audiences), robust=True)


def presence_group_joined(*, group_id: int, user_ids: list[int]) -> None:
    """New members of a group and its other members share presence from now on: after commit,
    in groups small enough for live presence (PARLEY_PRESENCE_PUSH_MAX_MEMBERS), each new
    member is told everyone's presence and everyone the new members'. Call inside the
    transaction that added them."""
    limit = settings.PARLEY_PRESENCE_PUSH_MAX_MEMBERS
    # One more than the limit is enough to know a big group gets no live presence.
    members = list(
        Membership.objects.filter(conversation_id=group_id)
        .order_by()
        .values_list("user_id", flat=True)[: limit + 1]
    )
    if len(members) > limit:
        return
    joined = set(user_ids)
    audiences = {
        member: [
            other for other in members if other != member and (member in joined or other in joined)
        ]
        for member in members
    }
    transaction.on_commit(partial(_tell, audiences), robust=True)


def presence_connect(*, user_id: int, connection_id: str) -> None:
    """Marks the connection alive until the heartbeat deadline; the user's first live
    connection announces them online to their contacts."""
    if presence_store().alive(user_id=user_id, entry=connection_id, ttl=presence_timeout()):
        _announce(user_id=user_id, online=True)


def presence_heartbeat(*, user_id: int, connection_id: str) -> bool:
    """Extends a connection's existing presence entry by one timeout (never creates one, so a
    refresh racing a disconnect cannot resurrect it) and, at most once per half interval across
    all processes, announces offline the users whose connections lapsed. False when the entry
    was gone (the caller reconnects it with presence_connect if the socket is still open)."""
    refreshed = presence_store().alive(
        user_id=user_id, entry=connection_id, ttl=presence_timeout(), create=False
    )
    if refreshed:
        _announce(user_id=user_id, online=True)
    if presence_store().throttle("presence-sweep", settings.PARLEY_HEARTBEAT_INTERVAL / 2):
        presence_sweep()
    return refreshed is not None


def presence_disconnect(*, user_id: int, connection_id: str) -> None:
    """Drops the connection; the user's last one announces them offline to their contacts."""
    if presence_store().leave(user_id=user_id, entry=connection_id):
        _announce(user_id=user_id, online=False)


def presence_sweep() -> list[int]:
    """Announces offline, once, every user whose last connection lapsed without a goodbye
    (its server process died or stalled)."""
    gone = presence_store().sweep(limit=SWEEP_BATCH)
    for user_id in gone:
        _announce(user_id=user_id, online=False)
    return gone


def typing_relay(*, user: User, conversation_id: int) -> bool:
    """Relays a typing notice to the conversation's other members, at most once per user and
    conversation every PARLEY_TYPING_THROTTLE seconds; nothing is stored. True if relayed."""
    membership = membership_for(user_id=user.pk, conversation_id=conversation_id)
    if membership.conversation.kind == Conversation.Kind.ANNOUNCEMENT and not user.is_staff:
        raise Forbidden("Only staff can post announcements.", field="conversation")
    key = f"typing:{conversation_id}:{user.pk}"
    if not presence_store().throttle(key, settings.PARLEY_TYPING_THROTTLE):
        return False
    event: TypingEvent = {"type": "typing", "conversation": conversation_id, "user": user.pk}
    transaction.on_commit(
        partial(realtime.publish_to_conversation, conversation_id, event["type"], dict(event)),
        robust=True,
    )
    return True
