"""Account deletion: confirmed by password or second factor, the account stops at once
(sockets closed 4401), then the job anonymises it; groups pass on; messages kept or deleted."""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from accounts.models import User
from groups.services import group_member_add
from integrations.services import bot_create
from lifecycle.deletion import account_delete_request
from lifecycle.models import Job
from messaging.models import Membership, Message
from messaging.services import message_send
from push.models import WebPushSubscription
from tests.accounts.test_twofactor import enrol
from tests.factories import PASSWORD, make_direct, make_group, make_user
from tests.ws import close_code, ready_socket

pytestmark = pytest.mark.django_db(transaction=True)
db = sync_to_async


def send(user, conversation, body, n=[0]):  # noqa: B006 (a counter across calls)
    n[0] += 1
    return message_send(
        sender=user, conversation_id=conversation.pk, client_msg_id=f"d{n[0]}", body=body
    )


def test_deletion_needs_the_password(client_for):
    alice = make_user("alice")
    client = client_for(alice)
    for body in ({}, {"password": "wrong"}):
        response = client.delete("/api/me/", body, format="json")
        assert response.status_code == 400 and response.json()["field"] == "password"
    alice.refresh_from_db()
    assert alice.is_active and not Job.objects.exists()


def test_deleting_my_account_anonymises_it_and_passes_my_groups_on(client_for, eager_celery):
    alice = make_user("alice", email="alice@example.com", display_name="Alice L.")
    bob, carol, dave = make_user("bob"), make_user("carol"), make_user("dave")
    team = make_group(alice, bob, carol, name="team")  # bob joined before carol
    Membership.objects.filter(conversation=team, user=carol).update(role="admin")
    club = make_group(alice, dave, name="club")  # no admin: the oldest member
    group_member_add(actor=alice, group_id=club.pk, user_id=bob.pk)  # bob joins later
    direct = make_direct(alice, bob)
    send(alice, direct, "remember me")
    WebPushSubscription.objects.create(
        user=alice, endpoint="https://push.example/1", p256dh="k", auth="a"
    )
    client = client_for(alice)

    response = client.delete("/api/me/", {"password": PASSWORD}, format="json")
    assert response.status_code == 202
    assert response.json()["kind"] == "account_delete"
    assert client.get("/api/me/").status_code == 401  # refused at once

    alice.refresh_from_db()
    assert alice.username == f"deleted-{alice.pk}" and alice.display_name == "Deleted user"
    assert alice.email == "" and not alice.is_active and not alice.has_usable_password()
    assert not WebPushSubscription.objects.filter(user=alice).exists()
    assert Membership.objects.get(conversation=team, user=carol).role == "owner"  # oldest admin
    assert Membership.objects.get(conversation=club, user=dave).role == "owner"  # oldest member
    assert not Membership.objects.filter(user=alice, conversation__kind="group").exists()
    history = client_for(bob).get(f"/api/conversations/{direct.pk}/messages/").json()
    [kept] = [m for m in history["results"] if m["body"] == "remember me"]
    assert kept["sender"]["display_name"] == "Deleted user"
    assert Job.objects.get(kind="account_delete").status == "done"
    # Bob's view of the direct chat stays; the account cannot be deleted twice.
    assert client_for(bob).get("/api/conversations/").status_code == 200


def test_messages_go_too_when_the_setting_says_so(client_for, eager_celery, settings):
    settings.PARLEY_DELETE_USER_MESSAGES = True
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    send(alice, direct, "forget me")
    send(bob, direct, "bob stays")
    client_for(alice).delete("/api/me/", {"password": PASSWORD}, format="json")
    rows = {m.body: m for m in Message.objects.filter(conversation=direct)}
    assert set(rows) == {"", "bob stays"}
    assert rows[""].deleted_at is not None and rows[""].change_seq > 0
    changes = client_for(bob).get(f"/api/conversations/{direct.pk}/changes/?after_change_seq=0")
    assert [c["type"] for c in changes.json()["results"]] == ["message_deleted"]


def test_a_second_factor_code_confirms_too(client_for, eager_celery):
    alice = make_user("alice")
    client = client_for(alice)
    recovery = enrol(client, alice)  # the enrolment's code is used up: a recovery code
    response = client.delete("/api/me/", {"code": "000000"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "code"
    response = client.delete("/api/me/", {"code": recovery[0]}, format="json")
    assert response.status_code == 202


async def test_the_sockets_close_with_4401():
    alice = await db(make_user)("alice")
    socket, _ = await ready_socket(alice)
    await db(account_delete_request)(user=alice, password=PASSWORD)
    assert await close_code(socket) == 4401


def test_staff_delete_accounts_in_the_admin(eager_celery):
    staff = make_user("root", is_staff=True, is_superuser=True)
    alice = make_user("alice")
    bot, _ = bot_create(owner=alice, username="alicebot", display_name="Alice's bot")
    client = Client()
    client.force_login(staff)
    response = client.post(
        "/admin/accounts/user/", {"action": "delete_accounts", "_selected_action": [alice.pk]}
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.username == f"deleted-{alice.pk}" and not alice.is_active
    assert not User.objects.get(pk=bot.user_id).is_active  # the bots of the account stop too
