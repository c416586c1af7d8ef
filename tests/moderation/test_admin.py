"""Moderation in the Django admin: bans, message search and tombstones, group editing, and the
read-only audit log."""

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken

from audit.models import AuditLogEntry
from messaging.models import Membership, Message
from messaging.services import message_send
from moderation.services import user_ban
from tests.factories import access_token, make_direct, make_group, make_user, make_users
from tests.ws import close_code, open_socket, ready_socket, receive

db = database_sync_to_async


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def moderator(db):
    return make_user("mod", is_staff=True, is_superuser=True)


def ban_action(client, users, action="ban_users", reason="spam"):
    return client.post(
        "/admin/accounts/user/",
        {"action": action, "_selected_action": [u.pk for u in users], "reason": reason},
    )


@pytest.mark.django_db
def test_user_search_and_ban_and_unban(moderator, client_for):
    alice, bob = make_users("alice", "bob")
    client = admin_client(moderator)
    listing = client.get("/admin/accounts/user/", {"q": "ali"})
    assert b"alice" in listing.content and b">bob<" not in listing.content

    token_client = client_for(alice)
    assert token_client.get("/api/me/").status_code == 200
    refresh = str(RefreshToken.for_user(alice))
    session = admin_client(alice)  # a browser session of alice's
    assert ban_action(client, [alice]).status_code == 302
    alice.refresh_from_db()
    assert alice.is_active is False
    assert token_client.get("/api/me/").status_code == 401
    assert session.get("/api/me/").status_code == 401  # no longer logged in
    refused = client_for(alice).post(
        "/api/auth/token/", {"username": "alice", "password": "x"}, format="json"
    )
    assert refused.status_code == 401
    renewed = client_for(alice).post(
        "/api/auth/token/refresh/", {"refresh": refresh}, format="json"
    )
    assert renewed.status_code == 401

    assert ban_action(client, [alice], action="unban_users", reason="appeal").status_code == 302
    alice.refresh_from_db()
    assert alice.is_active is True
    rows = list(AuditLogEntry.objects.order_by("id"))
    assert [(r.actor_id, r.action, r.target_id, r.reason, r.via) for r in rows] == [
        (moderator.pk, "user_ban", str(alice.pk), "spam", "admin"),
        (moderator.pk, "user_unban", str(alice.pk), "appeal", "admin"),
    ]
    assert bob.pk not in [int(r.target_id) for r in rows]


