"""Exports: a user's own data and a conversation, as a zip of JSON with an HTML viewer,
through REST (a Celery job with progress), mail and manage.py."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations.services import reaction_set
from groups.services import group_leave
from lifecycle.models import Job
from messaging.services import message_send
from tests.factories import make_direct, make_group, make_user
from tests.smtp import link_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people():
    return make_user("alice", email="alice@example.com"), make_user("bob"), make_user("carol")


def send(user, conversation, body, n=[0]):  # noqa: B006 (a counter across calls)
    n[0] += 1
    return message_send(
        sender=user, conversation_id=conversation.pk, client_msg_id=f"m{n[0]}", body=body
    )


def download(client, job) -> zipfile.ZipFile:
    assert job["status"] == "done", job
    path = job["download_url"].split("parley.test", 1)[-1].split("localhost:8000", 1)[-1]
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_my_export_has_my_data_and_is_mailed(people, client_for, eager_celery, smtp_server):
    alice, bob, _ = people
    group = make_group(alice, bob, name="launch")
    direct = make_direct(alice, bob)
    ack = send(alice, group, "**ship** it")
    send(bob, group, "bob's words are bob's")
    send(alice, direct, "just between us")
    reaction_set(
        user=alice, conversation_id=group.pk, message_id=int(ack["id"]), emoji="🎉", on=True
    )
    client = client_for(alice)
    upload = client.post(
        "/api/uploads/", {"file": _named(b"my notes", "notes.txt")}, format="multipart"
    )
    assert upload.status_code == 201

    started = client.post("/api/me/export/")
    assert started.status_code == 202
    job = client.get(f"/api/me/export/{started.json()['id']}/").json()
    assert job["progress"]["stage"] == "done" and job["progress"]["done"] == 2
    archive = download(client, job)
    names = set(archive.namelist())
    assert {"profile.json", "settings.json", "conversations.json", "messages.json"} <= names
    assert {"reactions.json", "uploads.json", "index.html"} <= names
    assert json.loads(archive.read("profile.json"))["email"] == "alice@example.com"
    bodies = [m["body"] for m in json.loads(archive.read("messages.json"))]
    assert sorted(bodies) == ["**ship** it", "just between us"]  # mine only
    conversations = {c["id"] for c in json.loads(archive.read("conversations.json"))}
    assert conversations == {group.pk, direct.pk}
    assert json.loads(archive.read("reactions.json"))[0]["emoji"] == "🎉"
    [stored] = json.loads(archive.read("uploads.json"))
    assert archive.read(stored["file"]) == b"my notes"
    viewer = archive.read("index.html").decode()
    assert "<strong>ship</strong>" in viewer and "launch" in viewer

    [mail] = smtp_server.wait_for(1, to="alice@example.com")
    assert link_in(mail) == job["download_url"]


def _named(data: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


def test_one_running_export_per_user(people, client_for):
    alice, _, _ = people
    Job.objects.create(kind=Job.Kind.EXPORT_USER, user=alice, status=Job.Status.RUNNING)
    response = client_for(alice).post("/api/me/export/")
    assert response.status_code == 409 and response.json()["code"] == "conflict"


def test_the_link_expires_after_seven_days(people, client_for, eager_celery, moved_clock):
    alice, bob, _ = people
    client = client_for(alice)
    job = client.post("/api/me/export/").json()
    job = client.get(f"/api/me/export/{job['id']}/").json()
    assert download(client, job)
    with moved_clock(timezone.now() + timedelta(days=7, minutes=1)):
        client = client_for(alice)
        response = client.get(f"/api/exports/{job['id']}/download/")
        assert response.status_code == 410 and response.json()["code"] == "gone"
        assert client.get(f"/api/me/export/{job['id']}/").json()["download_url"] is None
    # Someone else's export does not exist for bob.
    assert client_for(bob).get(f"/api/me/export/{job['id']}/").status_code == 404
    assert client_for(bob).get(f"/api/exports/{job['id']}/download/").status_code == 404


def test_a_group_owner_exports_the_conversation(people, client_for, eager_celery):
    alice, bob, _ = people
    group = make_group(alice, bob, name="launch")
    send(alice, group, "first")
    send(bob, group, "second <script>alert(1)</script>")
    client = client_for(alice)
    started = client.post(f"/api/conversations/{group.pk}/export/")
    assert started.status_code == 202
    job = client.get(f"/api/exports/{started.json()['id']}/").json()
    archive = download(client, job)
    messages = json.loads(archive.read("messages.json"))
    assert [m["body"] for m in messages if not m["system"]] == [
        "first",
        "second <script>alert(1)</script>",
    ]
    assert json.loads(archive.read("conversation.json"))["name"] == "launch"
    transcript = archive.read("index.html").decode()
    assert "first" in transcript and "<script>" not in transcript


def test_who_may_export_a_conversation(people, client_for):
    alice, bob, carol = people
    group = make_group(alice, bob, carol, name="launch")
    direct = make_direct(alice, bob)
    assert client_for(bob).post(f"/api/conversations/{group.pk}/export/").status_code == 403
    assert client_for(alice).post(f"/api/conversations/{direct.pk}/export/").status_code == 403
    group_leave(user=carol, group_id=group.pk)
    response = client_for(carol).post(f"/api/conversations/{group.pk}/export/")
    assert response.status_code == 404  # a conversation you left is not yours to export
    staff = make_user("root", is_staff=True)
    assert client_for(staff).post(f"/api/conversations/{direct.pk}/export/").status_code == 202


def test_export_conversation_command(people, tmp_path):
    alice, bob, _ = people
    group = make_group(alice, bob, name="launch")
    send(alice, group, "offline copy")
    out = io.StringIO()
    call_command("export_conversation", str(group.pk), "--out", str(tmp_path / "out"), stdout=out)
    path = tmp_path / "out" / f"conversation-{group.pk}.zip"
    assert f"written to {path}" in out.getvalue()
    with zipfile.ZipFile(path) as archive:
        assert "offline copy" in archive.read("index.html").decode()
