"""Email notifications: one mail summarising a user's unread direct messages and mentions,
once they are PARLEY_EMAIL_NOTIFY_DELAY old and the user is offline; at most one mail per
PARLEY_EMAIL_NOTIFY_INTERVAL per user; what was read meanwhile, or mailed before, is left out."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.models import User
from accounts.tasks import mail_send
from messaging.events import conversation_title
from messaging.models import Conversation, Membership, Message
from presence.store import presence_store

from .models import DigestCursor, Level, NotificationPrefs
from .selectors import in_quiet_time, mentions, notify_levels

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "parley.notifications.unsubscribe"
EXCERPT = 200


@dataclass
class Item:
    conversation_id: int
    title: str
    seq: int
    sender: str
    body: str


def unsubscribe_token(user_id: int) -> str:
    return signing.dumps({"u": user_id}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_user_id(token: str) -> int | None:
    """The user a one-click unsubscribe link was made for, or None if it is forged (it never
    expires: a mail may be read months later)."""
    try:
        return int(signing.loads(token, salt=UNSUBSCRIBE_SALT)["u"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def _pending_items(user: User, now) -> list[Item]:  # type: ignore[no-untyped-def]
    """Unread messages from others the user would be mailed about: in direct chats, and
    mentions in groups, older than the delay, past the read and mailed cursors, in
    conversations whose level is not `none`."""
    due = now - timedelta(seconds=settings.PARLEY_EMAIL_NOTIFY_DELAY)
    memberships = list(
        Membership.objects.filter(user=user)
        .exclude(conversation__kind=Conversation.Kind.ANNOUNCEMENT)
        .filter(conversation__last_seq__gt=Greatest(F("read_seq"), F("joined_seq")))
        .select_related("conversation")
    )
    if not memberships:
        return []
    mailed = dict(
        DigestCursor.objects.filter(
            user=user, conversation_id__in=[m.conversation_id for m in memberships]
        ).values_list("conversation_id", "mailed_seq")
    )
    items: list[Item] = []
    for m in memberships:
        conversation = m.conversation
        level = notify_levels(conversation=conversation, user_ids=[user.pk])[user.pk]
        if level == Level.NONE:
            continue
        floor = max(m.read_seq, m.joined_seq, mailed.get(conversation.pk, 0))
        messages = Message.objects.filter(
            conversation_id=conversation.pk,
            seq__gt=floor,
            created_at__lte=due,
            deleted_at__isnull=True,
            sender__isnull=False,
        ).exclude(sender=user)
        direct = conversation.kind == Conversation.Kind.DIRECT
        if not direct:
            messages = messages.filter(body__icontains=f"@{user.username}")
        names: dict[int, str] = {}
        if direct:
            names = dict(
                Membership.objects.filter(conversation=conversation).values_list(
                    "user_id", "user__username"
                )
            )
        title = conversation_title(conversation, viewer_id=user.pk, member_names=names)
        for seq, sender, body in messages.order_by("seq").values_list(
            "seq", "sender__username", "body"
        )[:50]:
            if direct or mentions(body, user.username):
                items.append(Item(conversation.pk, title, seq, sender, body))
    return items


def _compose(user: User, items: list[Item]) -> tuple[str, str, dict[str, str]]:
    base = settings.PARLEY_PUBLIC_URL
    count = len(items)
    subject = f"{count} unread message{'s' if count != 1 else ''} on Parley"
    lines = [f"Hello {user.username},", "", "you have unread messages on Parley:", ""]
    by_conversation: dict[int, list[Item]] = {}
    for item in items:
        by_conversation.setdefault(item.conversation_id, []).append(item)
    for conversation_id, group in by_conversation.items():
        lines.append(f"In {group[0].title}:")
        for item in group:
            text = " ".join(item.body.split())
            if len(text) > EXCERPT:
                text = text[:EXCERPT] + "…"
            lines.append(f"  {item.sender}: {text}")
        lines.append(f"  Open it: {base}/?conversation={conversation_id}")
        lines.append("")
    unsubscribe = f"{base}/notifications/unsubscribe/?token={unsubscribe_token(user.pk)}"
    lines += [
        "You get this mail because these messages waited unread while you were away.",
        f"Stop these mails: {unsubscribe}",
    ]
    headers = {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    return subject, "\n".join(lines) + "\n", headers


def digest_send(*, user_id: int) -> bool:
    """Mails the user their pending direct messages and mentions if they are due: address
    confirmed, email notifications on, offline, not in do-not-disturb or quiet hours, and the
    last mail at least the interval ago. Advances the mailed cursors in the same transaction,
    so a redone run mails nothing twice; returns whether a mail was queued."""
    now = timezone.now()
    with transaction.atomic():
        user = User.objects.filter(pk=user_id, is_active=True).first()
        if user is None or not user.email or not user.email_verified:
            return False
        prefs, _ = NotificationPrefs.objects.select_for_update().get_or_create(user=user)
        if not prefs.email_notifications:
            return False
        interval = timedelta(seconds=settings.PARLEY_EMAIL_NOTIFY_INTERVAL)
        if prefs.last_digest_at is not None and prefs.last_digest_at > now - interval:
            return False
        if in_quiet_time(prefs=prefs, tz_name=user.timezone, now=now):
            return False
        if presence_store().states([user.pk])[user.pk].online:
            return False
        items = _pending_items(user, now)
        if not items:
            return False
        for conversation_id in {i.conversation_id for i in items}:
            newest = max(i.seq for i in items if i.conversation_id == conversation_id)
            DigestCursor.objects.update_or_create(
                user=user, conversation_id=conversation_id, defaults={"mailed_seq": newest}
            )
        prefs.last_digest_at = now
        prefs.save(update_fields=["last_digest_at"])
        subject, body, headers = _compose(user, items)
        to = user.email
        transaction.on_commit(lambda: mail_send.delay(to, subject, body, headers), robust=True)
    return True


def digest_candidates() -> list[int]:
    """Users who may be due a mail: a confirmed address, mails not turned off."""
    return list(
        User.objects.filter(is_active=True, email_verified=True)
        .exclude(email="")
        .exclude(notification_prefs__email_notifications=False)
        .values_list("pk", flat=True)
    )


def email_notifications_off(*, user_id: int) -> None:
    """One-click unsubscribe: no more email notifications for the user."""
    NotificationPrefs.objects.update_or_create(
        user_id=user_id, defaults={"email_notifications": False}
    )
