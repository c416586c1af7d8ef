"""Uploading, attaching, downloading and deleting files over REST (the one send service)."""

import io
import struct
import zlib
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from tests.factories import make_direct, make_group, make_user
from tests.uploads.conftest import png_bytes, upload

pytestmark = pytest.mark.django_db


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def send(client, conversation_id, client_msg_id, body="", attachments=None):
    data = {"client_msg_id": client_msg_id, "body": body}
    if attachments is not None:
        data["attachments"] = attachments
    return client.post(f"/api/conversations/{conversation_id}/messages/", data, format="json")


def history(client, conversation_id):
    return client.get(f"/api/conversations/{conversation_id}/messages/").json()["results"]


def test_an_image_upload_has_a_thumbnail_and_only_its_owner_sees_it(client_for):
    alice, bob = make_user(), make_user()
    response = upload(client_for(alice), png_bytes((640, 480)), "photo.png")
    assert response.status_code == 201, response.content
    item = response.json()
    assert item["content_type"] == "image/png"
    assert (item["width"], item["height"]) == (640, 480)
    assert item["name"] == "photo.png"
    assert item["thumbnail_url"]
    own = client_for(alice).get(item["url"])
    assert own.status_code == 200
    assert own["Content-Type"] == "image/png"
    assert own["Content-Disposition"].startswith("inline")
    assert own["X-Content-Type-Options"] == "nosniff"
    thumb = Image.open(io.BytesIO(body_of(client_for(alice).get(item["thumbnail_url"]))))
    assert max(thumb.size) <= 480
    # Not attached yet: nobody else may see it.
    assert client_for(bob).get(item["url"]).status_code == 404


def test_attach_on_send_then_members_download_and_others_get_404(client_for, anon_client):
    alice, bob, carol = make_user(), make_user(), make_user()
    conversation = make_direct(alice, bob)
    item = upload(client_for(alice), b"quarterly numbers\n", "report.txt").json()
    assert item["content_type"] == "text/plain"

    sent = send(client_for(alice), conversation.pk, "m1", attachments=[item["id"]])
    assert sent.status_code == 201, sent.content

    [message] = history(client_for(bob), conversation.pk)
    assert message["body"] == ""
    assert message["attachments"] == [item]
    download = client_for(bob).get(item["url"])
    assert download.status_code == 200
    assert body_of(download) == b"quarterly numbers\n"
    assert download["Content-Disposition"].startswith("attachment")
    assert download["Content-Type"] == "application/octet-stream"
    # A non-member and a stranger cannot tell the file exists.
    assert client_for(carol).get(item["url"]).status_code == 404
    assert anon_client.get(item["url"]).status_code == 404
    assert client_for(carol).get(item["url"]).json()["code"] == "not_found"


def test_a_member_who_joined_later_does_not_get_earlier_files(client_for):
    alice, bob, dave = make_user(), make_user(), make_user()
    group = make_group(alice, bob)
    item = upload(client_for(alice), b"old news\n", "old.txt").json()
    assert send(client_for(alice), group.pk, "m1", "see", [item["id"]]).status_code == 201
    client_for(alice).post(f"/api/groups/{group.pk}/members/", {"user": dave.pk}, format="json")
    assert client_for(bob).get(item["url"]).status_code == 200
    assert client_for(dave).get(item["url"]).status_code == 404


def test_someone_elses_upload_is_refused_and_nothing_is_stored(client_for):
    alice, bob = make_user(), make_user()
    conversation = make_direct(alice, bob)
    bobs = upload(client_for(bob), b"bob's file\n", "b.txt").json()
    response = send(client_for(alice), conversation.pk, "m1", "look", [bobs["id"]])
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    assert response.json()["field"] == "attachments"
    assert history(client_for(alice), conversation.pk) == []
    # Unknown ids and junk alike.
    for junk in (["00000000-0000-0000-0000-000000000000"], ["nope"], "x", [1]):
        response = send(client_for(alice), conversation.pk, "m2", "look", junk)
        assert response.status_code == 400, junk
    assert history(client_for(alice), conversation.pk) == []


