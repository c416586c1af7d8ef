"""Moderation: bans, recorded in the audit log (audit/). Each service owns its transaction;
sockets are closed only after commit."""

from functools import partial

from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

import realtime
from accounts.models import User
from audit.models import AuditLogEntry
from audit.services import audit_record
from core.close_codes import Close
from core.errors import BadRequest


def _end_sessions(user_id: int) -> None:
    """Deletes the user's database sessions (the session cookie stops working at once)."""
    stale = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if str(session.get_decoded().get("_auth_user_id")) == str(user_id)
    ]
    Session.objects.filter(pk__in=stale).delete()


def user_ban(*, actor: User, user: User, reason: str = "", via: str = "admin") -> None:
    """Deactivates the user (tokens and sessions are refused from then on), ends their
    sessions and, after commit, closes their sockets on every process with 4403. Audited."""
    if user.pk == actor.pk:
        raise BadRequest("You cannot ban yourself.", field="user")
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        _end_sessions(user.pk)
        audit_record(
            actor=actor,
            action=AuditLogEntry.Action.USER_BAN,
            target=f"user {user.get_username()} (#{user.pk})",
            target_type="user",
            target_id=str(user.pk),
            reason=reason,
            via=via,
        )
        transaction.on_commit(
            partial(realtime.close_user_sockets, user.pk, Close.FORBIDDEN), robust=True
        )


def user_unban(*, actor: User, user: User, reason: str = "", via: str = "admin") -> None:
    """Reactivates the user; they log in again for new tokens. Audited."""
    with transaction.atomic():
        # A save, not an update: post-save hooks (announcement enrolment) see the change.
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit_record(
            actor=actor,
            action=AuditLogEntry.Action.USER_UNBAN,
            target=f"user {user.get_username()} (#{user.pk})",
            target_type="user",
            target_id=str(user.pk),
            reason=reason,
            via=via,
        )
