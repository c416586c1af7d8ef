"""Profiles over REST and the gateway: display name, status, timezone, avatar."""

import io
from datetime import timedelta

import pytest
import time_machine
from channels.db import database_sync_to_async
from django.utils import timezone
from PIL import Image

from tests.factories import make_direct, make_group, make_user
from tests.ws import ready_socket, receive, receive_nothing


def png_with_exif(width: int = 400, height: int = 300) -> bytes:
    """A photo-like PNG carrying EXIF (a camera model and a GPS block)."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0110] = "SecretCam 3000"  # Model
    exif[0x8825] = {2: (48.0, 51.0, 24.0)}  # GPSInfo: latitude
    out = io.BytesIO()
    image.save(out, format="PNG", exif=exif)
    return out.getvalue()


def names_field(body: dict, field: str) -> bool:
    """A 400 body about `field`: a service error ({code, detail, field}) or a serializer's."""
    return body.get("field") == field or field in body


@pytest.mark.django_db
class TestProfileRest:
    def test_a_new_account_shows_its_username_and_no_avatar(self, client_for, user):
        profile = client_for(user).get("/api/me/profile/").json()
        assert profile["display_name"] == user.username
        assert profile["avatar_url"] is None
        assert profile["status_text"] == ""
        assert profile["timezone"] == "UTC"

    def test_display_name_in_any_script_is_trimmed(self, client_for, user):
        response = client_for(user).patch(
            "/api/me/profile/", {"display_name": "  Zoë 王小明 ✨  "}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["display_name"] == "Zoë 王小明 ✨"
        assert response.json()["username"] == user.username  # the handle does not change
        assert client_for(user).get("/api/me/").json()["display_name"] == "Zoë 王小明 ✨"

    @pytest.mark.parametrize("bad", ["", "   ", "x" * 65, "two\nlines", "nul\x00"])
    def test_a_bad_display_name_is_a_field_error(self, client_for, user, bad):
        response = client_for(user).patch("/api/me/profile/", {"display_name": bad}, format="json")
        assert response.status_code == 400
        assert names_field(response.json(), "display_name")

    def test_null_display_name_shows_the_username_again(self, client_for, user):
        client = client_for(user)
        client.patch("/api/me/profile/", {"display_name": "Al"}, format="json")
        response = client.patch("/api/me/profile/", {"display_name": None}, format="json")
        assert response.json()["display_name"] == user.username

    def test_timezone_must_be_an_iana_name(self, client_for, user):
        client = client_for(user)
        bad = client.patch("/api/me/profile/", {"timezone": "Mars/Base"}, format="json")
        assert bad.status_code == 400
        assert names_field(bad.json(), "timezone")
        ok = client.patch("/api/me/profile/", {"timezone": "Asia/Tokyo"}, format="json")
        assert ok.status_code == 200
        assert ok.json()["timezone"] == "Asia/Tokyo"

    def test_a_status_disappears_when_it_expires(self, client_for, user):
        client = client_for(user)
        with time_machine.travel(timezone.now(), tick=False) as traveller:
            expires = timezone.now() + timedelta(hours=1)
            response = client.patch(
                "/api/me/profile/",
                {"status_text": "In a meeting", "status_emoji": "📅", "status_expires_at": expires},
                format="json",
            )
            assert response.status_code == 200
            assert response.json()["status_text"] == "In a meeting"
            assert response.json()["status_emoji"] == "📅"
            traveller.shift(timedelta(hours=2))
            later = client_for(user).get("/api/me/profile/").json()
        assert later["status_text"] == ""
        assert later["status_emoji"] == ""
        assert later["status_expires_at"] is None

    def test_a_status_expiring_in_the_past_is_refused(self, client_for, user):
        response = client_for(user).patch(
            "/api/me/profile/",
            {"status_text": "x", "status_expires_at": timezone.now() - timedelta(minutes=1)},
            format="json",
        )
        assert response.status_code == 400
        assert names_field(response.json(), "status_expires_at")


@pytest.mark.django_db
class TestAvatar:
    def test_an_upload_becomes_two_squares_without_exif(self, client_for, user, anon_client):
        response = client_for(user).put(
            "/api/me/avatar/", png_with_exif(), content_type="image/png"
        )
        assert response.status_code == 200, response.content
        profile = response.json()
        for url, size in ((profile["avatar_url"], 256), (profile["avatar_small_url"], 64)):
            served = anon_client.get(url)  # an <img> sends no token
            assert served.status_code == 200
            assert served["Content-Type"] == "image/webp"
            data = b"".join(served) if served.streaming else served.content
            image = Image.open(io.BytesIO(data))
            assert image.size == (size, size)
            assert not image.getexif()
            assert b"SecretCam" not in data

    def test_an_upload_as_a_form_field_works_too(self, client_for, user):
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("me.png", png_with_exif(50, 80), content_type="image/png")
        response = client_for(user).put("/api/me/avatar/", {"avatar": upload}, format="multipart")
        assert response.status_code == 200
        assert response.json()["avatar_url"].endswith("/256.webp")

    @pytest.mark.parametrize(
        "body", [b"", b"GIF89a not really", b"<svg xmlns='http://www.w3.org/2000/svg'/>"]
    )
    def test_something_that_is_not_an_image_is_a_field_error(self, client_for, user, body):
        response = client_for(user).put("/api/me/avatar/", body, content_type="image/png")
        assert response.status_code == 400
        assert names_field(response.json(), "avatar")
        assert client_for(user).get("/api/me/profile/").json()["avatar_url"] is None

    def test_removing_the_avatar_shows_initials_and_the_old_url_is_gone(
        self, client_for, user, anon_client
    ):
        client = client_for(user)
        url = client.put("/api/me/avatar/", png_with_exif(), content_type="image/png").json()[
            "avatar_url"
        ]
        response = client.delete("/api/me/avatar/")
        assert response.status_code == 200
        assert response.json()["avatar_url"] is None
        assert anon_client.get(url).status_code == 404

    def test_a_new_upload_gets_a_new_url(self, client_for, user, anon_client):
        client = client_for(user)
        first = client.put("/api/me/avatar/", png_with_exif(), content_type="image/png")
        second = client.put("/api/me/avatar/", png_with_exif(90, 90), content_type="image/png")
        assert first.json()["avatar_url"] != second.json()["avatar_url"]
        assert anon_client.get(first.json()["avatar_url"]).status_code == 404


@pytest.mark.django_db
def test_user_objects_everywhere_carry_the_display_name_and_avatar(client_for):
    alice, bob = make_user("alice"), make_user("bob")
    client_for(bob).patch("/api/me/profile/", {"display_name": "Bobby B."}, format="json")
    client_for(bob).put("/api/me/avatar/", png_with_exif(), content_type="image/png")
    bob.refresh_from_db()
    group = make_group(alice, bob)
    client = client_for(alice)
    sent = client_for(bob).post(
        f"/api/conversations/{group.pk}/messages/",
        {"client_msg_id": "m1", "body": "hi"},
        format="json",
    )
    assert sent.status_code in (200, 201), sent.content

    def bob_in(people):
        return next(p for p in people if p["id"] == bob.pk)

    searched = bob_in(client.get("/api/users/?search=bo").json())
    members = bob_in([m["user"] for m in client.get(f"/api/groups/{group.pk}/members/").json()])
    history = client.get(f"/api/conversations/{group.pk}/messages/").json()
    messages = history["results"]
    sender = next(m["sender"] for m in messages if m["sender"] and m["sender"]["id"] == bob.pk)
    for person in (searched, members, sender):
        assert person["display_name"] == "Bobby B."
        assert person["avatar_url"] == f"/avatars/{bob.avatar_key}/256.webp"


@pytest.mark.django_db
def test_history_cached_before_a_rename_shows_the_new_name(
    client_for, django_capture_on_commit_callbacks
):
    alice, bob = make_user("alice"), make_user("bob")
    group = make_group(alice, bob)
    client_for(bob).post(
        f"/api/conversations/{group.pk}/messages/",
        {"client_msg_id": "m1", "body": "hi"},
        format="json",
    )
    url = f"/api/conversations/{group.pk}/messages/"

    def bob_as_sender():
        history = client_for(alice).get(url).json()
        messages = history["results"]
        return next(m["sender"] for m in messages if m["sender"]["id"] == bob.pk)

    assert bob_as_sender()["display_name"] == "bob"  # the page is cached now
    with django_capture_on_commit_callbacks(execute=True):
        client_for(bob).patch("/api/me/profile/", {"display_name": "Robert"}, format="json")
    assert bob_as_sender()["display_name"] == "Robert"


@pytest.mark.django_db(transaction=True)
async def test_a_profile_change_reaches_contacts_live_and_through_ready():
    alice, bob, stranger = await database_sync_to_async(
        lambda: (make_user("alice"), make_user("bob"), make_user("stranger"))
    )()
    await database_sync_to_async(make_direct)(alice, bob, replied=True)
    bob_socket, _ = await ready_socket(bob)
    stranger_socket, _ = await ready_socket(stranger)
    alice_socket, _ = await ready_socket(alice)

    from accounts.profiles import profile_update

    await database_sync_to_async(profile_update)(
        user=alice, display_name="Alice Liddell", status_text="Down the rabbit hole"
    )
    for socket in (bob_socket, alice_socket):  # the contact, and her own other devices
        frame = await receive(socket, "user_updated")
        assert frame["user"]["id"] == alice.pk
        assert frame["user"]["display_name"] == "Alice Liddell"
        assert frame["user"]["status_text"] == "Down the rabbit hole"
    assert await receive_nothing(stranger_socket)
    for socket in (bob_socket, stranger_socket, alice_socket):
        await socket.disconnect()

    bob_again, ready = await ready_socket(bob)
    alice_card = next(u for u in ready["users"] if u["id"] == alice.pk)
    assert alice_card["display_name"] == "Alice Liddell"
    assert {u["id"] for u in ready["users"]} == {alice.pk, bob.pk}
    assert ready["user"]["display_name"] == "bob"
    await bob_again.disconnect()
