"""Retention: who sets it, what the daily task deletes (and what goes with it), legal holds,
and the first seq that sync and history answer afterwards."""

import io
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.utils import timezone

from conversations.models import Reaction
from conversations.services import reaction_set
from lifecycle.models import ConversationRetention, Job
from lifecycle.retention import retention_apply
from lifecycle.tasks import retention_apply as retention_task
from messaging import partitions
from messaging.models import Message, MessageKey
from messaging.services import message_send
from previews.models import LinkPreview
from tests.factories import make_direct, make_group, make_user
from tests.ws import ready_socket, receive_until
from uploads.models import Upload

pytestmark = pytest.mark.django_db(transaction=True)
db = sync_to_async


@pytest.fixture
def people():
    return make_user("alice"), make_user("bob"), make_user("carol")


def send(user, conversation, body, n=[0], **extra):  # noqa: B006 (a counter across calls)
    n[0] += 1
    return message_send(
        sender=user, conversation_id=conversation.pk, client_msg_id=f"r{n[0]}", body=body, **extra
    )


def test_who_sets_retention_and_bad_values(people, client_for):
    alice, bob, carol = people
    group = make_group(alice, bob, name="launch")
    direct = make_direct(alice, bob)
    url = f"/api/conversations/{group.pk}/retention/"
    for bad in (0, -5, "ninety", 36501):
        response = client_for(alice).patch(url, {"retention_days": bad}, format="json")
        assert response.status_code == 400, bad
        assert response.json()["field"] == "retention_days"
    assert client_for(bob).patch(url, {"retention_days": 30}, format="json").status_code == 403
    assert client_for(carol).get(url).status_code == 404  # not a member
    response = client_for(alice).patch(url, {"retention_days": 90}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "conversation": group.pk,
        "retention_days": 90,
        "effective_days": 90,
        "server_days": None,
        "legal_hold": False,
        "first_seq": 1,
        "can_edit": True,
    }
    shown = client_for(bob).get(url).json()
    assert shown["effective_days"] == 90 and shown["can_edit"] is False
    last = Message.objects.filter(conversation=group).order_by("-seq").first()
    assert last.system["event"] == "retention_changed"
    assert "deleted after 90 days" in last.body
    # Legal holds and direct chats are staff business.
    hold = client_for(alice).patch(url, {"legal_hold": True}, format="json")
    assert hold.status_code == 403 and hold.json()["field"] == "legal_hold"
    direct_url = f"/api/conversations/{direct.pk}/retention/"
    assert (
        client_for(alice).patch(direct_url, {"retention_days": 7}, format="json").status_code == 403
    )
    staff = make_user("root", is_staff=True)
    response = client_for(staff).patch(
        direct_url, {"retention_days": 7, "legal_hold": True}, format="json"
    )
    assert response.status_code == 200 and response.json()["effective_days"] is None


def _old_and_new(moved_clock, people, *, days_old=100):
    """A group with 3 messages (a file, a reaction, a preview) sent `days_old` days ago and 2
    sent now."""
    alice, bob, _ = people
    group = make_group(alice, bob, name="launch")
    with moved_clock(timezone.now() - timedelta(days=days_old)):
        from uploads.services import upload_create

        upload = upload_create(owner=alice, stream=io.BytesIO(b"old file"), name="a.txt", size=8)
        old = send(alice, group, "old with file", attachments=[str(upload.pk)])
        reaction_set(
            user=bob, conversation_id=group.pk, message_id=int(old["id"]), emoji="👍", on=True
        )
        LinkPreview.objects.create(
            message_id=int(old["id"]), conversation=group, url="https://example.com/", title="x"
        )
        send(bob, group, "old two")
        send(alice, group, "old three")
    send(alice, group, "new one")
    send(bob, group, "new two")
    return group, upload


