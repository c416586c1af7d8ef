"""Outgoing webhooks: the services that make them and deliver their events.

After a conversation event commits (realtime.conversation_events), one delivery row
is written per matching webhook, and the lane of each (webhook, conversation) is run: its
pending deliveries go out one at a time in id order, each a signed JSON POST. A failure
(5xx, 408, 425, 429, timeout, connection error, refused address) is retried with exponential
backoff; later deliveries of the lane wait, so a receiver sees a conversation's events in
order. A delivery that fails PARLEY_WEBHOOK_RETRIES retries (or gets another 4xx) is marked
failed; the webhook is then disabled and its owner told (a `webhook_disabled` frame).
"""

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import requests
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connections, transaction
from django.db.models import Q
from django.utils import timezone

import realtime
from accounts.models import User
from core.errors import BadRequest, ChatError, Forbidden, NotFound
from messaging.models import Membership
from messaging.services import message_send
from push.backends import canonical_json

from .egress import EndpointRefused, check_webhook_url, webhook_session
from .models import Bot, OutgoingWebhook, WebhookDelivery
from .selectors import conversation_managed_by, is_bot

logger = logging.getLogger(__name__)

EVENTS = (
    "message.sent",
    "message.updated",
    "message.deleted",
    "reaction",
    "member.added",
    "member.removed",
)
Status = WebhookDelivery.Status
# Retries sooner than this are scheduled as Celery countdowns; later ones are picked up by the
# beat sweep (webhook_deliveries_due), so no task waits hours in the broker.
COUNTDOWN_MAX = 60
LANE_LOCK_SECONDS = 120


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256 of "<timestamp>.<body>" under the webhook's secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


# --- making webhooks -----------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedOutgoing:
    webhook: OutgoingWebhook
    secret: str


def outgoing_webhook_create(
    *, user: User, url: str, events: list[str], conversations: Any, bot_id: int | None = None
) -> IssuedOutgoing:
    """A webhook for events of the listed conversations (whose owner/admin the caller is, or
    either side of a direct chat), of "all_mine" (every conversation the caller is in), or of
    "all" (staff only). Its URL must be public (or an allowed internal host)."""
    if is_bot(user):
        raise Forbidden("bots cannot manage webhooks")
    if not isinstance(events, list) or not events:
        raise BadRequest("events is a non-empty list", field="events")
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise BadRequest(f"unknown events {unknown!r}; use {list(EVENTS)}", field="events")
    if not isinstance(url, str) or len(url) > 500:
        raise BadRequest("url is a URL of at most 500 characters", field="url")
    try:
        check_webhook_url(url)
    except EndpointRefused as error:
        raise BadRequest(f"url refused: {error}", field="url") from error
    conversation_ids: list[int] = []
    if conversations == "all":
        if not user.is_staff:
            raise Forbidden("only staff can watch every conversation", field="conversations")
        scope = OutgoingWebhook.Scope.ALL
    elif conversations == "all_mine":
        scope = OutgoingWebhook.Scope.ALL_MINE
    elif isinstance(conversations, list) and conversations:
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in conversations):
            raise BadRequest("conversations lists ids", field="conversations")
        conversation_ids = sorted(set(conversations))
        for conversation_id in conversation_ids:
            conversation_managed_by(user=user, conversation_id=conversation_id)
        scope = OutgoingWebhook.Scope.LISTED
    else:
        raise BadRequest(
            'conversations is a non-empty list of ids, "all_mine" or "all"', field="conversations"
        )
    bot_user = None
    if bot_id is not None:
        bot = Bot.objects.select_related("user").filter(user_id=bot_id).first()
        if bot is None or (bot.owner_id != user.pk and not user.is_staff):
            raise BadRequest("no such bot of yours", field="bot")
        bot_user = bot.user
    secret = secrets.token_hex(32)
    with transaction.atomic():
        webhook = OutgoingWebhook.objects.create(
            owner=user,
            url=url,
            secret=secret,
            events=list(dict.fromkeys(events)),
            scope=scope,
            bot=bot_user,
        )
        webhook.conversations.set(conversation_ids)
        transaction.on_commit(_forget_active, robust=True)
    return IssuedOutgoing(webhook=webhook, secret=secret)


def outgoing_webhook_delete(*, user: User, webhook_id: int) -> None:
    """Nothing more is delivered; pending deliveries are dropped with the webhook."""
    with transaction.atomic():
        deleted, _ = OutgoingWebhook.objects.filter(
            Q(owner=user) | Q(pk__in=[] if not user.is_staff else [webhook_id]), pk=webhook_id
        ).delete()
        transaction.on_commit(_forget_active, robust=True)
    if not deleted:
        raise NotFound("No such webhook.", field="webhook")


