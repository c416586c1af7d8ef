"""Push channels. A backend says whom it can reach and delivers one stored notification.

Backends are listed in settings.PARLEY_PUSH_BACKENDS (dotted paths); each is active only when
configured. To add a channel, subclass PushBackend and add it to that list (and its name to
PushNotification.Channel).
"""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable

import requests
from django.conf import settings
from django.utils.module_loading import import_string

from chatsite import metrics

from .endpoints import EndpointRefused, push_session
from .models import PushNotification, WebPushSubscription


class PushRetryable(Exception):
    """The delivery failed in a way worth retrying (network, timeout, 5xx, 429)."""


class PushRejected(Exception):
    """The receiver refused the notification for good (e.g. 4xx); do not retry."""


class PushBackend:
    channel: str = ""

    def enabled(self) -> bool:
        raise NotImplementedError

    def audience(self, user_ids: Iterable[int]) -> set[int]:
        """Those of the users this channel can reach."""
        raise NotImplementedError

    def deliver(self, notification: PushNotification) -> None:
        """Delivers once; raises PushRetryable or PushRejected on failure."""
        raise NotImplementedError


def canonical_json(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """`v1=` + hex HMAC-SHA256 of "<timestamp>.<body>" under the shared secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def _retryable_status(status: int) -> bool:
    return status in {408, 425, 429} or status >= 500


class WebhookBackend(PushBackend):
    """POSTs each notification as signed JSON to PARLEY_PUSH_WEBHOOK_URL (a push relay, a
    mobile gateway, a bot). Every member can be reached; the receiver decides what to do."""

    channel = PushNotification.Channel.WEBHOOK

    def enabled(self) -> bool:
        return bool(settings.PARLEY_PUSH_WEBHOOK_URL)

    def audience(self, user_ids: Iterable[int]) -> set[int]:
        return set(user_ids)

    def deliver(self, notification: PushNotification) -> None:
        body = canonical_json(notification.payload)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Parley-Push/1",
            "X-Parley-Notification-Id": str(notification.pk),
            "X-Parley-Timestamp": timestamp,
            "X-Parley-Signature": webhook_signature(
                secret=settings.PARLEY_PUSH_WEBHOOK_SECRET, timestamp=timestamp, body=body
            ),
        }
        try:
            response = requests.post(
                settings.PARLEY_PUSH_WEBHOOK_URL,
                data=body,
                headers=headers,
                timeout=settings.PARLEY_PUSH_TIMEOUT,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise PushRetryable(f"webhook: {type(error).__name__}: {error}") from error
        if 200 <= response.status_code < 300:
            return
        detail = f"webhook: HTTP {response.status_code} {response.text[:200]}"
        if _retryable_status(response.status_code):
            raise PushRetryable(detail)
        raise PushRejected(detail)


class WebPushBackend(PushBackend):
    """Web Push (RFC 8030, payload encrypted per RFC 8291, VAPID per RFC 8292) to every
    browser subscription of the user. Gone subscriptions (404/410) are deleted. Connections go
    only to public addresses on port 443, checked as they are made (push/endpoints.py)."""

    channel = PushNotification.Channel.WEBPUSH

    def enabled(self) -> bool:
        return bool(settings.PARLEY_VAPID_PRIVATE_KEY)

    def audience(self, user_ids: Iterable[int]) -> set[int]:
        return set(
            WebPushSubscription.objects.filter(user_id__in=list(user_ids)).values_list(
                "user_id", flat=True
            )
        )

    def deliver(self, notification: PushNotification) -> None:
        from pywebpush import WebPushException, webpush

        subscriptions = list(WebPushSubscription.objects.filter(user_id=notification.user_id))
        if not subscriptions:
            raise PushRejected("webpush: the user has no subscription left")
        data = json.dumps(notification.payload)
        key = vapid_key()
        delivered, errors, retry = 0, [], False
        with push_session() as session:
            for subscription in subscriptions:
                try:
                    webpush(
                        subscription_info={
                            "endpoint": subscription.endpoint,
                            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
                        },
                        data=data,
                        vapid_private_key=key,
                        vapid_claims={"sub": settings.PARLEY_VAPID_SUBJECT},
                        ttl=3600,
                        timeout=settings.PARLEY_PUSH_TIMEOUT,
                        headers={"Topic": f"c{notification.conversation_id}"},
                        requests_session=session,
                    )
                    delivered += 1
                except WebPushException as error:
                    status = error.response.status_code if error.response is not None else None
                    if status in {404, 410}:
                        subscription.delete()
                        metrics.push_notified(backend=self.channel, outcome="gone")
                    elif status is None or _retryable_status(status):
                        retry = True
                    errors.append(f"webpush {status}: {error.message[:200]}")
                except EndpointRefused as error:
                    # Kept: the name may resolve publicly again; nothing is sent meanwhile.
                    errors.append(f"webpush: endpoint refused: {error}")
                except (requests.RequestException, ValueError) as error:
                    retry = True
                    errors.append(f"webpush: {type(error).__name__}: {error}")
        if delivered:
            return
        if retry:
            raise PushRetryable("; ".join(errors))
        raise PushRejected("; ".join(errors))


def vapid_key():  # type: ignore[no-untyped-def]
    """The VAPID key from PARLEY_VAPID_PRIVATE_KEY: PEM, or base64url of the raw or DER key."""
    from py_vapid import Vapid

    key = settings.PARLEY_VAPID_PRIVATE_KEY
    if "BEGIN" in key:
        return Vapid.from_pem(key.replace("\\n", "\n").encode())
    return Vapid.from_string(key)


def vapid_public_key() -> str | None:
    """The application server key browsers subscribe with (base64url, uncompressed point)."""
    if settings.PARLEY_VAPID_PUBLIC_KEY:
        return settings.PARLEY_VAPID_PUBLIC_KEY
    if not settings.PARLEY_VAPID_PRIVATE_KEY:
        return None
    from cryptography.hazmat.primitives import serialization

    raw = vapid_key().public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def active_backends() -> list[PushBackend]:
    backends = [import_string(path)() for path in settings.PARLEY_PUSH_BACKENDS]
    return [backend for backend in backends if backend.enabled()]


def backend_for(channel: str) -> PushBackend | None:
    return next((b for b in active_backends() if b.channel == channel), None)