@pytest.mark.django_db
def test_unticking_active_on_the_form_is_an_audited_ban(moderator):
    alice = make_user("alice")
    client = admin_client(moderator)
    form = client.get(f"/admin/accounts/user/{alice.pk}/change/")
    assert form.status_code == 200
    response = client.post(
        f"/admin/accounts/user/{alice.pk}/change/",
        {
            "username": "alice",
            "first_name": "",
            "last_name": "",
            "email": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    alice.refresh_from_db()
    assert alice.is_active is False
    assert AuditLogEntry.objects.get().action == "user_ban"


@pytest.mark.django_db(transaction=True)
async def test_a_ban_closes_live_sockets_with_4403_and_refuses_the_old_token():
    moderator = await db(make_user)("mod", is_staff=True)
    alice, bob = await db(make_users)("alice", "bob")
    token = await db(access_token)(alice)
    phone, _ = await ready_socket(alice)
    laptop, _ = await ready_socket(alice)
    other, _ = await ready_socket(bob)

    await db(user_ban)(actor=moderator, user=alice, reason="abuse")
    assert await close_code(phone) == 4403
    assert await close_code(laptop) == 4403
    assert await other.receive_nothing(timeout=0.3)  # only alice is affected

    again = await open_socket(None, headers=[(b"authorization", f"Bearer {token}".encode())])
    assert await close_code(again) == 4401
    await other.disconnect()


@pytest.mark.django_db
def test_message_search_and_tombstone_delete(moderator):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    spam = message_send(
        sender=alice, conversation_id=direct.pk, client_msg_id="s", body="buy pills"
    )
    message_send(sender=bob, conversation_id=direct.pk, client_msg_id="h", body="hello there")
    client = admin_client(moderator)
    by_text = client.get("/admin/messaging/message/", {"q": "pills"})
    assert b"buy pills" in by_text.content and b"hello there" not in by_text.content
    by_sender = client.get("/admin/messaging/message/", {"q": "bob"})
    assert b"hello there" in by_sender.content and b"buy pills" not in by_sender.content
    by_conversation = client.get("/admin/messaging/message/", {"q": str(direct.pk)})
    assert by_conversation.status_code == 200 and b"hello there" in by_conversation.content
    today = Message.objects.get(pk=int(spam["id"])).created_at
    by_date = client.get(
        "/admin/messaging/message/",
        {"created_at__year": today.year, "created_at__month": today.month},
    )
    assert b"buy pills" in by_date.content

    response = client.post(
        "/admin/messaging/message/",
        {"action": "delete_as_tombstones", "_selected_action": [spam["id"]], "reason": "spam"},
    )
    assert response.status_code == 302
    message = Message.objects.get(pk=int(spam["id"]))
    assert message.deleted_at is not None and message.body == ""
    row = AuditLogEntry.objects.get()
    assert (row.action, row.target_id, row.reason, row.via) == (
        "message_delete",
        spam["id"],
        "spam",
        "admin",
    )
    # Rows are never hard-deleted from the admin.
    assert client.get(f"/admin/messaging/message/{spam['id']}/delete/").status_code == 403


@pytest.mark.django_db(transaction=True)
async def test_admin_tombstone_is_pushed_live():
    moderator = await db(make_user)("mod", is_staff=True, is_superuser=True)
    alice, bob = await db(make_users)("alice", "bob")
    group = await db(make_group)(alice, bob)
    ack = await db(message_send)(
        sender=alice, conversation_id=group.pk, client_msg_id="x", body="nasty"
    )
    b, _ = await ready_socket(bob)
    client = await db(admin_client)(moderator)
    await db(client.post)(
        "/admin/messaging/message/",
        {"action": "delete_as_tombstones", "_selected_action": [ack["id"]]},
    )
    frame = await receive(b, "message_deleted")
    assert frame["id"] == ack["id"] and frame["conversation"] == group.pk
    await b.disconnect()


@pytest.mark.django_db
def test_groups_and_memberships_are_editable_through_the_services(moderator):
    owner, bob, carol = make_users("owner", "bob", "carol")
    group = make_group(owner, bob)
    client = admin_client(moderator)
    page = client.get(f"/admin/messaging/conversation/{group.pk}/change/")
    assert page.status_code == 200 and b"bob" in page.content
    bob_row = Membership.objects.get(conversation=group, user=bob)
    owner_row = Membership.objects.get(conversation=group, user=owner)
    response = client.post(
        f"/admin/messaging/conversation/{group.pk}/change/",
        {
            "name": "renamed",
            "description": "",
            "memberships-TOTAL_FORMS": "3",
            "memberships-INITIAL_FORMS": "2",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-id": owner_row.pk,
            "memberships-0-conversation": group.pk,
            "memberships-0-user": owner.pk,
            "memberships-0-role": "owner",
            "memberships-1-id": bob_row.pk,
            "memberships-1-conversation": group.pk,
            "memberships-1-user": bob.pk,
            "memberships-1-role": "member",
            "memberships-1-DELETE": "on",
            "memberships-2-conversation": group.pk,
            "memberships-2-user": carol.pk,
            "memberships-2-role": "admin",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    group.refresh_from_db()
    assert group.name == "renamed"
    assert dict(
        Membership.objects.filter(conversation=group).values_list("user__username", "role")
    ) == {
        "owner": "owner",
        "carol": "admin",
    }
    events = list(group.messages.order_by("seq").values_list("system__event", flat=True))
    assert sorted(events) == ["group_updated", "member_added", "member_removed"]
    actions = sorted(AuditLogEntry.objects.values_list("action", "via"))
    assert actions == [
        ("group_update", "admin"),
        ("member_add", "admin"),
        ("member_remove", "admin"),
    ]
    assert client.get("/admin/messaging/membership/", {"q": "carol"}).status_code == 200


@pytest.mark.django_db
def test_the_audit_log_is_read_only(moderator):
    alice = make_user("alice")
    user_ban(actor=moderator, user=alice, reason="test")
    row = AuditLogEntry.objects.get()
    client = admin_client(moderator)
    listing = client.get("/admin/audit/auditlogentry/")
    assert listing.status_code == 200 and b"user_ban" in listing.content
    assert client.get(f"/admin/audit/auditlogentry/{row.pk}/change/").status_code == 200
    assert client.get("/admin/audit/auditlogentry/add/").status_code == 403
    assert client.get(f"/admin/audit/auditlogentry/{row.pk}/delete/").status_code == 403
    client.post(f"/admin/audit/auditlogentry/{row.pk}/change/", {"reason": "edited"})
    # Its address before it became an app of its own leads there.
    moved = client.get(f"/admin/moderation/auditlogentry/{row.pk}/change/")
    assert moved.status_code == 302
    assert moved["Location"] == f"/admin/audit/auditlogentry/{row.pk}/change/"
    row.refresh_from_db()
    assert row.reason == "test"
    assert (row.actor_name, row.target_type, row.target_id) == ("mod", "user", str(alice.pk))


@pytest.mark.django_db
def test_a_moderator_cannot_ban_themself(moderator):
    client = admin_client(moderator)
    ban_action(client, [moderator])
    moderator.refresh_from_db()
    assert moderator.is_active and not AuditLogEntry.objects.exists()
