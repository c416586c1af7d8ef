"""Offline push: who is notified about what, once per conversation per user per window."""

import math
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from chatsite import metrics
from conversations.models import Mention
from messaging.events import conversation_title, iso
from messaging.ids import message_id_floor, message_id_time
from messaging.models import Conversation, Membership, Message
from notifications.selectors import notify_levels, quiet_user_ids, wants_push

from .backends import PushRejected, PushRetryable, active_backends, backend_for
from .models import PushNotification

NOTIFICATION_NAMESPACE = uuid.UUID("6f0b3d52-5b1e-4b8e-9d0c-7a7e0c1e5a61")


def notification_id(
    *, user_id: int, conversation_id: int, channel: str, window_ms: int
) -> uuid.UUID:
    """Stable across retries and redone tasks: a receiver drops a repeat by this id."""
    return uuid.uuid5(NOTIFICATION_NAMESPACE, f"{user_id}:{conversation_id}:{channel}:{window_ms}")


def _schedule(args: tuple, countdown: float) -> None:
    from .tasks import push_window_notify

    if settings.CELERY_TASK_ALWAYS_EAGER:
        # Embedded default: no worker, so wait out the delay on a daemon timer in-process.
        def run() -> None:
            close_old_connections()
            try:
                push_window_notify.apply(args=args)
            finally:
                connections.close_all()

        timer = threading.Timer(countdown, run)
        timer.daemon = True
        timer.start()
    else:
        push_window_notify.apply_async(args=args, countdown=countdown)


def on_messages_stored(sender: Any, messages: list[tuple[int, int]], **kwargs: Any) -> None:
    """Receiver of messaging.signals.messages_stored (after commit)."""
    for conversation_id, message_id in messages:
        push_message_sent(conversation_id=conversation_id, message_id=message_id)


def push_message_sent(*, conversation_id: int, message_id: int) -> None:
    """After a message commits: one notify task per conversation and window is scheduled, due
    when the window closes and the message is at least PARLEY_PUSH_DELAY_SECONDS old."""
    if not active_backends():
        return
    window = settings.PARLEY_PUSH_COALESCE_SECONDS
    # The window comes from the id's own time, so the task's id-range query finds the message.
    sent_at = message_id_time(message_id).timestamp()
    window_ms = math.floor(sent_at / window) * window * 1000
    if not cache.add(
        f"push-window:{conversation_id}:{window_ms}",
        1,
        timeout=int(window + settings.PARLEY_PUSH_DELAY_SECONDS) + 3600,
    ):
        return
    due = max(sent_at + settings.PARLEY_PUSH_DELAY_SECONDS, window_ms / 1000 + window)
    _schedule((conversation_id, window_ms, window), max(0.0, due - time.time()))


