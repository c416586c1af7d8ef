"""Importing a Slack export: what people see afterwards, a second run, and bad exports."""

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import User
from conversations.models import GroupVisibility, Reaction, ThreadSummary
from lifecycle.models import Job
from lifecycle.slack.importer import slack_import
from lifecycle.slack.reader import SlackImportError
from messaging import partitions
from messaging.ids import message_id_time
from messaging.models import Conversation, Membership, Message
from tests.factories import make_user
from tests.lifecycle.slack_export import (
    GENERAL_MESSAGE_COUNT,
    export_files,
    slack_export_zip,
    zip_bytes,
)
from uploads.models import Upload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff():
    return make_user("admin", is_staff=True, is_superuser=True)


@pytest.fixture
def export_path(tmp_path):
    path = tmp_path / "slack.zip"
    path.write_bytes(slack_export_zip())
    return path


def general() -> Conversation:
    return Conversation.objects.get(name="general")


def messages_of(conversation: Conversation) -> list[Message]:
    return list(Message.objects.filter(conversation=conversation).order_by("seq"))


def test_users_conversations_and_messages_arrive_as_in_slack(staff, export_path):
    bob = make_user("bobby", email="bob@example.com")  # already here: matched by address
    summary = slack_import(source=str(export_path))

    alice = User.objects.get(username="alice")
    assert not alice.is_active and not alice.has_usable_password()  # until a reset or SSO
    assert alice.email == "alice@example.com" and alice.display_name == "Alice"
    bob.refresh_from_db()
    assert bob.is_active  # the existing account is used, untouched
    assert hasattr(User.objects.get(username="deploybot"), "bot")
    assert summary.users_created == 2 and summary.users_matched == 1

    channel = general()
    assert channel.kind == "group"
    assert GroupVisibility.objects.get(conversation=channel).visibility == "public"
    secret = Conversation.objects.get(name="secret-plans")
    assert not GroupVisibility.objects.filter(conversation=secret).exists()  # private
    assert set(secret.memberships.values_list("user_id", flat=True)) == {alice.pk, bob.pk}
    direct = Conversation.objects.get(kind="direct")
    assert direct.direct_key == f"{min(alice.pk, bob.pk)}:{max(alice.pk, bob.pk)}"
    assert Conversation.objects.filter(name="alice, bob, carol").exists()  # the mpim
    assert Membership.objects.get(conversation=channel, user=alice).role == "owner"

    rows = messages_of(channel)
    assert [m.seq for m in rows] == list(range(1, GENERAL_MESSAGE_COUNT + 1))
    times = [m.created_at for m in rows]
    assert times == sorted(times) and times[0].year == 2025 and times[0].month == 3
    for message in rows:  # each id says its message's month: it lands in that partition
        moment = message_id_time(message.pk)
        assert (moment.year, moment.month) == (message.created_at.year, message.created_at.month)
    april = messages_of(secret)
    assert {message_id_time(m.pk).month for m in april} == {4}
    channel.refresh_from_db()
    assert channel.last_seq == GENERAL_MESSAGE_COUNT
    assert Membership.objects.get(conversation=channel, user=bob).read_seq == channel.last_seq