def outgoing_webhook_enable(*, user: User, webhook_id: int) -> OutgoingWebhook:
    """A disabled webhook delivers again (new events; failed ones are not resent)."""
    with transaction.atomic():
        webhook = OutgoingWebhook.objects.filter(pk=webhook_id, owner=user).first()
        if webhook is None:
            raise NotFound("No such webhook.", field="webhook")
        webhook.is_active = True
        webhook.disabled_reason = ""
        webhook.save(update_fields=["is_active", "disabled_reason"])
        transaction.on_commit(_forget_active, robust=True)
    return webhook


# --- from conversation events to deliveries ---------------------------------------------------

ACTIVE_RECHECK_SECONDS = 2.0


class ActiveWebhooks:
    """Whether any active webhook exists, per process, re-checked at most every
    ACTIVE_RECHECK_SECONDS: the send path pays nothing while there is none. One per process,
    built at start-up (`IntegrationsConfig.ready`)."""

    def __init__(self) -> None:
        self.known = False
        self.value = False
        self.at = 0.0

    def forget(self) -> None:
        self.known = False

    def exist(self) -> bool:
        now = time.monotonic()
        if not self.known or now - self.at > ACTIVE_RECHECK_SECONDS:
            self.value = OutgoingWebhook.objects.filter(is_active=True).exists()
            self.known, self.at = True, now
        return self.value


def active_webhooks() -> ActiveWebhooks:
    """This process's knowledge of active webhooks (`IntegrationsConfig.ready`)."""
    active: ActiveWebhooks = apps.get_app_config("integrations").active_webhooks  # type: ignore[attr-defined]
    return active


def _forget_active() -> None:
    active_webhooks().forget()


# The realtime events (by name, their frame type) that can become webhook events, and the
# webhook event each becomes ("message" depends on its system part, below).
WEBHOOK_EVENTS = {
    "message_updated": "message.updated",
    "message_deleted": "message.deleted",
    "reaction": "reaction",
}
WEBHOOK_HANDLERS = frozenset({"message", *WEBHOOK_EVENTS})


def _event_name(handler: str, payload: dict[str, Any]) -> str | None:
    if handler == "message":
        system = payload.get("system")
        if not system:
            return "message.sent"
        kind = system.get("event") if isinstance(system, dict) else None
        if kind == "member_added":
            return "member.added"
        if kind in {"member_removed", "member_left"}:
            return "member.removed"
        return None
    return WEBHOOK_EVENTS.get(handler)


def _matching(conversation_id: int, event: str, sender_id: int | None) -> list[OutgoingWebhook]:
    members = Membership.objects.filter(conversation_id=conversation_id).values("user_id")
    hooks = OutgoingWebhook.objects.filter(is_active=True).filter(
        Q(scope=OutgoingWebhook.Scope.ALL)
        | Q(scope=OutgoingWebhook.Scope.ALL_MINE, owner_id__in=members)
        | Q(scope=OutgoingWebhook.Scope.LISTED, conversations__id=conversation_id)
    )
    # A webhook never hears its own bot's replies (no loops).
    return [
        h
        for h in hooks.distinct()
        if event in h.events and (sender_id is None or h.bot_id != sender_id)
    ]


def conversation_events_record(*, handler: str, events: list[tuple[int, dict[str, Any]]]) -> None:
    """Writes one pending delivery per matching webhook and event (after the event committed)
    and runs the lanes they joined. Typing, receipts and the like return at once, without
    touching the database (some are published from the event loop)."""
    if handler not in WEBHOOK_HANDLERS or not active_webhooks().exist():
        return
    lanes: set[tuple[int, int]] = set()
    rows: list[WebhookDelivery] = []
    for conversation_id, payload in events:
        event = _event_name(handler, payload)
        if event is None:
            continue
        sender = payload.get("sender") if isinstance(payload.get("sender"), dict) else None
        for webhook in _matching(conversation_id, event, sender and sender.get("id")):
            delivery_id = uuid.uuid4()
            rows.append(
                WebhookDelivery(
                    webhook=webhook,
                    delivery_id=delivery_id,
                    conversation_id=conversation_id,
                    event=event,
                    payload={
                        "event": event,
                        "delivery": str(delivery_id),
                        "webhook": webhook.pk,
                        "conversation": conversation_id,
                        "data": payload,
                    },
                )
            )
            lanes.add((webhook.pk, conversation_id))
    if not rows:
        return
    WebhookDelivery.objects.bulk_create(rows)
    for webhook_id, conversation_id in sorted(lanes):
        lane_schedule(webhook_id=webhook_id, conversation_id=conversation_id, countdown=0)


