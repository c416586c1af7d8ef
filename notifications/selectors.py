"""Reads of notification levels: what a member gets pushed in a conversation."""

import re
import zoneinfo
from datetime import datetime

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from accounts.models import User
from messaging.models import Conversation, Membership

from .models import ConversationNotify, Level, NotificationPrefs


def default_level(*, kind: str, member_count: int) -> str:
    """`mentions` in groups over PARLEY_LARGE_GROUP members, `all` everywhere else."""
    if kind == Conversation.Kind.GROUP and member_count > settings.PARLEY_LARGE_GROUP:
        return Level.MENTIONS
    return Level.ALL


def notify_levels(*, conversation: Conversation, user_ids: list[int]) -> dict[int, str]:
    """Each member's level in the conversation: their choice, else the conversation's default;
    a member muted through the old `muted` field (and no choice) has `none`."""
    count = (
        Membership.objects.filter(conversation=conversation).aggregate(n=Count("id"))["n"]
        if conversation.kind == Conversation.Kind.GROUP
        else 0
    )
    fallback = default_level(kind=conversation.kind, member_count=count)
    chosen = dict(
        ConversationNotify.objects.filter(
            conversation=conversation, user_id__in=user_ids
        ).values_list("user_id", "level")
    )
    muted = set(
        Membership.objects.filter(
            conversation=conversation, user_id__in=user_ids, muted=True
        ).values_list("user_id", flat=True)
    )
    return {uid: chosen.get(uid, Level.NONE if uid in muted else fallback) for uid in user_ids}


def notify_level(*, conversation: Conversation, user_id: int) -> str:
    return notify_levels(conversation=conversation, user_ids=[user_id])[user_id]


def mentions(body: str | None, username: str) -> bool:
    """True when the text names the user as @username (any case, a whole name)."""
    if not body:
        return False
    pattern = rf"(?<![\w@])@{re.escape(username)}(?![\w-])"
    return re.search(pattern, body, flags=re.IGNORECASE) is not None


def wants_push(*, level: str, kind: str, bodies: list[str | None], username: str) -> bool:
    """Whether messages with these bodies are pushed to a member at this level: `all` always,
    `none` never, `mentions` in direct chats or when one of them mentions the member."""
    if level == Level.ALL:
        return True
    if level == Level.NONE:
        return False
    return kind == Conversation.Kind.DIRECT or any(mentions(b, username) for b in bodies)


def in_quiet_time(*, prefs: NotificationPrefs | None, tz_name: str, now: datetime) -> bool:
    """Do-not-disturb still running, or the user's local time inside their quiet hours (a range
    may wrap past midnight, e.g. 22:00 to 07:00)."""
    if prefs is None:
        return False
    if prefs.do_not_disturb_until is not None and prefs.do_not_disturb_until > now:
        return True
    start, end = prefs.quiet_hours_start, prefs.quiet_hours_end
    if start is None or end is None or start == end:
        return False
    try:
        local = now.astimezone(zoneinfo.ZoneInfo(tz_name)).time()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        local = now.time()
    return start <= local < end if start < end else (local >= start or local < end)


def quiet_user_ids(*, user_ids: list[int]) -> set[int]:
    """The users among these who are in do-not-disturb or quiet hours now (no push)."""
    now = timezone.now()
    rows = NotificationPrefs.objects.filter(user_id__in=user_ids).select_related("user")
    return {p.user_id for p in rows if in_quiet_time(prefs=p, tz_name=p.user.timezone, now=now)}


def prefs_of(*, user: User) -> NotificationPrefs:
    """The user's settings (defaults when never saved; not stored by reading)."""
    return NotificationPrefs.objects.filter(user=user).first() or NotificationPrefs(user=user)


def membership_state(*, user_id: int, conversation_id: int) -> dict:
    """The caller's settings in a conversation (NotFound for a stranger), with `notify`."""
    from messaging.selectors import membership_for

    membership = membership_for(user_id=user_id, conversation_id=conversation_id)
    return {
        "conversation": membership.conversation_id,
        "role": membership.role,
        "muted": membership.muted,
        "notify": notify_level(conversation=membership.conversation, user_id=user_id),
        "delivered_seq": membership.delivered_seq,
        "read_seq": membership.read_seq,
        "joined_seq": membership.joined_seq,
    }