def test_threads_reactions_edits_deletes_files_bots_mentions(staff, export_path):
    slack_import(source=str(export_path))
    rows = messages_of(general())
    join, root, thanks, moved, edited, deleted, files, bot, topic, everyone = rows
    alice = User.objects.get(username="alice")

    assert join.system["event"] == "slack_channel_join" and join.sender_id is None
    assert join.body == "@alice has joined the channel"
    assert topic.system["event"] == "slack_channel_topic"

    # Slack markup as Markdown, rendered as a message sent here would be.
    assert root.body == (
        "Hello **team**, see [the site](https://example.com) and ~~old~~ `code *x*` & more"
    )
    assert "<strong>team</strong>" in root.html and 'href="https://example.com"' in root.html
    assert "<del>old</del>" in root.html or "<s>old</s>" in root.html
    assert "<code>code *x*</code>" in root.html

    assert thanks.reply_to_id == root.pk and thanks.thread_id == root.pk
    assert moved.thread_id == root.pk
    summary = ThreadSummary.objects.get(root_id=root.pk)
    assert summary.replies == 2

    assert thanks.body == "Thanks @alice!" and thanks.mentions == [alice.pk]  # a mention
    assert "#random" in moved.body  # a channel mention keeps its name
    assert everyone.mentions_all

    emoji = sorted(Reaction.objects.filter(message_id=root.pk).values_list("emoji", flat=True))
    assert emoji == sorted(["👍", "👍", "🎉"])  # the custom emoji has no Unicode form

    assert edited.edited_at is not None and edited.edited_at > edited.created_at
    assert deleted.deleted_at is not None and deleted.body == ""

    upload = Upload.objects.get(message_id=files.pk)
    assert upload.name == "report.txt" and upload.owner.username == "carol"
    assert "[mockup.png](https://team.slack.com/files/U03CAROL/F02MOCKUP/mockup.png)" in files.body

    assert bot.sender.username == "deploybot" and hasattr(bot.sender, "bot")
    assert bot.body == "Deployed **v1.2** to production"


def test_a_second_run_imports_nothing_twice(staff, export_path):
    first = slack_import(source=str(export_path))
    counts = (User.objects.count(), Conversation.objects.count(), Message.objects.count())
    second = slack_import(source=str(export_path))
    assert (User.objects.count(), Conversation.objects.count(), Message.objects.count()) == counts
    assert second.messages_imported == 0
    assert second.messages_skipped == first.messages_imported


@pytest.mark.postgres
def test_imported_months_get_their_partitions(staff, export_path):
    slack_import(source=str(export_path))
    months = {p.month.strftime("%Y-%m") for p in partitions.partitions_list() if p.rows}
    assert {"2025-03", "2025-04"} <= months
    assert connection.vendor == "postgresql"


def test_a_missing_channel_folder_gives_an_empty_group_and_a_warning(staff, tmp_path):
    path = tmp_path / "slack.zip"
    path.write_bytes(slack_export_zip(missing_folder=True))
    summary = slack_import(source=str(path))
    random = Conversation.objects.get(name="random")
    assert random.last_seq == 0
    assert any("random" in w and "no folder" in w for w in summary.warnings)


def test_dry_run_writes_nothing(staff, tmp_path):
    path = tmp_path / "slack.zip"
    path.write_bytes(slack_export_zip())
    out = io.StringIO()
    call_command("import_slack", str(path), "--dry-run", stdout=out)
    assert "dry run: nothing was written" in out.getvalue()
    assert "#general: 10 messages in the export" in out.getvalue()
    assert not Conversation.objects.exists() and User.objects.count() == 1


def test_the_command_imports_and_shows_counts_per_channel(staff, tmp_path):
    path = tmp_path / "slack.zip"
    path.write_bytes(slack_export_zip())
    out = io.StringIO()
    call_command("import_slack", str(path), "--map-users", "username", stdout=out)
    text = out.getvalue()
    assert "#general: 10 messages" in text and "messages imported: 15" in text


# --- bad exports: a clear error naming the file and entry, and nothing imported -------------


def _refused(tmp_path, files: dict[str, bytes] | bytes) -> str:
    path = tmp_path / "bad.zip"
    path.write_bytes(files if isinstance(files, bytes) else zip_bytes(files))
    with pytest.raises(CommandError) as error:
        call_command("import_slack", str(path), stdout=io.StringIO())
    assert User.objects.count() == 1 and not Conversation.objects.exists()
    assert not Message.objects.exists()
    return str(error.value)


def test_truncated_json_names_the_file(staff, tmp_path):
    files = export_files()
    files["general/2025-03-11.json"] = files["general/2025-03-11.json"][:-7]
    message = _refused(tmp_path, files)
    assert "general/2025-03-11.json: invalid JSON" in message and "nothing was imported" in message


def test_a_bad_entry_names_the_file_and_entry(staff, tmp_path):
    files = export_files()
    day = json.loads(files["general/2025-03-10.json"])
    del day[2]["ts"]
    files["general/2025-03-10.json"] = json.dumps(day).encode()
    assert "general/2025-03-10.json, entry 2: ts is missing" in _refused(tmp_path, files)