def push_window_notify(*, conversation_id: int, window_ms: int, window_seconds: int) -> list[str]:
    """Stores, once per (member, channel, window), a notification for each unmuted member who
    has not marked the window's messages from others delivered; returns the ids still pending."""
    start = datetime.fromtimestamp(window_ms / 1000, tz=UTC)
    low = message_id_floor(start)
    high = message_id_floor(start + timedelta(seconds=window_seconds))
    rows = list(
        Message.objects.filter(conversation_id=conversation_id, id__gte=low, id__lt=high)
        .order_by("seq")
        .values_list("seq", "sender_id", "sender__username", "body")
    )
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    backends = active_backends()
    if not rows or conversation is None or not backends:
        return []
    members = list(
        Membership.objects.filter(
            conversation_id=conversation_id, user__is_active=True
        ).values_list("user_id", "user__username", "delivered_seq", "joined_seq", "muted")
    )
    names = {user_id: username for user_id, username, *_ in members}
    # A mention reaches its user even in a muted conversation.
    mentioned = set(
        Mention.objects.filter(
            conversation_id=conversation_id, message_id__gte=low, message_id__lt=high
        ).values_list("user_id", "seq")
    )
    # Levels (notifications/): `mentions` pushes only direct messages and mentions; nothing
    # during do-not-disturb or quiet hours.
    levels = notify_levels(conversation=conversation, user_ids=list(names))
    quiet = quiet_user_ids(user_ids=list(names))
    audiences = {b.channel: b.audience(names) for b in backends}
    pending_ids = []
    for user_id, username, delivered_seq, joined_seq, muted in members:
        floor = max(delivered_seq, joined_seq)
        unseen_rows = [r for r in rows if r[1] != user_id and r[0] > floor]
        unseen = [(seq, sender) for seq, _, sender, _ in unseen_rows]
        if not unseen or user_id in quiet:
            continue
        mentions = sum(1 for seq, _ in unseen if (user_id, seq) in mentioned)
        bodies = [body for *_, body in unseen_rows]
        # A mention is pushed whatever the conversation's level or mute; the rest follows them.
        if not mentions and (
            muted
            or not wants_push(
                level=levels[user_id], kind=conversation.kind, bodies=bodies, username=username
            )
        ):
            continue
        payload = {
            "type": "messages",
            "user": {"id": user_id, "username": username},
            "conversation": {
                "id": conversation_id,
                "kind": conversation.kind,
                "title": conversation_title(conversation, viewer_id=user_id, member_names=names),
            },
            "first_seq": unseen[0][0],
            "last_seq": unseen[-1][0],
            "count": len(unseen),
            "mentions": mentions,  # of those, how many mention the user
            "senders": sorted({sender for _, sender in unseen if sender}),
            "window_start": iso(start),
        }
        for backend in backends:
            if user_id not in audiences[backend.channel]:
                continue
            nid = notification_id(
                user_id=user_id,
                conversation_id=conversation_id,
                channel=backend.channel,
                window_ms=window_ms,
            )
            notification, _ = PushNotification.objects.get_or_create(
                id=nid,
                defaults={
                    "user_id": user_id,
                    "conversation_id": conversation_id,
                    "channel": backend.channel,
                    "window_start": start,
                    "first_seq": unseen[0][0],
                    "last_seq": unseen[-1][0],
                    "message_count": len(unseen),
                    "payload": {"id": str(nid), **payload},
                },
            )
            if notification.status == PushNotification.Status.PENDING:
                pending_ids.append(str(nid))
    return pending_ids


@dataclass(frozen=True)
class DeliveryOutcome:
    status: str  # "sent", "failed", "skipped", "done" (nothing to do), "retry"
    retry_in: float | None = None


def _backoff(attempts: int) -> float:
    return min(
        settings.PARLEY_PUSH_RETRY_BACKOFF_MAX,
        settings.PARLEY_PUSH_RETRY_BACKOFF * 2 ** max(0, attempts - 1),
    )


