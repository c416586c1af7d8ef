"""Account deletion: the account stops working at once (deactivated, every token refused,
every socket closed with 4401), then a job anonymises it.

The job removes the profile, address, avatar, tokens, push subscriptions, second factors and
settings; renames the account `deleted-<id>` shown as "Deleted user"; either keeps its messages
(shown from "Deleted user") or deletes them (PARLEY_DELETE_USER_MESSAGES), and leaves every
group, so a group it owned passes to its oldest admin, else its oldest member.
"""

from collections import defaultdict
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

import realtime
from accounts.models import Avatar, User
from accounts.profiles import _announce as profile_announce
from accounts.services import user_tokens_revoke
from accounts.twofactor import twofactor_enabled
from audit.services import audit_record
from conversations.models import Mention, MessageEdit
from core.close_codes import Close
from core.errors import BadRequest, NotFound
from groups.services import group_leave
from integrations.models import ApiToken
from messaging import history_cache
from messaging.events import message_change_event
from messaging.models import Conversation, Membership, Message
from notifications.models import ConversationNotify, DigestCursor, NotificationPrefs
from previews.models import LinkPreview
from push.models import PushNotification, WebPushSubscription
from uploads.models import Upload

from .jobs import job_enqueue
from .models import Job

DELETED_NAME = "Deleted user"
BATCH = 500


def _confirmed(user: User, *, password: str, code: str) -> bool:
    if password and user.has_usable_password() and user.check_password(password):
        return True
    if code and twofactor_enabled(user=user):
        from accounts.twofactor import _verified_device

        return _verified_device(user, code) is not None
    return False


def account_delete_request(
    *,
    user: User,
    password: str = "",
    code: str = "",
    actor: User | None = None,
    ip: str | None = None,
) -> Job:
    """Deactivates the account at once (its tokens refused, its sockets closed with 4401 after
    commit) and queues the job that anonymises it. The owner confirms with their password or a
    second-factor code; staff acting in the admin (`actor`) need neither."""
    if actor is None:
        from protection.services import login_attempt_check

        login_attempt_check(ip=ip, username=user.username)
        if not _confirmed(user, password=password or "", code=code or ""):
            raise BadRequest(
                "Confirm with your current password or a two-factor code.",
                field="code" if code and not password else "password",
            )
    if Job.objects.filter(kind=Job.Kind.ACCOUNT_DELETE, user=user).exists():
        raise NotFound("The account is already deleted.", field="user")
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user_tokens_revoke(user=user)  # every socket closes with 4401 after commit
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        bots = list(
            User.objects.filter(bot__owner=user, is_active=True).values_list("pk", flat=True)
        )
        User.objects.filter(pk__in=bots).update(is_active=False)
        for bot_id in bots:
            transaction.on_commit(
                partial(realtime.close_user_sockets, bot_id, Close.UNAUTHORIZED), robust=True
            )
        job = Job.objects.create(kind=Job.Kind.ACCOUNT_DELETE, user=user)
        if actor is not None:
            audit_record(
                actor=actor,
                action="account_delete",
                target=f"user {user.username} (#{user.pk})",
                target_type="user",
                target_id=str(user.pk),
                via="admin",
            )
        from . import tasks

        job_enqueue(job, tasks.account_anonymise)
    user.is_active = False
    return job


