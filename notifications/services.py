"""Writes of notification levels."""

from django.db import transaction

from accounts.models import User
from core.errors import BadRequest, NotFound
from messaging.models import Membership
from messaging.services import membership_update

from .models import ConversationNotify, Level, NotificationPrefs

UNSET = object()


def notify_set(*, user: User, conversation_id: int, notify: object) -> str:
    """Sets the caller's level in a conversation (`all`, `mentions` or `none`) and keeps the
    old `muted` flag equal to `notify == "none"`; returns the level."""
    if notify not in Level.values:
        raise BadRequest("notify must be all, mentions or none", field="notify")
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .filter(conversation_id=conversation_id, user_id=user.pk)
            .first()
        )
        if membership is None:
            raise NotFound("No such conversation.", field="conversation")
        ConversationNotify.objects.update_or_create(
            user=user, conversation_id=conversation_id, defaults={"level": notify}
        )
        muted = notify == Level.NONE
        if membership.muted != muted:
            membership.muted = muted
            membership.save(update_fields=["muted"])
    return str(notify)


def notify_mute(*, user: User, conversation_id: int, muted: object) -> None:
    """The old `muted` flag written by old clients: true is `notify = "none"`, false returns a
    muted conversation to its default level (a chosen `all` or `mentions` stays)."""
    if not isinstance(muted, bool):
        raise BadRequest("muted must be true or false", field="muted")
    if muted:
        notify_set(user=user, conversation_id=conversation_id, notify=Level.NONE)
        return
    with transaction.atomic():
        membership_update(user=user, conversation_id=conversation_id, muted=False)
        ConversationNotify.objects.filter(
            user=user, conversation_id=conversation_id, level=Level.NONE
        ).delete()


def prefs_update(
    *,
    user: User,
    do_not_disturb_until: object = UNSET,
    quiet_hours_start: object = UNSET,
    quiet_hours_end: object = UNSET,
    email_notifications: object = UNSET,
) -> NotificationPrefs:
    """Changes only the settings given; quiet hours are both set or both cleared."""
    with transaction.atomic():
        prefs, _ = NotificationPrefs.objects.select_for_update().get_or_create(user=user)
        if do_not_disturb_until is not UNSET:
            prefs.do_not_disturb_until = do_not_disturb_until  # type: ignore[assignment]
        if quiet_hours_start is not UNSET:
            prefs.quiet_hours_start = quiet_hours_start  # type: ignore[assignment]
        if quiet_hours_end is not UNSET:
            prefs.quiet_hours_end = quiet_hours_end  # type: ignore[assignment]
        if (prefs.quiet_hours_start is None) != (prefs.quiet_hours_end is None):
            raise BadRequest(
                "give both quiet_hours_start and quiet_hours_end, or clear both",
                field="quiet_hours_start",
            )
        if email_notifications is not UNSET:
            prefs.email_notifications = bool(email_notifications)
        prefs.save()
    return prefs