def push_deliver(*, notification_id: str) -> DeliveryOutcome:
    """Delivers a pending notification with at most one attempt in flight at a time: an
    attempt claims the row for a lease; a worker that dies mid-attempt lets the next take over
    when the lease ends. Every attempt is counted."""
    now = timezone.now()
    lease = timedelta(seconds=2 * settings.PARLEY_PUSH_TIMEOUT + 1)
    claimed = (
        PushNotification.objects.filter(pk=notification_id, status=PushNotification.Status.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(attempts=F("attempts") + 1, claimed_until=now + lease)
    )
    notification = PushNotification.objects.filter(pk=notification_id).first()
    if notification is None or notification.status != PushNotification.Status.PENDING:
        return DeliveryOutcome("done")
    if not claimed:
        # Another attempt holds the lease (or held it when its worker died).
        wait = (
            (notification.claimed_until - now).total_seconds() if notification.claimed_until else 1
        )
        return DeliveryOutcome("retry", max(1.0, wait + 0.5))
    # Muted since it was stored: skipped, unless it tells of a mention (mentions pass mutes).
    muted = (
        Membership.objects.filter(
            conversation_id=notification.conversation_id, user_id=notification.user_id
        )
        .values_list("muted", flat=True)
        .first()
    )
    if muted is None or (muted and not (notification.payload or {}).get("mentions")):
        notification.status = PushNotification.Status.SKIPPED
        notification.claimed_until = None
        notification.save(update_fields=["status", "claimed_until"])
        metrics.push_notified(backend=notification.channel, outcome="skipped")
        return DeliveryOutcome("skipped")
    backend = backend_for(notification.channel)
    try:
        if backend is None:
            raise PushRejected(f"the {notification.channel} channel is not configured")
        backend.deliver(notification)
    except PushRetryable as error:
        notification.last_error = str(error)[:2000]
        notification.claimed_until = None
        if notification.attempts >= settings.PARLEY_PUSH_MAX_ATTEMPTS:
            notification.status = PushNotification.Status.FAILED
            notification.save(update_fields=["last_error", "claimed_until", "status"])
            metrics.push_notified(backend=notification.channel, outcome="failed")
            return DeliveryOutcome("failed")
        notification.save(update_fields=["last_error", "claimed_until"])
        metrics.push_notified(backend=notification.channel, outcome="retried")
        return DeliveryOutcome("retry", _backoff(notification.attempts))
    except PushRejected as error:
        notification.status = PushNotification.Status.FAILED
        notification.last_error = str(error)[:2000]
        notification.claimed_until = None
        notification.save(update_fields=["status", "last_error", "claimed_until"])
        metrics.push_notified(backend=notification.channel, outcome="failed")
        return DeliveryOutcome("failed")
    notification.status = PushNotification.Status.SENT
    notification.sent_at = timezone.now()
    notification.claimed_until = None
    notification.save(update_fields=["status", "sent_at", "claimed_until"])
    metrics.push_notified(backend=notification.channel, outcome="sent")
    return DeliveryOutcome("sent")


def webpush_subscribe(*, user_id: int, endpoint: object, p256dh: object, auth: object) -> bool:
    """Stores a browser's push subscription for the user; True when new. The endpoint must be
    https on a public address, port 443 (push/endpoints.py), and stays with the account that
    registered it first: another account posting it gets Conflict, and the owner keeps it."""
    from core.errors import BadRequest, Conflict
    from messaging.text import storable_text

    from .endpoints import EndpointRefused, check_endpoint
    from .models import WebPushSubscription

    if not isinstance(endpoint, str) or not endpoint.startswith("https://") or len(endpoint) > 1000:
        raise BadRequest(
            "endpoint must be an https URL of at most 1000 characters", field="endpoint"
        )
    storable_text(endpoint, field="endpoint")
    for name, value, longest in (("p256dh", p256dh, 200), ("auth", auth, 100)):
        if (
            not isinstance(value, str)
            or not value
            or len(value) > longest
            or not all(c.isalnum() or c in "-_=" for c in value)
        ):
            raise BadRequest(f"keys.{name} must be a base64url string", field=f"keys.{name}")
    try:
        check_endpoint(endpoint)
    except EndpointRefused as error:
        raise BadRequest(f"endpoint refused: {error}", field="endpoint") from error
    keys = {"p256dh": p256dh, "auth": auth}
    with transaction.atomic():
        _, created = WebPushSubscription.objects.get_or_create(
            endpoint=endpoint, defaults={"user_id": user_id, **keys}
        )
    if created:
        return True
    # Only the owner may change it: a browser signed in to another account keeps the
    # subscription of the account that registered it until that one unsubscribes (log out).
    if not WebPushSubscription.objects.filter(endpoint=endpoint, user_id=user_id).update(**keys):
        raise Conflict("endpoint is already registered for another account", field="endpoint")
    return False


def webpush_unsubscribe(*, user_id: int, endpoint: object) -> None:
    """Forgets the user's subscription with that endpoint (no error if there is none)."""
    from messaging.text import storable_text

    from .models import WebPushSubscription

    if isinstance(endpoint, str):
        storable_text(endpoint, field="endpoint")
        WebPushSubscription.objects.filter(user_id=user_id, endpoint=endpoint).delete()
