import base64
import hashlib
import hmac
import json
import os
import socket
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


# A globally routable address (nothing is sent to it: the tests resolve names themselves).
PUBLIC_ADDRESS = "93.184.215.14"


@pytest.fixture
def dns(monkeypatch):
    """The test's own DNS: {name: address}; other names go to the system resolver (this machine
    has no public DNS, and a test must be able to change an answer)."""
    names: dict[str, str] = {}
    system = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in names:
            address = names[host]
            if ":" in address:
                return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return system(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


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
    # The push service here is a plain-http receiver on loopback (test/dev only setting).
    settings.PARLEY_PUSH_ALLOW_PRIVATE_ENDPOINTS = True
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
def test_webpush_subscription_api(client_for, settings, dns):
    dns["push.example.com"] = PUBLIC_ADDRESS
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


SUBSCRIPTIONS = "/api/push/webpush/subscriptions/"
KEYS = {"p256dh": "BKey_-", "auth": "c2VjcmV0"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("endpoint", "why"),
    [
        ("https://127.0.0.1:6379/x", "port"),
        ("https://127.0.0.1/x", "127.0.0.1"),
        ("https://10.1.2.3/x", "10.1.2.3"),
        ("https://192.168.0.1/x", "192.168.0.1"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("https://100.64.0.1/x", "100.64.0.1"),
        ("https://0.0.0.0/x", "0.0.0.0"),  # noqa: S104
        ("https://224.0.0.1/x", "224.0.0.1"),
        ("https://[::1]/x", "::1"),
        ("https://[::]/x", "::"),
        ("https://[fe80::1]/x", "fe80::1"),
        ("https://[fd00::1]/x", "fd00::1"),
        ("https://[ff02::1]/x", "ff02::1"),
        ("https://[::ffff:127.0.0.1]/x", "127.0.0.1"),
        ("https://[::ffff:10.0.0.1]/x", "10.0.0.1"),
        ("https://[2002:7f00:1::]/x", "2002:7f00:1::"),
        ("https://[64:ff9b::a9fe:a9fe]/x", "64:ff9b::a9fe:a9fe"),
        ("https://localhost/x", "localhost"),
        ("https://internal.example.com/x", "internal.example.com"),
        ("https://push.example.com:6379/x", "port"),
        ("https://push.example.com:8443/x", "port"),
        ("https://user:pw@push.example.com/x", "credentials"),
        ("https://unresolvable.invalid/x", "does not resolve"),
    ],
)
def test_webpush_subscribe_refuses_endpoints_that_are_not_public_on_port_443(
    client_for, dns, endpoint, why
):
    dns["push.example.com"] = PUBLIC_ADDRESS
    dns["internal.example.com"] = "10.0.0.7"
    response = client_for(make_user()).post(
        SUBSCRIPTIONS, {"endpoint": endpoint, "keys": KEYS}, format="json"
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["code"], body["field"]) == ("bad_request", "endpoint")
    assert why in body["detail"]
    assert not WebPushSubscription.objects.exists()


@pytest.mark.django_db
def test_webpush_subscribe_accepts_public_endpoints(client_for, dns):
    dns["push.example.com"] = PUBLIC_ADDRESS
    dns["push6.example.com"] = "2606:4700::1111"
    client = client_for(make_user())
    for endpoint in (
        "https://push.example.com/a",
        "https://push.example.com:443/b",
        "https://push6.example.com/c",
        f"https://{PUBLIC_ADDRESS}/d",
    ):
        response = client.post(SUBSCRIPTIONS, {"endpoint": endpoint, "keys": KEYS}, format="json")
        assert response.status_code == 201, response.content


@pytest.mark.django_db
def test_another_account_cannot_take_over_a_webpush_endpoint(client_for, dns):
    dns["push.example.com"] = PUBLIC_ADDRESS
    owner, intruder = make_user(), make_user()
    endpoint = "https://push.example.com/owner-browser"
    assert (
        client_for(owner)
        .post(SUBSCRIPTIONS, {"endpoint": endpoint, "keys": KEYS}, format="json")
        .status_code
        == 201
    )
    other_keys = {"p256dh": "BIntruder", "auth": "aW50cnVkZXI"}
    for keys in (KEYS, other_keys):
        taken = client_for(intruder).post(
            SUBSCRIPTIONS, {"endpoint": endpoint, "keys": keys}, format="json"
        )
        assert taken.status_code == 409
        assert (taken.json()["code"], taken.json()["field"]) == ("conflict", "endpoint")
    # Deleting it as the intruder does nothing either.
    client_for(intruder).delete(SUBSCRIPTIONS, {"endpoint": endpoint}, format="json")
    subscription = WebPushSubscription.objects.get()
    assert (subscription.user, subscription.p256dh, subscription.auth) == (
        owner,
        KEYS["p256dh"],
        KEYS["auth"],
    )
    # The owner may still refresh its keys.
    refreshed = client_for(owner).post(
        SUBSCRIPTIONS, {"endpoint": endpoint, "keys": other_keys}, format="json"
    )
    assert refreshed.status_code == 200
    assert WebPushSubscription.objects.get().p256dh == "BIntruder"


@pytest.mark.django_db
def test_web_push_is_not_sent_when_the_endpoint_resolves_privately_at_send_time(
    settings, client_for, dns
):
    """DNS answered a public address at subscribe time and a loopback one later: nothing is
    posted there, and the notification fails at once instead of being retried into it."""
    from py_vapid import Vapid

    vapid = Vapid()
    vapid.generate_keys()
    settings.PARLEY_VAPID_PRIVATE_KEY = vapid.private_pem().decode()
    settings.PARLEY_PUSH_WEBHOOK_URL = ""
    browser_key = ec.generate_private_key(ec.SECP256R1())
    p256dh = _b64(
        browser_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    dns["push.example.com"] = PUBLIC_ADDRESS
    subscribed = client_for(bob).post(
        SUBSCRIPTIONS,
        {
            "endpoint": "https://push.example.com/bob",
            "keys": {"p256dh": p256dh, "auth": _b64(os.urandom(16))},
        },
        format="json",
    )
    assert subscribed.status_code == 201
    dns["push.example.com"] = "127.0.0.1"  # rebound
    message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
    [nid] = push_window_notify(
        conversation_id=direct.pk, window_ms=_window_ms(direct), window_seconds=60
    )
    assert push_deliver(notification_id=nid).status == "failed"
    record = PushNotification.objects.get(pk=nid)
    assert (record.status, record.attempts) == ("failed", 1)
    assert "127.0.0.1, not a public address" in record.last_error
    # The subscription stays: the name may resolve publicly again.
    assert WebPushSubscription.objects.filter(user=bob).exists()