def on_conversation_events(sender: Any, handler: str, events: list, **kwargs: Any) -> None:
    """Receiver of realtime.conversation_events; never fails the publisher."""
    try:
        conversation_events_record(handler=handler, events=events)
    except Exception:
        logger.exception("recording outgoing webhook deliveries failed")


# --- delivering -----------------------------------------------------------------------------


def lane_schedule(*, webhook_id: int, conversation_id: int, countdown: float) -> None:
    """Runs the lane now or after `countdown` seconds: a Celery task with a worker, a daemon
    timer in this process on the embedded default (eager Celery)."""
    from .tasks import webhook_lane_run

    if settings.CELERY_TASK_ALWAYS_EAGER:

        def run() -> None:
            close_old_connections()
            try:
                webhook_lane_run.apply(args=(webhook_id, conversation_id))
            finally:
                connections.close_all()

        timer = threading.Timer(countdown, run)
        timer.daemon = True
        timer.start()
    elif countdown <= COUNTDOWN_MAX:
        webhook_lane_run.apply_async(args=(webhook_id, conversation_id), countdown=countdown)
    # else: the beat sweep (webhook_deliveries_due) runs it when next_attempt_at comes


def _backoff(attempts: int) -> float:
    """Seconds before retry number `attempts` (1, 2, ...): base, 2 base, 4 base, ..."""
    base = settings.PARLEY_WEBHOOK_RETRY_BASE
    return float(min(settings.PARLEY_WEBHOOK_RETRY_MAX, base * 2 ** (attempts - 1)))


def _retryable(status: int) -> bool:
    return status in {408, 425, 429} or status >= 500


@dataclass
class Attempt:
    ok: bool
    retry: bool
    error: str = ""
    status: int | None = None
    ms: int | None = None
    reply: str | None = None


def _post(webhook: OutgoingWebhook, delivery: WebhookDelivery) -> Attempt:
    body = canonical_json(delivery.payload)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Parley-Webhook/1",
        "X-Parley-Event": delivery.event,
        "X-Parley-Delivery": str(delivery.delivery_id),
        "X-Parley-Timestamp": timestamp,
        "X-Parley-Signature": webhook_signature(
            secret=webhook.secret, timestamp=timestamp, body=body
        ),
    }
    started = time.perf_counter()
    try:
        with webhook_session() as session:
            response = session.post(
                webhook.url,
                data=body,
                headers=headers,
                timeout=settings.PARLEY_WEBHOOK_TIMEOUT,
                allow_redirects=False,
            )
            text = response.text[:8000]
    except EndpointRefused as error:
        return Attempt(ok=False, retry=True, error=f"refused: {error}")
    except requests.RequestException as error:
        ms = int((time.perf_counter() - started) * 1000)
        return Attempt(ok=False, retry=True, error=f"{type(error).__name__}: {error}"[:500], ms=ms)
    ms = int((time.perf_counter() - started) * 1000)
    status = response.status_code
    if 200 <= status < 300:
        return Attempt(ok=True, retry=False, status=status, ms=ms, reply=_reply_text(text))
    return Attempt(
        ok=False,
        retry=_retryable(status),
        error=f"HTTP {status} {text[:200]}",
        status=status,
        ms=ms,
    )


def _reply_text(text: str) -> str | None:
    try:
        answer = json.loads(text)
    except ValueError:
        return None
    reply = answer.get("text") if isinstance(answer, dict) else None
    return reply if isinstance(reply, str) and reply.strip() else None


def _post_reply(webhook: OutgoingWebhook, delivery: WebhookDelivery, reply: str) -> str:
    """The receiver's {"text"} answer, posted by the webhook's bot; a note for the log."""
    if webhook.bot is None:
        return "reply not posted: the webhook has no bot"
    try:
        message_send(
            sender=webhook.bot,
            conversation_id=delivery.conversation_id,
            client_msg_id=f"owh.{delivery.delivery_id.hex}",  # a redone lane posts it once
            body=reply,
        )
    except ChatError as error:
        return f"reply not posted: {error.detail}"[:500]
    return ""


def _lane_lock(webhook_id: int, conversation_id: int) -> str:
    return f"integrations:lane:{webhook_id}:{conversation_id}"