def test_an_upload_is_attached_once_and_at_most_ten_per_message(client_for):
    alice, bob = make_user(), make_user()
    conversation = make_direct(alice, bob)
    ids = [
        upload(client_for(alice), f"f{i}\n".encode(), f"{i}.txt").json()["id"] for i in range(11)
    ]
    assert send(client_for(alice), conversation.pk, "m0", "", ids).status_code == 400
    assert send(client_for(alice), conversation.pk, "m1", "", ids[:10]).status_code == 201
    again = send(client_for(alice), conversation.pk, "m2", "", ids[:1])
    assert again.status_code == 400
    [message] = history(client_for(bob), conversation.pk)
    assert [a["id"] for a in message["attachments"]] == ids[:10]
    # Without attachments the body is still required.
    assert send(client_for(alice), conversation.pk, "m3", "").status_code == 400


def test_a_26_mib_file_is_refused_with_413(client_for):
    response = upload(client_for(make_user()), b"\0" * (26 * 1024 * 1024), "big.bin")
    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"
    assert response.json()["detail"] == "Files can be at most 25 MiB (26214400 bytes)."


def test_a_file_just_over_a_lowered_limit_is_refused(client_for, settings):
    settings.PARLEY_UPLOAD_MAX_BYTES = 1000
    response = upload(client_for(make_user()), b"a" * 1001, "a.txt")
    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"


def test_a_renamed_executable_is_refused(client_for, settings):
    program = b"MZ\x90\x00\x03" + b"\x00" * 200 + b"This program cannot be run in DOS mode"
    response = upload(client_for(make_user()), program, "holiday.jpg")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_file_type"
    elf = upload(client_for(make_user()), b"\x7fELF\x02\x01\x01" + b"\0" * 100, "notes.txt")
    assert elf.status_code == 415
    settings.PARLEY_UPLOAD_REFUSE_EXECUTABLES = False
    allowed = upload(client_for(make_user()), program, "holiday.jpg")
    assert allowed.status_code == 201
    assert allowed.json()["content_type"] != "image/jpeg"


def test_an_svg_with_script_is_never_served_inline(client_for):
    alice = make_user()
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    item = upload(client_for(alice), svg, "logo.png").json()
    assert item["content_type"] == "image/svg+xml"
    assert item["thumbnail_url"] is None
    response = client_for(alice).get(item["url"])
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    html = upload(client_for(alice), b"<!DOCTYPE html><script>x()</script>", "a.pdf").json()
    assert html["content_type"] == "text/html"
    assert client_for(alice).get(html["url"])["Content-Disposition"].startswith("attachment")


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [9000, 100_000])
def test_a_decompression_bomb_is_refused_with_400(client_for, side):
    # 81 million pixels (over Parley's limit) and 10 billion (over Pillow's own): both refused
    # from the header, before any pixel is decoded.
    response = upload(client_for(make_user()), _png_header_only(side, side), "bomb.png")
    assert response.status_code == 400
    assert response.json()["code"] == "image_too_large"


def test_a_broken_image_is_a_400(client_for):
    response = upload(client_for(make_user()), png_bytes()[:60], "cut.png")
    assert response.status_code == 400


def test_exif_gps_is_removed_from_the_stored_image(client_for):
    alice = make_user()
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPSInfo
    source = io.BytesIO()
    Image.new("RGB", (80, 60), (10, 120, 200)).save(source, format="JPEG", exif=exif)
    assert Image.open(io.BytesIO(source.getvalue())).getexif().get_ifd(0x8825)
    item = upload(client_for(alice), source.getvalue(), "where.jpg").json()
    assert item["content_type"] == "image/jpeg"
    stored = body_of(client_for(alice).get(item["url"]))
    image = Image.open(io.BytesIO(stored))
    assert image.size == (80, 60)
    assert not image.getexif().get_ifd(0x8825)
    assert len(image.getexif()) == 0
    assert b"PhoneMaker" not in stored


