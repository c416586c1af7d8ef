"""Reads of presence: who counts as a contact, and what a caller may see."""

from datetime import UTC, datetime
from typing import Any

from django.db import connection

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
    only those in `among`.

    Plain SQL: every handshake asks twice (presence, and `ready`'s user cards), and building
    the ORM's version of this union was a third of a handshake's CPU (docs/performance.md)."""
    if among is not None and not among:
        return []
    membership = Membership._meta.db_table
    conversation = Conversation._meta.db_table
    senders = DirectChatSender._meta.db_table
    params: list[Any] = [user_id, Conversation.Kind.GROUP, user_id]
    sized = ""
    if max_group_members is not None:
        sized = (
            f" AND (SELECT COUNT(*) FROM {membership} n"  # noqa: S608
            " WHERE n.conversation_id = mine.conversation_id) <= %s"
        )
        params.append(max_group_members)

    def only_among(alias: str) -> str:
        return (
            "" if among is None else f" AND {alias}.user_id IN ({', '.join(['%s'] * len(among))})"
        )

    params.extend(among or [])
    params.extend([user_id, user_id])
    params.extend(among or [])
    sql = (
        f"SELECT other.user_id FROM {membership} mine "  # noqa: S608
        f"JOIN {conversation} c ON c.id = mine.conversation_id "
        f"JOIN {membership} other ON other.conversation_id = mine.conversation_id "
        f"WHERE mine.user_id = %s AND c.kind = %s AND other.user_id <> %s{sized}"
        f"{only_among('other')} "
        f"UNION SELECT theirs.user_id FROM {senders} mine "
        f"JOIN {senders} theirs ON theirs.conversation_id = mine.conversation_id "
        f"WHERE mine.user_id = %s AND theirs.user_id <> %s{only_among('theirs')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted({int(row[0]) for row in cursor.fetchall()})


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