def test_a_zip_with_parent_paths_is_refused(staff, tmp_path):
    files = export_files()
    files["../../etc/cron.d/evil"] = b"* * * * * root rm -rf /"
    assert "unsafe path" in _refused(tmp_path, files)


def test_a_zip_bomb_is_refused(staff, tmp_path):
    files = export_files()
    files["general/2025-03-12.json"] = b"[" + b" " * (30 * 1024 * 1024) + b"]"
    assert "zip bomb" in _refused(tmp_path, files)


def test_unpacked_size_limit(staff, tmp_path, settings):
    settings.PARLEY_IMPORT_MAX_UNPACKED_BYTES = 2_000
    assert "PARLEY_IMPORT_MAX_UNPACKED_BYTES" in _refused(tmp_path, export_files())


def test_not_a_zip_and_no_users_json(staff, tmp_path):
    assert "not a zip file" in _refused(tmp_path, b"PK\x03\x04 truncated")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("channels.json", "[]")
    assert "users.json" in _refused(tmp_path, buffer.getvalue())


# --- REST: the same import as a Celery job with progress -------------------------------------


def test_staff_import_over_rest_and_follow_progress(staff, client_for, eager_celery):
    client = client_for(staff)
    response = client.post(
        "/api/admin/imports/",
        {"file": SimpleUploadedFile("slack.zip", slack_export_zip()), "map_users": "email"},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    job = client.get(f"/api/admin/imports/{response.json()['id']}/").json()
    assert job["status"] == "done", job
    assert job["progress"]["stage"] == "done" and job["progress"]["done"] == 15
    assert job["summary"]["messages_imported"] == 15
    assert general().last_seq == GENERAL_MESSAGE_COUNT


def test_a_bad_export_over_rest_fails_the_job_with_the_reason(staff, client_for, eager_celery):
    files = export_files()
    files["general/2025-03-11.json"] = b'[{"type": "message", "ts": "17'
    response = client_for(staff).post(
        "/api/admin/imports/",
        {"file": SimpleUploadedFile("slack.zip", zip_bytes(files))},
        format="multipart",
    )
    job = client_for(staff).get(f"/api/admin/imports/{response.json()['id']}/").json()
    assert job["status"] == "failed" and "general/2025-03-11.json" in job["error"]
    assert not Conversation.objects.exists()


def test_only_staff_import_and_only_zips(staff, client_for, user):
    response = client_for(user).post(
        "/api/admin/imports/",
        {"file": SimpleUploadedFile("slack.zip", slack_export_zip())},
        format="multipart",
    )
    assert response.status_code == 403 and response.json()["code"]
    response = client_for(staff).post(
        "/api/admin/imports/",
        {"file": SimpleUploadedFile("slack.zip", b"not a zip")},
        format="multipart",
    )
    assert response.status_code == 400 and response.json()["field"] == "file"
    assert not Job.objects.exists()


def test_slack_import_error_names_file_and_entry():
    error = SlackImportError("ts is missing", file="general/2025-03-10.json", entry=3)
    assert str(error) == "general/2025-03-10.json, entry 3: ts is missing"


def test_ids_of_messages_before_the_id_epoch_still_say_their_month():
    from lifecycle.slack.importer import imported_message_id, slack_time

    moment = slack_time("1558000000.123456")  # May 2019, before 2024-01-01
    taken: set[int] = set()
    first, second = imported_message_id(moment, taken), imported_message_id(moment, taken)
    assert first != second
    for message_id in (first, second):
        assert message_id_time(message_id).strftime("%Y-%m-%d") == "2019-05-16"


def test_slack_markup_outside_code_only():
    from lifecycle.slack.markup import slack_to_markdown

    text = "*a* _b_ ~c~ <mailto:x@example.com|x@example.com> <!here> ```*keep* <b>``` &lt;3"
    assert slack_to_markdown(text, username_of=lambda _: None, channel_name_of=lambda _: None) == (
        "**a** _b_ ~~c~~ [x@example.com](mailto:x@example.com) @all ```*keep* <b>``` <3"
    )