def _lane_due(webhook_id: int, conversation_id: int) -> bool:
    return (
        WebhookDelivery.objects.filter(
            webhook_id=webhook_id,
            conversation_id=conversation_id,
            status=Status.PENDING,
            webhook__is_active=True,
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
        .exists()
    )


def webhook_lane_run(*, webhook_id: int, conversation_id: int) -> int:
    """Delivers the lane's due pending deliveries in id order, stopping at the first failure
    (which is retried later, holding the rest back); returns how many went out. One runner per
    lane at a time (a cache lock): a second one returns at once, and the first one looks again
    after letting go, so a delivery written meanwhile is not left waiting."""
    key = _lane_lock(webhook_id, conversation_id)
    sent = 0
    while cache.add(key, 1, timeout=LANE_LOCK_SECONDS):
        try:
            sent += _lane_drain(webhook_id, conversation_id, key)
        finally:
            cache.delete(key)
        if not _lane_due(webhook_id, conversation_id):
            break
    return sent


def _lane_drain(webhook_id: int, conversation_id: int, key: str) -> int:
    sent = 0
    while True:
        webhook = OutgoingWebhook.objects.select_related("bot").filter(pk=webhook_id).first()
        if webhook is None or not webhook.is_active:
            return sent
        delivery = (
            WebhookDelivery.objects.filter(
                webhook_id=webhook_id, conversation_id=conversation_id, status=Status.PENDING
            )
            .order_by("pk")
            .first()
        )
        if delivery is None:
            return sent
        now = timezone.now()
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            wait = (delivery.next_attempt_at - now).total_seconds()
            lane_schedule(webhook_id=webhook_id, conversation_id=conversation_id, countdown=wait)
            return sent
        cache.touch(key, LANE_LOCK_SECONDS)
        attempt = _post(webhook, delivery)
        delivery.attempts += 1
        delivery.response_status = attempt.status
        delivery.response_ms = attempt.ms
        if attempt.ok:
            note = _post_reply(webhook, delivery, attempt.reply) if attempt.reply else ""
            delivery.status = Status.SUCCEEDED
            delivery.delivered_at = timezone.now()
            if note:  # else the last error (if retried) stays in the log
                delivery.last_error = note
            delivery.next_attempt_at = None
            delivery.save()
            sent += 1
            continue
        delivery.last_error = attempt.error[:500]
        if attempt.retry and delivery.attempts <= settings.PARLEY_WEBHOOK_RETRIES:
            wait = _backoff(delivery.attempts)
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=wait)
            delivery.save()
            lane_schedule(webhook_id=webhook_id, conversation_id=conversation_id, countdown=wait)
            return sent
        delivery.status = Status.FAILED
        delivery.next_attempt_at = None
        delivery.save()
        webhook_disable(
            webhook_id=webhook_id,
            reason=f"delivery {delivery.delivery_id} failed after {delivery.attempts} "
            f"attempts: {delivery.last_error}"[:500],
        )
        return sent


def webhook_disable(*, webhook_id: int, reason: str) -> None:
    """A webhook that keeps failing stops: it is marked inactive with the reason, and its owner
    gets a `webhook_disabled` frame after commit."""
    with transaction.atomic():
        webhook = OutgoingWebhook.objects.select_for_update().filter(pk=webhook_id).first()
        if webhook is None or not webhook.is_active:
            return
        webhook.is_active = False
        webhook.disabled_reason = reason
        webhook.save(update_fields=["is_active", "disabled_reason"])
        event = {
            "type": "webhook_disabled",
            "webhook": webhook.pk,
            "url": webhook.url,
            "reason": reason,
        }
        transaction.on_commit(
            partial(realtime.publish_to_user, webhook.owner_id, event["type"], event),
            robust=True,
        )
        transaction.on_commit(_forget_active, robust=True)
    logger.warning("outgoing webhook %s disabled: %s", webhook_id, reason)


def webhook_deliveries_due() -> int:
    """The beat sweep: runs every lane with a pending delivery that is due (a retry scheduled
    further out than a countdown, or a lane whose worker died). Returns how many lanes."""
    lanes = (
        WebhookDelivery.objects.filter(status=Status.PENDING, webhook__is_active=True)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
        .values_list("webhook_id", "conversation_id")
        .distinct()
    )
    count = 0
    for webhook_id, conversation_id in lanes:
        lane_schedule(webhook_id=webhook_id, conversation_id=conversation_id, countdown=0)
        count += 1
    return count
