"""The announcement conversation: everyone in it, only staff post, delivered to everyone."""

import pytest
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from announcements.services import announcement_conversation_ensure, broadcast_post
from audit.models import AuditLogEntry
from messaging.models import Conversation, Membership, Message
from tests.factories import PASSWORD, make_user, make_users
from tests.ws import ready_socket, receive

db = database_sync_to_async


def post(client, cid="b1", body="Maintenance at 22:00"):
    return client.post("/api/broadcasts/", {"client_msg_id": cid, "body": body}, format="json")


@pytest.mark.django_db
def test_non_staff_get_403_and_nothing_is_stored(client_for):
    alice = make_user("alice")
    response = post(client_for(alice))
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_an_announcement_carries_files_like_any_message(client_for, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "uploads": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path},
        },
    }
    staff, alice = make_user("staff", is_staff=True), make_user("alice")
    staff_client = client_for(staff)
    upload = staff_client.post(
        "/api/uploads/",
        {"file": SimpleUploadedFile("agenda.txt", b"10:00 all hands")},
        format="multipart",
    ).json()
    response = staff_client.post(
        "/api/broadcasts/",
        {"client_msg_id": "b-file", "body": "Agenda attached", "attachments": [upload["id"]]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    news = Conversation.objects.get(kind="announcement")
    [message] = client_for(alice).get(f"/api/conversations/{news.pk}/messages/").json()["results"]
    assert [a["name"] for a in message["attachments"]] == ["agenda.txt"]
    # Not staff: refused whatever the payload carries, nothing stored.
    refused = client_for(alice).post(
        "/api/broadcasts/", {"client_msg_id": "x", "attachments": ["nope"]}, format="json"
    )
    assert refused.status_code in (400, 403) and Message.objects.count() == 1


@pytest.mark.django_db
def test_anonymous_get_401(anon_client):
    assert post(anon_client).status_code == 401


@pytest.mark.django_db
def test_first_broadcast_enrols_every_active_user(client_for):
    staff = make_user("staff", is_staff=True)
    alice, bob = make_users("alice", "bob")
    banned = make_user("banned", is_active=False)
    response = post(client_for(staff))
    assert response.status_code == 201
    ack = response.json()
    news = Conversation.objects.get(kind="announcement")
    assert ack["conversation"] == news.pk and ack["seq"] == 1
    members = set(Membership.objects.filter(conversation=news).values_list("user_id", flat=True))
    assert members == {staff.pk, alice.pk, bob.pk} and banned.pk not in members
    # Kept for history like any message; a retry is a duplicate.
    page = client_for(alice).get(f"/api/conversations/{news.pk}/messages/").json()
    assert [m["body"] for m in page["results"]] == ["Maintenance at 22:00"]
    again = post(client_for(staff))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    row = AuditLogEntry.objects.get()
    assert (row.actor_id, row.action, row.via, row.target_id) == (
        staff.pk,
        "broadcast_post",
        "api",
        ack["id"],
    )


@pytest.mark.django_db
def test_new_users_join_the_announcement_conversation_and_see_earlier_ones(client_for, anon_client):
    staff = make_user("staff", is_staff=True)
    post(client_for(staff), body="Welcome, everyone")
    created = anon_client.post(
        "/api/auth/register/", {"username": "newbie", "password": PASSWORD}, format="json"
    )
    assert created.status_code == 201
    newbie = Membership.objects.get(user_id=created.json()["id"], conversation__kind="announcement")
    page = client_for(newbie.user).get(f"/api/conversations/{newbie.conversation_id}/messages/")
    assert [m["body"] for m in page.json()["results"]] == ["Welcome, everyone"]
    # A user made any other way (createsuperuser, the admin) is enrolled too.
    other = make_user("other")
    assert Membership.objects.filter(user=other, conversation__kind="announcement").exists()


@pytest.mark.django_db
def test_members_cannot_send_into_it_over_rest(client_for):
    staff, alice = make_user("staff", is_staff=True), make_user("alice")
    news = announcement_conversation_ensure()
    response = client_for(alice).post(
        f"/api/conversations/{news}/messages/", {"client_msg_id": "a", "body": "hi"}, format="json"
    )
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert Membership.objects.filter(user=staff, conversation_id=news).exists()


@pytest.mark.django_db(transaction=True)
async def test_a_broadcast_reaches_every_connected_user_and_non_staff_sends_are_forbidden():
    staff = await db(make_user)("staff", is_staff=True)
    users = await db(make_users)("u1", "u2", "u3")
    news = await db(announcement_conversation_ensure)()
    sockets = [(await ready_socket(user))[0] for user in users]

    await sockets[0].send_json_to(
        {"type": "send", "conversation": news, "client_msg_id": "u-1", "body": "me too"}
    )
    error = await receive(sockets[0], "error")
    assert error["code"] == "forbidden" and error["ref"] == "u-1"

    await db(broadcast_post)(actor=staff, client_msg_id="s1", body="Hello all")
    for socket in sockets:
        frame = await receive(socket, "message")
        assert frame["conversation"] == news and frame["body"] == "Hello all"
        assert frame["sender"]["username"] == "staff"
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_connected_users_are_told_when_the_first_broadcast_creates_the_conversation():
    staff, alice = await db(make_user)("staff", is_staff=True), await db(make_user)("alice")
    a, ready = await ready_socket(alice)
    assert ready["conversations"] == []
    await db(broadcast_post)(actor=staff, client_msg_id="s1", body="First!")
    joined = await receive(a, "conversation")
    assert joined["conversation"]["kind"] == "announcement"
    assert joined["conversation"]["title"] == "Announcements"
    # Its first message follows on the socket (live, or read back to fill the gap).
    await db(broadcast_post)(actor=staff, client_msg_id="s2", body="Second")
    first = await receive(a, "message")
    second = await receive(a, "message")
    assert [first["body"], second["body"]] == ["First!", "Second"]
    await a.disconnect()


@pytest.mark.django_db
def test_staff_post_from_the_admin():
    staff = make_user("staff", is_staff=True, is_superuser=True)
    alice = make_user("alice")
    client = Client()
    client.force_login(staff)
    response = client.post("/admin/announcements/announcement/add/", {"body": "From the admin"})
    assert response.status_code == 302, response.content[:500]
    message = Message.objects.get(conversation__kind="announcement")
    assert message.body == "From the admin" and message.sender == staff
    assert Membership.objects.filter(user=alice, conversation=message.conversation).exists()
    row = AuditLogEntry.objects.get()
    assert (row.action, row.via) == ("broadcast_post", "admin")
    listing = client.get("/admin/announcements/announcement/")
    assert b"From the admin" in listing.content

    alice.is_staff = False
    outsider = Client()
    outsider.force_login(alice)
    refused = outsider.post("/admin/announcements/announcement/add/", {"body": "me"})
    assert refused.status_code == 302 and "/admin/login/" in refused["Location"]
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_a_user_activated_later_is_enrolled():
    from moderation.services import user_unban

    staff = make_user("staff", is_staff=True)
    dormant = make_user("dormant", is_active=False)
    news = announcement_conversation_ensure()
    assert not Membership.objects.filter(user=dormant, conversation_id=news).exists()
    user_unban(actor=staff, user=dormant)
    assert Membership.objects.filter(user=dormant, conversation_id=news).exists()