def _messages_delete(user: User) -> int:
    """Turns the user's messages into tombstones (as a delete does: seq kept, text, files,
    previews, mentions and edit history gone), a batch per transaction, each published."""
    from uploads.tasks import upload_files_delete

    deleted = 0
    while True:
        with transaction.atomic():
            rows = list(
                Message.objects.filter(sender=user, deleted_at__isnull=True, system__isnull=True)
                .order_by("id")
                .select_for_update()[:BATCH]
            )
            if not rows:
                return deleted
            ids = [m.pk for m in rows]
            by_conversation: dict[int, list[Message]] = defaultdict(list)
            for message in rows:
                by_conversation[message.conversation_id].append(message)
            now = timezone.now()
            for conversation_id in sorted(by_conversation):
                messages = by_conversation[conversation_id]
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"UPDATE {Conversation._meta.db_table} SET last_change_seq = "  # noqa: S608
                        "last_change_seq + %s WHERE id = %s RETURNING last_change_seq",
                        [len(messages), conversation_id],
                    )
                    last = int(cursor.fetchone()[0])
                for offset, message in enumerate(messages):
                    message.body = ""
                    message.html = ""
                    message.mentions = None
                    message.mentions_all = False
                    message.deleted_at = now
                    message.change_seq = last - len(messages) + 1 + offset
            Message.objects.bulk_update(
                rows, ["body", "html", "mentions", "mentions_all", "deleted_at", "change_seq"]
            )
            keys = [
                k
                for key, thumb in Upload.objects.filter(message_id__in=ids).values_list(
                    "key", "thumbnail_key"
                )
                for k in (key, thumb)
                if k
            ]
            Upload.objects.filter(message_id__in=ids).delete()
            LinkPreview.objects.filter(message_id__in=ids).delete()
            Mention.objects.filter(message_id__in=ids).delete()
            MessageEdit.objects.filter(message_id__in=ids).delete()
            events = [(m.conversation_id, dict(message_change_event(m))) for m in rows]

            def publish(events: list[tuple[int, dict[str, Any]]] = events) -> None:
                for conversation_id, event in events:
                    realtime.publish_to_conversation(conversation_id, event["type"], event)
                for conversation_id in {c for c, _ in events}:
                    history_cache.history_cache_invalidate(conversation_id)

            transaction.on_commit(publish, robust=True)
            if keys:
                transaction.on_commit(partial(upload_files_delete.delay, keys), robust=True)
        deleted += len(rows)


def account_anonymise(*, user: User) -> dict[str, Any]:
    """The deletion job: what stays of the account is a deactivated `deleted-<id>` shown as
    "Deleted user", in no group; returns what was done."""
    summary: dict[str, Any] = {"messages_deleted": 0, "groups_left": 0}
    if settings.PARLEY_DELETE_USER_MESSAGES:
        summary["messages_deleted"] = _messages_delete(user)
    with transaction.atomic():
        user.username = f"deleted-{user.pk}"
        user.display_name = DELETED_NAME
        user.first_name = user.last_name = ""
        user.email = ""
        user.email_verified = False
        user.status_text = user.status_emoji = ""
        user.status_expires_at = None
        user.timezone = "UTC"
        user.avatar_key = ""
        user.is_active = False
        user.is_staff = user.is_superuser = False
        user.set_unusable_password()
        user.save()
        Avatar.objects.filter(user=user).delete()
        OutstandingToken.objects.filter(user=user).delete()
        ApiToken.objects.filter(user=user).delete()
        WebPushSubscription.objects.filter(user=user).delete()
        PushNotification.objects.filter(user=user).delete()
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        NotificationPrefs.objects.filter(user=user).delete()
        ConversationNotify.objects.filter(user=user).delete()
        DigestCursor.objects.filter(user=user).delete()
        unattached = list(
            Upload.objects.filter(owner=user, message_id__isnull=True).values_list(
                "key", "thumbnail_key"
            )
        )
        Upload.objects.filter(owner=user, message_id__isnull=True).delete()
        if unattached:
            from uploads.tasks import upload_files_delete

            keys = [k for pair in unattached for k in pair if k]
            transaction.on_commit(partial(upload_files_delete.delay, keys), robust=True)
        profile_announce(user=user)
    # Leaving each group hands an owned group on (oldest admin, else oldest member).
    for group_id in Membership.objects.filter(
        user=user, conversation__kind=Conversation.Kind.GROUP
    ).values_list("conversation_id", flat=True):
        group_leave(user=user, group_id=group_id)
        summary["groups_left"] += 1
    return summary
