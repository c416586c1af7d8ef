"""Profiles: the writes (display name, status, timezone, avatar). Each owns its transaction and
tells the user's contacts and their own devices (`user_updated`) after commit; cached history
pages of the user's conversations are dropped, so their messages' senders show the new name."""

import secrets
import unicodedata
import zoneinfo
from datetime import datetime
from functools import partial
from typing import Any, Final

from django.db import transaction
from django.utils import timezone

import realtime
from core.errors import BadRequest
from messaging import history_cache
from messaging.models import Membership
from messaging.text import storable_text

from .avatars import avatar_images
from .events import UserUpdatedEvent
from .models import Avatar, User
from .selectors import acquaintance_ids, user_card


class _Unset:
    pass


UNSET: Final = _Unset()
DISPLAY_NAME_MAX = 64
STATUS_TEXT_MAX = 140
STATUS_EMOJI_MAX = 32


def _clean_line(value: str, *, field: str, max_length: int, allow_blank: bool) -> str:
    """One line of user text, trimmed: no control characters, at most max_length characters."""
    value = storable_text(value, field=field).strip()
    if any(unicodedata.category(ch) in {"Cc", "Zl", "Zp"} for ch in value):
        raise BadRequest("Line breaks and control characters are not allowed.", field=field)
    if not value and not allow_blank:
        raise BadRequest(f"Must be 1 to {max_length} characters.", field=field)
    if len(value) > max_length:
        raise BadRequest(f"Must be 1 to {max_length} characters.", field=field)
    return value


def profile_update(
    *,
    user: User,
    display_name: str | _Unset | None = UNSET,
    status_text: str | _Unset = UNSET,
    status_emoji: str | _Unset = UNSET,
    status_expires_at: datetime | _Unset | None = UNSET,
    timezone_name: str | _Unset = UNSET,
) -> User:
    """Changes only the fields given (a display name of None clears it: the username shows);
    text is trimmed single-line text, the timezone an IANA name, a status expiry in the future;
    contacts and the user's devices get `user_updated` after commit."""
    fields: list[str] = []
    if not isinstance(display_name, _Unset):
        user.display_name = (
            ""
            if display_name is None
            else _clean_line(
                display_name, field="display_name", max_length=DISPLAY_NAME_MAX, allow_blank=False
            )
        )
        fields.append("display_name")
    if not isinstance(status_text, _Unset):
        user.status_text = _clean_line(
            status_text, field="status_text", max_length=STATUS_TEXT_MAX, allow_blank=True
        )
        fields.append("status_text")
    if not isinstance(status_emoji, _Unset):
        user.status_emoji = _clean_line(
            status_emoji, field="status_emoji", max_length=STATUS_EMOJI_MAX, allow_blank=True
        )
        fields.append("status_emoji")
    if not isinstance(status_expires_at, _Unset):
        if status_expires_at is not None and status_expires_at <= timezone.now():
            raise BadRequest("The expiry must be in the future.", field="status_expires_at")
        user.status_expires_at = status_expires_at
        fields.append("status_expires_at")
    if not isinstance(timezone_name, _Unset):
        if timezone_name not in zoneinfo.available_timezones():
            raise BadRequest("Not an IANA time zone name (e.g. Europe/Paris).", field="timezone")
        user.timezone = timezone_name
        fields.append("timezone")
    if not fields:
        return user
    with transaction.atomic():
        user.save(update_fields=fields)
        _announce(user=user)
    return user


def avatar_set(*, user: User, data: bytes) -> User:
    """Stores the image as the user's avatar (256 and 64 px squares, no metadata) under a new
    key, so old URLs stop serving it; BadRequest when it is not an image."""
    large, small = avatar_images(data)
    with transaction.atomic():
        Avatar.objects.filter(user=user).delete()
        user.avatar_key = secrets.token_hex(16)
        Avatar.objects.create(user=user, key=user.avatar_key, large=large, small=small)
        user.save(update_fields=["avatar_key"])
        _announce(user=user)
    return user


def avatar_remove(*, user: User) -> User:
    """The user has no avatar any more (initials show); removing none is not an error."""
    with transaction.atomic():
        deleted, _ = Avatar.objects.filter(user=user).delete()
        if user.avatar_key or deleted:
            user.avatar_key = ""
            user.save(update_fields=["avatar_key"])
            _announce(user=user)
    return user


def _announce(*, user: User) -> None:
    """Within the caller's transaction: after commit, `user_updated` to the user's contacts and
    own devices; history pages cached with the old sender drop out."""
    event: UserUpdatedEvent = {"type": "user_updated", "user": user_card(user=user)}
    audience = sorted({user.pk, *acquaintance_ids(user_id=user.pk)})
    conversations = list(
        Membership.objects.filter(user_id=user.pk).values_list("conversation_id", flat=True)
    )
    transaction.on_commit(partial(_publish, audience, dict(event)), robust=True)
    transaction.on_commit(partial(_forget_history, conversations), robust=True)


def _publish(audience: list[int], event: dict[str, Any]) -> None:
    realtime.publish_to_users(audience, event["type"], event)


def _forget_history(conversation_ids: list[int]) -> None:
    for conversation_id in conversation_ids:
        history_cache.history_cache_invalidate(conversation_id)