def test_an_animated_gif_stays_animated(client_for):
    frames = [Image.new("RGB", (20, 20), (i * 80, 0, 255 - i * 80)) for i in range(3)]
    source = io.BytesIO()
    frames[0].save(source, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    alice = make_user()
    item = upload(client_for(alice), source.getvalue(), "dance.gif").json()
    assert item["content_type"] == "image/gif"
    assert item["thumbnail_url"]
    stored = Image.open(io.BytesIO(body_of(client_for(alice).get(item["url"]))))
    assert stored.n_frames == 3


def test_quota_exceeded(client_for, settings):
    settings.PARLEY_UPLOAD_QUOTA_BYTES = 1500
    alice = make_user()
    assert upload(client_for(alice), b"a" * 1000, "a.txt").status_code == 201
    response = upload(client_for(alice), b"b" * 1000, "b.txt")
    assert response.status_code == 413
    assert response.json()["code"] == "quota_exceeded"
    # Another user's quota is their own.
    assert upload(client_for(make_user()), b"c" * 1000, "c.txt").status_code == 201


def test_deleting_a_message_deletes_its_files(
    client_for, media_root, django_capture_on_commit_callbacks, eager_tasks
):
    alice, bob = make_user(), make_user()
    conversation = make_direct(alice, bob)
    item = upload(client_for(alice), png_bytes(), "p.png").json()
    sent = send(client_for(alice), conversation.pk, "m1", "pic", [item["id"]]).json()
    files = [p for p in media_root.rglob("*") if p.is_file()]
    assert len(files) == 2  # the image and its thumbnail
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).delete(
            f"/api/conversations/{conversation.pk}/messages/{sent['id']}/"
        )
    assert response.status_code == 200
    assert [p for p in media_root.rglob("*") if p.is_file()] == []
    assert client_for(bob).get(item["url"]).status_code == 404
    [message] = history(client_for(bob), conversation.pk)
    assert message["deleted"] is True
    assert message["attachments"] == []
    # Its quota is freed too.
    assert upload(client_for(alice), b"x\n", "x.txt").status_code == 201


def test_unattached_uploads_older_than_a_day_are_removed(client_for, media_root):
    from uploads.models import Upload
    from uploads.tasks import uploads_prune_unattached

    def age(item, **delta):
        Upload.objects.filter(pk=item["id"]).update(created_at=timezone.now() - timedelta(**delta))

    alice, bob = make_user(), make_user()
    conversation = make_direct(alice, bob)
    stale = upload(client_for(alice), b"stale\n", "s.txt").json()
    kept = upload(client_for(alice), b"kept\n", "k.txt").json()
    fresh = upload(client_for(alice), b"fresh\n", "f.txt").json()
    send(client_for(alice), conversation.pk, "m1", "", [kept["id"]])
    age(stale, hours=23)
    assert uploads_prune_unattached.apply().get() == 0
    age(stale, hours=25)
    age(kept, days=30)
    age(fresh, hours=1)
    assert uploads_prune_unattached.apply().get() == 1
    assert client_for(alice).get(stale["url"]).status_code == 404
    assert client_for(alice).get(kept["url"]).status_code == 200
    assert client_for(alice).get(fresh["url"]).status_code == 200
    assert len([p for p in media_root.rglob("*") if p.is_file()]) == 2


def test_behind_nginx_the_download_is_handed_to_x_accel_redirect(client_for, settings):
    settings.PARLEY_UPLOAD_X_ACCEL_PREFIX = "/_parley_media/"
    alice = make_user()
    item = upload(client_for(alice), png_bytes(), "p.png").json()
    response = client_for(alice).get(item["url"])
    assert response.status_code == 200
    assert response["X-Accel-Redirect"].startswith("/_parley_media/uploads/")
    assert response.content == b""
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert client_for(make_user()).get(item["url"]).status_code == 404


def test_in_one_batch_a_bad_attachment_fails_only_its_own_send(client_for):
    from core.errors import BadRequest
    from messaging.services import SendRequest, message_send_many

    alice, bob = make_user(), make_user()
    conversation = make_direct(alice, bob)
    mine = upload(client_for(alice), b"mine\n", "m.txt").json()["id"]
    bobs = upload(client_for(bob), b"bob's\n", "b.txt").json()["id"]
    results = message_send_many(
        [
            SendRequest(alice, conversation.pk, "b-1", "", [mine]),
            SendRequest(alice, conversation.pk, "b-2", "", [bobs]),
            SendRequest(alice, conversation.pk, "b-3", "", [mine]),  # already claimed by b-1
            SendRequest(bob, conversation.pk, "b-4", "plain text"),
        ]
    )
    assert results[0]["type"] == "ack"
    assert isinstance(results[1], BadRequest) and results[1].field == "attachments"
    assert isinstance(results[2], BadRequest)
    assert results[3]["type"] == "ack"
    stored = history(client_for(bob), conversation.pk)
    assert [m["client_msg_id"] for m in stored] == ["b-1", "b-4"]
    assert [a["id"] for a in stored[0]["attachments"]] == [mine]
