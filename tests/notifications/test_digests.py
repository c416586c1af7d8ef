"""Email notifications of unread direct messages and mentions, read from a real SMTP server on
loopback; time moves with time-machine."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from messaging.services import message_send
from notifications.tasks import email_digests_send
from presence.services import presence_connect
from tests.factories import make_direct, make_group, make_user
from tests.smtp import body_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


def reader(name: str):
    return make_user(name, email=f"{name}@example.com", email_verified=True)


def send(sender, conversation, body: str) -> dict:
    send.n = getattr(send, "n", 0) + 1
    return message_send(
        sender=sender, conversation_id=conversation.pk, client_msg_id=f"c{send.n}", body=body
    )


def test_one_mail_after_the_delay_then_at_most_one_per_interval(smtp_server):
    alice, bob = reader("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        send(bob, direct, "are you there?")
        clock.shift(timedelta(minutes=5))
        assert email_digests_send() == 0  # not before PARLEY_EMAIL_NOTIFY_DELAY (10 min)
        clock.shift(timedelta(minutes=6))
        assert email_digests_send() == 1
        [mail] = smtp_server.wait_for(1)
        text = body_of(mail)
        assert mail["To"] == "alice@example.com"
        assert "bob: are you there?" in text
        assert f"http://parley.test/?conversation={direct.pk}" in text
        assert (
            str(mail["List-Unsubscribe"])
            .strip()
            .startswith("<http://parley.test/notifications/unsubscribe/?token=")
        )
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert email_digests_send() == 0  # nothing mailed twice

        send(bob, direct, "hello again")
        clock.shift(timedelta(minutes=12))
        assert email_digests_send() == 0  # the last mail is under 30 minutes old
        clock.shift(timedelta(minutes=20))
        assert email_digests_send() == 1
        second = smtp_server.wait_for(2)[1]
    assert "bob: hello again" in body_of(second)
    assert "are you there?" not in body_of(second)


def test_what_was_read_meanwhile_is_not_mailed(smtp_server, client_for):
    alice, bob = reader("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        ack = send(bob, direct, "seen it?")
        read = client_for(alice).post(
            f"/api/conversations/{direct.pk}/read/", {"seq": ack["seq"]}, format="json"
        )
        assert read.status_code in (200, 204)
        clock.shift(timedelta(minutes=15))
        assert email_digests_send() == 0
    assert smtp_server.messages == []


def test_online_users_and_unconfirmed_addresses_get_no_mail(smtp_server):
    alice, bob = reader("alice"), make_user("bob")
    carol = make_user("carol", email="carol@example.com")  # not confirmed
    make_direct(alice, bob)
    direct_carol = make_direct(carol, bob)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        send(bob, make_direct(alice, bob), "ping")
        send(bob, direct_carol, "ping")
        clock.shift(timedelta(minutes=11))
        presence_connect(user_id=alice.pk, connection_id="alice-tab")  # back, a tab open
        assert email_digests_send() == 0
    assert smtp_server.messages == []


def test_groups_mail_mentions_only_and_level_none_mails_nothing(smtp_server, client_for):
    alice, bob, dave = reader("alice"), make_user("bob"), reader("dave")
    group = make_group(bob, alice, dave)
    client_for(dave).patch(
        f"/api/conversations/{group.pk}/membership/", {"notify": "none"}, format="json"
    )
    with time_machine.travel(timezone.now(), tick=False) as clock:
        send(bob, group, "lunch anyone?")
        send(bob, group, "@alice @dave the report please")
        clock.shift(timedelta(minutes=11))
        assert email_digests_send() == 1
        [mail] = smtp_server.wait_for(1)
    assert mail["To"] == "alice@example.com"
    assert "the report please" in body_of(mail)
    assert "lunch" not in body_of(mail)


def test_the_one_click_unsubscribe_link_stops_mails(smtp_server):
    alice, bob = reader("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        send(bob, direct, "first")
        clock.shift(timedelta(minutes=11))
        email_digests_send()
        [mail] = smtp_server.wait_for(1)
        link = str(mail["List-Unsubscribe"]).strip().strip("<>")
        parts = urlsplit(link)
        page = Client().get(f"{parts.path}?{parts.query}")
        assert page.status_code == 200 and b"Unsubscribe" in page.content
        # What a mail client does (RFC 8058): a POST without a session or CSRF token.
        done = Client(enforce_csrf_checks=True).post(
            f"{parts.path}?{parts.query}", {"List-Unsubscribe": "One-Click"}
        )
        assert done.status_code == 200
        forged = Client().post(f"{parts.path}?token=x{parts.query[7:]}")
        assert forged.status_code == 400
        send(bob, direct, "second")
        clock.shift(timedelta(hours=2))
        assert email_digests_send() == 0
    assert len(smtp_server.messages) == 1