def test_the_daily_task_deletes_expired_messages_and_what_hangs_on_them(
    people, moved_clock, client_for, media_root, eager_celery
):
    group, upload = _old_and_new(moved_clock, people)
    alice = people[0]
    stored = media_root / upload.key
    assert stored.exists()
    ConversationRetention.objects.create(conversation=group, retention_days=30)
    retention_task.delay()

    assert [m.body for m in Message.objects.filter(conversation=group).order_by("seq")] == [
        "new one",
        "new two",
    ]
    assert not Upload.objects.filter(pk=upload.pk).exists() and not stored.exists()
    assert not Reaction.objects.exists() and not LinkPreview.objects.exists()
    assert MessageKey.objects.filter(conversation_id=group.pk).count() == 2
    job = Job.objects.get(kind="retention")
    assert job.status == "done" and job.summary["messages_deleted"] == 3

    history = client_for(alice).get(f"/api/conversations/{group.pk}/messages/").json()
    assert history["first_seq"] == 4 and [m["seq"] for m in history["results"]] == [4, 5]
    assert history["last_seq"] == 5
    # The seqs stay: the next message is #6, never a reused number.
    assert send(alice, group, "after")["seq"] == 6


async def test_sync_answers_the_first_seq(people, moved_clock):
    group, _ = await db(_old_and_new)(moved_clock, people)
    await db(ConversationRetention.objects.create)(conversation=group, retention_days=30)
    await db(retention_apply)()
    socket, _ = await ready_socket(people[1])
    await socket.send_json_to({"type": "sync", "conversation": group.pk, "after_seq": 0})
    messages, done = await receive_until(socket, "sync_done")
    assert [m["seq"] for m in messages] == [4, 5]
    assert done["first_seq"] == 4 and done["last_seq"] == 5
    await socket.disconnect()


def test_a_legal_hold_keeps_everything(people, moved_clock, settings):
    settings.PARLEY_RETENTION_DAYS = 30
    group, _ = _old_and_new(moved_clock, people)
    ConversationRetention.objects.create(conversation=group, retention_days=30, legal_hold=True)
    assert retention_apply()["messages_deleted"] == 0
    assert Message.objects.filter(conversation=group).count() == 5


def test_the_server_setting_applies_to_direct_chats(people, moved_clock, settings):
    alice, bob, _ = people
    direct = make_direct(alice, bob)
    with moved_clock(timezone.now() - timedelta(days=40)):
        send(alice, direct, "old")
    send(bob, direct, "new")
    settings.PARLEY_RETENTION_DAYS = 0  # forever
    assert retention_apply()["messages_deleted"] == 0
    settings.PARLEY_RETENTION_DAYS = 30
    out = io.StringIO()
    call_command("retention", "apply", stdout=out)
    assert "1 messages deleted" in out.getvalue()
    assert [m.body for m in Message.objects.filter(conversation=direct)] == ["new"]


def test_the_retention_command_refuses_zero(people):
    group = make_group(people[0], people[1])
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="1 or more"):
        call_command("retention", "set", str(group.pk), "--days", "0")
    call_command("retention", "set", str(group.pk), "--days", "14", "--hold", stdout=io.StringIO())
    policy = ConversationRetention.objects.get(conversation=group)
    assert (policy.retention_days, policy.legal_hold) == (14, True)


@pytest.mark.postgres
def test_a_month_where_everything_expired_is_dropped_whole(people, moved_clock):
    group, _ = _old_and_new(moved_clock, people, days_old=120)
    old_month = partitions.month_start(timezone.now() - timedelta(days=120))
    name = partitions.partition_name(old_month)
    assert name in {p.name for p in partitions.partitions_list()}
    ConversationRetention.objects.create(conversation=group, retention_days=30)
    result = retention_apply()
    assert name in result["partitions_dropped"]
    assert name not in {p.name for p in partitions.partitions_list()}
    assert ConversationRetention.objects.get(conversation=group).first_seq == 4
    assert [m.seq for m in Message.objects.filter(conversation=group).order_by("seq")] == [4, 5]
    assert not Upload.objects.exists() and not Reaction.objects.exists()
