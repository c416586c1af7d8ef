import base64
import hashlib
import hmac
import json
import os
import threading
import time
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import connection

from messaging.ids import message_id_floor, message_id_time
from messaging.models import Membership, Message
from messaging.services import message_send
from push.models import PushNotification, WebPushSubscription
from push.services import push_deliver, push_window_notify
from tests.conftest import postgres_env_for_subprocess
from tests.factories import make_direct, make_group, make_user
from tests.workers import celery_worker, http_receiver

SECRET = "test-webhook-secret"


def _valid_signature(request) -> bool:
    timestamp = request.headers["x-parley-timestamp"]
    expected = hmac.new(
        SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(request.headers["x-parley-signature"], f"v1={expected}")


def _start_of_fresh_window(window: int) -> None:
    """Waits until a coalescing window has just begun, so a burst of sends shares it."""
    while time.time() % window > 0.5:
        time.sleep(0.05)


def _window_ms(conversation, window: int = 60) -> int:
    """The coalescing window of the conversation's newest message."""
    newest = Message.objects.filter(conversation=conversation).latest("seq")
    return int(message_id_time(newest.pk).timestamp() // window) * window * 1000


@pytest.fixture
def webhook(settings):
    with http_receiver() as receiver:
        settings.PARLEY_PUSH_WEBHOOK_URL = receiver.url
        settings.PARLEY_PUSH_WEBHOOK_SECRET = SECRET
        settings.PARLEY_VAPID_PRIVATE_KEY = ""
        yield receiver


def _worker_env(receiver) -> dict[str, str]:
    env = postgres_env_for_subprocess()
    env.update(
        {
            "PARLEY_PUSH_WEBHOOK_URL": receiver.url,
            "PARLEY_PUSH_WEBHOOK_SECRET": SECRET,
            "PARLEY_PUSH_TIMEOUT": "2",
            "PARLEY_PUSH_RETRY_BACKOFF": "0.5",
            "CELERY_VISIBILITY_TIMEOUT": "4",
            "PARLEY_NODE_ID": "901",
        }
    )
    env.pop("PARLEY_VAPID_PRIVATE_KEY", None)
    return env


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_messages_to_an_offline_user_make_one_signed_webhook_post(settings, webhook):
    settings.PARLEY_PUSH_DELAY_SECONDS = 0.5
    settings.PARLEY_PUSH_COALESCE_SECONDS = 3
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    with celery_worker(_worker_env(webhook)):
        _start_of_fresh_window(3)
        for n in range(3):
            message_send(
                sender=alice, conversation_id=direct.pk, client_msg_id=f"m{n}", body=f"hi {n}"
            )
        [post] = webhook.wait_for(1, timeout=60)
        time.sleep(4)  # past the next window: nothing else may arrive
    assert len(webhook.requests) == 1
    assert _valid_signature(post)
    payload = post.json()
    assert payload["user"] == {"id": bob.pk, "username": bob.username}
    assert payload["conversation"]["id"] == direct.pk
    assert payload["conversation"]["title"] == alice.username
    assert (payload["count"], payload["first_seq"], payload["last_seq"]) == (3, 1, 3)
    assert payload["senders"] == [alice.username]
    # The sender is not notified of their own messages: one record, bob's.
    [record] = PushNotification.objects.all()
    assert str(record.pk) == post.headers["x-parley-notification-id"] == payload["id"]
    assert (record.user_id, record.channel, record.status, record.attempts) == (
        bob.pk,
        "webhook",
        "sent",
        1,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_redoes_it_with_the_same_notification_id(settings, webhook):
    settings.PARLEY_PUSH_DELAY_SECONDS = 0.2
    settings.PARLEY_PUSH_COALESCE_SECONDS = 2
    first_arrived, release = threading.Event(), threading.Event()

    def respond(number: int) -> int:
        if number == 1:
            first_arrived.set()
            release.wait(30)  # hold the first POST open while its worker is killed
            return 500
        return 200

    webhook.respond = respond
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    env = _worker_env(webhook)
    try:
        with celery_worker(env, name="doomed") as worker:
            message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="hi")
            assert first_arrived.wait(60), "".join(worker.output[-30:])
            worker.kill9()
    finally:
        release.set()
    with celery_worker(env, name="restarted"):
        posts = webhook.wait_for(2, timeout=90)
        record = PushNotification.objects.get()
        deadline = time.monotonic() + 30
        while record.status != "sent" and time.monotonic() < deadline:
            time.sleep(0.2)
            record.refresh_from_db()
    ids = {p.headers["x-parley-notification-id"] for p in posts}
    assert ids == {str(record.pk)}
    assert all(_valid_signature(p) for p in posts)
    assert PushNotification.objects.count() == 1
    assert (record.status, record.attempts) == ("sent", 2)


@pytest.mark.django_db
def test_muted_and_caught_up_members_get_no_push(settings, webhook, client_for):
    settings.PARLEY_PUSH_COALESCE_SECONDS = 60
    owner, muted, caught_up, offline = make_user(), make_user(), make_user(), make_user()
    group = make_group(owner, muted, caught_up, offline)
    response = client_for(muted).patch(
        f"/api/conversations/{group.pk}/membership/", {"muted": True}, format="json"
    )
    assert response.status_code == 200 and response.json()["muted"] is True
    ack = message_send(sender=owner, conversation_id=group.pk, client_msg_id="m1", body="hey")
    window = _window_ms(group)
    Membership.objects.filter(user=caught_up, conversation=group).update(delivered_seq=ack["seq"])

    pending = push_window_notify(conversation_id=group.pk, window_ms=window, window_seconds=60)
    assert list(PushNotification.objects.values_list("user_id", flat=True)) == [offline.pk]
    assert len(pending) == 1
    # Redoing the window (a retried task) stores and sends nothing new.
    assert push_window_notify(conversation_id=group.pk, window_ms=window, window_seconds=60) == (
        pending
    )
    assert push_deliver(notification_id=pending[0]).status == "sent"
    assert push_window_notify(conversation_id=group.pk, window_ms=window, window_seconds=60) == []
    assert len(webhook.requests) == 1 and _valid_signature(webhook.requests[0])
    assert PushNotification.objects.count() == 1

    # Muting after the notification was stored but before delivery still stops it.
    later = message_send(sender=owner, conversation_id=group.pk, client_msg_id="m2", body="2")
    Membership.objects.filter(user=caught_up, conversation=group).update(delivered_seq=later["seq"])
    other_window = _window_ms(group) + 60_000
    Message.objects.filter(conversation=group, seq=later["seq"]).update(
        id=message_id_floor(datetime.fromtimestamp(other_window / 1000, tz=UTC)) + 1
    )
    [queued] = push_window_notify(
        conversation_id=group.pk, window_ms=other_window, window_seconds=60
    )
    client_for(offline).patch(
        f"/api/conversations/{group.pk}/membership/", {"muted": True}, format="json"
    )
    assert push_deliver(notification_id=queued).status == "skipped"
    assert PushNotification.objects.get(pk=queued).status == "skipped"
    assert len(webhook.requests) == 1


@pytest.mark.django_db
def test_webhook_failures_are_retried_with_backoff_then_given_up(settings, webhook):
    settings.PARLEY_PUSH_MAX_ATTEMPTS = 3
    webhook.respond = lambda n: 503
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
    window = _window_ms(direct)
    [nid] = push_window_notify(conversation_id=direct.pk, window_ms=window, window_seconds=60)
    first = push_deliver(notification_id=nid)
    second = push_deliver(notification_id=nid)
    assert first.status == second.status == "retry"
    assert second.retry_in > first.retry_in  # backoff grows
    assert push_deliver(notification_id=nid).status == "failed"
    record = PushNotification.objects.get()
    assert (record.status, record.attempts) == ("failed", 3)
    assert "503" in record.last_error
    assert {r.headers["x-parley-notification-id"] for r in webhook.requests} == {nid}


@pytest.mark.django_db
def test_a_rejected_webhook_is_not_retried(settings, webhook):
    webhook.respond = lambda n: 400
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
    window = _window_ms(direct)
    [nid] = push_window_notify(conversation_id=direct.pk, window_ms=window, window_seconds=60)
    assert push_deliver(notification_id=nid).status == "failed"
    assert push_deliver(notification_id=nid).status == "done"
    assert len(webhook.requests) == 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.django_db
def test_web_push_sends_an_encrypted_vapid_signed_payload_and_drops_gone_subscriptions(
    settings,
):
    import http_ece
    from py_vapid import Vapid

    vapid = Vapid()
    vapid.generate_keys()
    settings.PARLEY_VAPID_PRIVATE_KEY = vapid.private_pem().decode()
    settings.PARLEY_PUSH_WEBHOOK_URL = ""
    browser_key = ec.generate_private_key(ec.SECP256R1())
    auth_secret = os.urandom(16)
    p256dh = _b64(
        browser_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    with http_receiver() as push_service:
        push_service.respond = lambda n: 201 if n == 1 else 410
        WebPushSubscription.objects.create(
            user=bob, endpoint=push_service.url, p256dh=p256dh, auth=_b64(auth_secret)
        )
        message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
        [nid] = push_window_notify(
            conversation_id=direct.pk, window_ms=_window_ms(direct), window_seconds=60
        )
        assert push_deliver(notification_id=nid).status == "sent"
        [request] = push_service.requests
        assert request.headers["content-encoding"] == "aes128gcm"
        assert request.headers["authorization"].startswith("vapid t=")
        payload = json.loads(
            http_ece.decrypt(
                request.body,
                private_key=browser_key,
                auth_secret=auth_secret,
                version="aes128gcm",
            )
        )
        assert payload["id"] == nid and payload["conversation"]["id"] == direct.pk

        # The browser unsubscribed: the push service answers 410 and the subscription goes.
        group = make_group(alice, bob)
        message_send(sender=alice, conversation_id=group.pk, client_msg_id="m2", body="y")
        [gone] = push_window_notify(
            conversation_id=group.pk, window_ms=_window_ms(group), window_seconds=60
        )
        assert push_deliver(notification_id=gone).status == "failed"
    assert not WebPushSubscription.objects.exists()
    assert "410" in PushNotification.objects.get(pk=gone).last_error


@pytest.mark.django_db
def test_webpush_subscription_api(client_for, settings):
    settings.PARLEY_VAPID_PRIVATE_KEY = "k"
    settings.PARLEY_VAPID_PUBLIC_KEY = "BPublic"
    bob = make_user()
    client = client_for(bob)
    assert client.get("/api/push/webpush/").json() == {"enabled": True, "public_key": "BPublic"}
    subscription = {
        "endpoint": "https://push.example.com/abc",
        "keys": {"p256dh": "BKey_-", "auth": "c2VjcmV0"},
    }
    url = "/api/push/webpush/subscriptions/"
    assert client.post(url, subscription, format="json").status_code == 201
    assert client.post(url, subscription, format="json").status_code == 200
    bad = client.post(url, {**subscription, "endpoint": "http://x"}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "endpoint"
    bad = client.post(url, {"endpoint": "https://x/y", "keys": "no"}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "keys"
    assert WebPushSubscription.objects.get().user == bob
    assert (
        client.delete(url, {"endpoint": subscription["endpoint"]}, format="json").status_code == 204
    )
    assert not WebPushSubscription.objects.exists()


@pytest.mark.django_db
def test_membership_patch_rejects_bad_input_and_strangers(client_for):
    alice, bob, stranger = make_user(), make_user(), make_user()
    direct = make_direct(alice, bob)
    url = f"/api/conversations/{direct.pk}/membership/"
    client = client_for(alice)
    for body, field in (({"muted": "yes"}, "muted"), ({"role": "owner"}, "role"), ({}, "muted")):
        response = client.patch(url, body, format="json")
        assert response.status_code == 400 and response.json()["field"] == field
    assert client_for(stranger).patch(url, {"muted": True}, format="json").status_code == 404
    assert client.get(url).json()["muted"] is False
    assert client.patch(url, {"muted": True}, format="json").json()["muted"] is True
    assert client.get(url).json()["muted"] is True
    assert connection.vendor in {"sqlite", "postgresql"}


@pytest.mark.django_db(transaction=True)
def test_embedded_default_pushes_after_the_delay_without_a_worker(settings, webhook):
    """With eager Celery (the embedded default) the delay runs on an in-process timer."""
    from chatsite.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.PARLEY_PUSH_DELAY_SECONDS = 0.3
    settings.PARLEY_PUSH_COALESCE_SECONDS = 1
    # The test database is SQLite's shared cache, where a write that meets this thread's polling
    # read fails at once ("table is locked") instead of waiting. A delivery whose "sent" could not
    # be stored is redone when its lease (2 x timeout + 1 s) ends; keep that wait short.
    settings.PARLEY_PUSH_TIMEOUT = 2
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        alice, bob = make_user(), make_user()
        direct = make_direct(alice, bob)
        message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
        assert webhook.requests == []  # not before the delay
        post = webhook.wait_for(1, timeout=20)[0]
        deadline = time.monotonic() + 30
        while PushNotification.objects.filter(status="sent").count() != 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        app.conf.task_always_eager = eager
    assert _valid_signature(post) and post.json()["user"]["id"] == bob.pk


@pytest.mark.django_db
def test_notifications_are_listed_in_the_admin(client, webhook):
    admin = make_user(is_staff=True, is_superuser=True)
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
    [nid] = push_window_notify(
        conversation_id=direct.pk, window_ms=_window_ms(direct), window_seconds=60
    )
    push_deliver(notification_id=nid)
    client.force_login(admin)
    listing = client.get("/admin/push/pushnotification/")
    assert listing.status_code == 200
    assert bob.username in listing.content.decode()
    detail = client.get(f"/admin/push/pushnotification/{nid}/change/")
    assert detail.status_code == 200 and "sent" in detail.content.decode()
