import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from channels.db import database_sync_to_async
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging import dedup, partitions
from messaging.ids import message_id_floor
from messaging.models import Conversation, Message, MessageKey
from messaging.selectors import message_history, messages_after
from messaging.services import message_send
from messaging.tasks import message_keys_prune, partitions_ensure
from tests.factories import make_direct, make_user
from tests.servers import ROOT
from tests.ws import ready_socket, receive

postgres = pytest.mark.postgres


def _store(*, conversation, sender, message_id: int, seq: int, body: str = "x") -> Message:
    """A message with an explicit id (that is, an explicit month), as the send path stores it."""
    Conversation.objects.filter(pk=conversation.pk, last_seq__lt=seq).update(last_seq=seq)
    MessageKey.objects.create(
        message_id=message_id,
        conversation_id=conversation.pk,
        seq=seq,
        sender_id=sender.pk,
        client_msg_id=f"c{message_id}",
    )
    return Message.objects.create(
        id=message_id,
        conversation=conversation,
        seq=seq,
        sender=sender,
        client_msg_id=f"c{message_id}",
        body=body,
        created_at=timezone.now(),
    )


def _partition_of(message_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM messaging_message WHERE id = %s", [message_id]
        )
        return cursor.fetchone()[0]


def _this_month():
    return partitions.month_start(timezone.now())


@postgres
@pytest.mark.django_db
def test_migrations_leave_a_partitioned_table_with_this_and_next_month():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT partstrat FROM pg_partitioned_table"
            " WHERE partrelid = 'messaging_message'::regclass"
        )
        assert cursor.fetchone() == ("r",)
    names = [p.name for p in partitions.partitions_list()]
    this = _this_month()
    assert partitions.partition_name(this) in names
    assert partitions.partition_name(partitions.add_months(this, 1)) in names


@postgres
@pytest.mark.django_db
def test_inserts_on_both_sides_of_a_month_boundary_land_in_their_months(settings):
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    this = _this_month()
    following = partitions.add_months(this, 1)
    boundary = message_id_floor(datetime(following.year, following.month, 1, tzinfo=UTC))
    _store(conversation=direct, sender=alice, message_id=boundary - 1, seq=1)
    _store(conversation=direct, sender=alice, message_id=boundary, seq=2)
    assert _partition_of(boundary - 1) == partitions.partition_name(this)
    assert _partition_of(boundary) == partitions.partition_name(following)

    # Four months out has no partition yet: an insert there would fail...
    far = partitions.add_months(this, 4)
    far_id = partitions.month_bounds(far)[0]
    with pytest.raises(IntegrityError, match="no partition"), transaction.atomic():
        _store(conversation=direct, sender=alice, message_id=far_id, seq=3)
    # ...until the daily beat task has run with enough months ahead.
    settings.PARLEY_PARTITIONS_AHEAD = 4
    created = partitions_ensure()
    assert partitions.partition_name(far) in created
    _store(conversation=direct, sender=alice, message_id=far_id, seq=3)
    assert _partition_of(far_id) == partitions.partition_name(far)
    assert partitions_ensure() == []  # idempotent


@postgres
@pytest.mark.django_db
def test_hot_queries_use_indexes_and_touch_only_the_partitions_they_need():
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    for n in range(1, 6):
        message_send(sender=alice, conversation_id=direct.pk, client_msg_id=f"m{n}", body=f"b{n}")
    # Another conversation has a message next month: the queries above must not visit it.
    other = make_direct(alice, make_user())
    following = partitions.add_months(_this_month(), 1)
    _store(
        conversation=other,
        sender=alice,
        message_id=partitions.month_bounds(following)[0] + 5,
        seq=1,
    )
    dedup.ack_forget(sender_id=alice.pk, client_msg_id="m3")

    with CaptureQueriesContext(connection) as captured:
        message_history(
            user_id=bob.pk, conversation_id=direct.pk, after_seq=None, before_seq=4, limit=2
        )
        messages_after(conversation_id=direct.pk, after_seq=2, limit=50)
        ack = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m3", body="b3")
    assert ack["duplicate"] is True and ack["seq"] == 3

    plans = {}
    with transaction.atomic(), connection.cursor() as cursor:
        # With sequential scans priced out, a plan still scanning a table sequentially would
        # mean no index fits; tables this small would otherwise always be read sequentially.
        cursor.execute("SET LOCAL enable_seqscan = off")
        for query in captured.captured_queries:
            sql = query["sql"]
            if re.search(r'FROM "messaging_message(_key)?"', sql) and sql.startswith("SELECT"):
                cursor.execute("EXPLAIN " + sql)
                plans[sql] = "\n".join(row[0] for row in cursor.fetchall())
    message_plans = [p for s, p in plans.items() if 'FROM "messaging_message"' in s]
    key_plans = [p for s, p in plans.items() if 'FROM "messaging_message_key"' in s]
    # History (before seq), sync (after seq), dedup (sender, client_msg_id): each finds its
    # keys by an index, then reads the messages by id.
    assert len(key_plans) == 3 and len(message_plans) == 3, plans
    assert any("message_unique_seq" in p for p in key_plans)
    assert any("message_unique_client_id" in p for p in key_plans)
    this_partition = partitions.partition_name(_this_month())
    next_partition = partitions.partition_name(following)
    for plan in plans.values():
        assert "Seq Scan" not in plan, plan
        assert "Index" in plan, plan
    for plan in message_plans:
        assert this_partition in plan, plan
        assert next_partition not in plan, plan


@pytest.mark.django_db
def test_key_table_enforces_one_message_per_conversation_seq_and_client_id():
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageKey.objects.create(message_id=1, conversation_id=direct.pk, seq=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageKey.objects.create(
            message_id=2, conversation_id=direct.pk, seq=99, sender_id=alice.pk, client_msg_id="m1"
        )


@pytest.mark.django_db
def test_a_retry_is_answered_from_the_fast_path_without_touching_the_database(
    django_assert_num_queries, django_capture_on_commit_callbacks
):
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    with django_capture_on_commit_callbacks(execute=True):
        first = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
    with django_assert_num_queries(0):
        again = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
    assert again == {**first, "duplicate": True}


@pytest.mark.django_db
def test_a_retry_after_cleanup_still_gets_the_original_ack():
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    first = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
    # The fast-path entry has expired and the scheduled cleanup has run.
    dedup.ack_forget(sender_id=alice.pk, client_msg_id="m1")
    assert message_keys_prune() == 0
    again = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
    assert again == {**first, "duplicate": True}
    assert Message.objects.filter(conversation=direct).count() == 1


@pytest.mark.django_db
def test_cleanup_prunes_only_keys_whose_message_is_gone():
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="x")
    MessageKey.objects.create(
        message_id=12345, conversation_id=999, seq=1, sender_id=alice.pk, client_msg_id="gone"
    )
    assert message_keys_prune() == 1
    assert list(MessageKey.objects.values_list("client_msg_id", flat=True)) == ["m1"]


@pytest.mark.django_db
def test_partitions_command_on_sqlite_says_postgresql_only_and_on_postgresql_lists():
    if connection.vendor == "sqlite":
        with pytest.raises(CommandError, match="PostgreSQL only"):
            call_command("partitions", "list")
    else:
        call_command("partitions", "list")


def test_partitions_command_exits_non_zero_on_sqlite(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "PARLEY_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "partitions", "ensure", "--ahead", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "PostgreSQL only" in result.stderr


@postgres
@pytest.mark.django_db
def test_partitions_list_and_ensure_commands(capsys):
    call_command("partitions", "ensure", "--ahead", "3")
    out = capsys.readouterr().out
    third = partitions.partition_name(partitions.add_months(_this_month(), 3))
    assert f"created {third}" in out
    call_command("partitions", "ensure", "--ahead", "3")
    assert "0 created" in capsys.readouterr().out
    call_command("partitions", "list")
    out = capsys.readouterr().out
    assert third in out and partitions.partition_name(_this_month()) in out
    with pytest.raises(CommandError, match="--ahead must be 0 or more"):
        call_command("partitions", "ensure", "--ahead", "-1")


@postgres
@pytest.mark.django_db
def test_detach_refuses_the_current_month_and_bad_months():
    following = partitions.add_months(_this_month(), 1)
    with pytest.raises(CommandError, match="refusing to detach the current month"):
        call_command("partitions", "detach", "--before", f"{following:%Y-%m}", "--yes")
    for bad in ("2026-13", "2026-1", "soon"):
        with pytest.raises(CommandError, match="YYYY-MM"):
            call_command("partitions", "detach", "--before", bad, "--yes")


@postgres
@pytest.mark.django_db(transaction=True)
def test_detach_dumps_drops_and_forgets_old_months(tmp_path, capsys):
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    old = partitions.add_months(_this_month(), -14)
    with connection.cursor() as cursor:
        cursor.execute(partitions.create_partition_sql(old))
    old_id = partitions.month_bounds(old)[0] + 1
    _store(conversation=direct, sender=alice, message_id=old_id, seq=1, body="from long ago")
    message_send(sender=alice, conversation_id=direct.pk, client_msg_id="now", body="today")
    before = f"{partitions.add_months(old, 1):%Y-%m}"

    # Without --yes and without a terminal to ask on, nothing happens.
    with pytest.raises(CommandError, match="--yes"):
        call_command("partitions", "detach", "--before", before, "--dump", str(tmp_path))
    assert Message.objects.filter(pk=old_id).exists()

    call_command("partitions", "detach", "--before", before, "--dump", str(tmp_path), "--yes")
    dump = tmp_path / f"{partitions.partition_name(old)}.csv"
    assert "from long ago" in dump.read_text()
    assert not Message.objects.filter(pk=old_id).exists()
    assert not MessageKey.objects.filter(message_id=old_id).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [partitions.partition_name(old)])
        assert cursor.fetchone() == (None,)
    # The current month is untouched and still takes messages.
    assert Message.objects.filter(body="today").exists()
    message_send(sender=alice, conversation_id=direct.pk, client_msg_id="later", body="more")
    assert "no partitions before" in (
        call_command("partitions", "detach", "--before", before, "--yes") or capsys.readouterr().out
    )


# --- a deployment whose beat stopped (issue 14, item 9) -----------------------------------------


def _past_the_last_partition(months: int) -> datetime:
    """Mid-month, `months` months after the last month that has a partition: beat has not run
    for that long."""
    last = max(p.month for p in partitions.partitions_list())
    beyond = partitions.add_months(last, months)
    return datetime(beyond.year, beyond.month, 15, 12, tzinfo=UTC)


@postgres
@pytest.mark.django_db
def test_a_send_past_the_last_partition_creates_its_month_and_is_acked(moved_clock):
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    moment = _past_the_last_partition(2)
    month = partitions.month_start(moment)
    with moved_clock(moment, tick=True):
        ack = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m1", body="hi")
        again = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m2", body="2")
        ahead = partitions.months_ahead()
    assert ack["seq"] == 1 and again["seq"] == 2
    assert _partition_of(int(ack["id"])) == partitions.partition_name(month)
    # The following month is made ready too, so the next boundary needs nothing on demand.
    assert ahead >= 1
    page, _, _ = message_history(
        user_id=bob.pk, conversation_id=direct.pk, after_seq=None, before_seq=None, limit=10
    )
    assert [m["body"] for m in page] == ["hi", "2"]


async def _ack(socket) -> dict:
    """The socket's ack, passing over the messages its user's other sockets sent meanwhile."""
    while True:
        frame = await receive(socket)
        if frame["type"] != "message":
            return frame


@postgres
@pytest.mark.django_db(transaction=True)
async def test_websocket_sends_past_the_last_partition_are_acked_through_the_batcher(
    moved_clock,
):
    alice = await database_sync_to_async(make_user)()
    bob = await database_sync_to_async(make_user)()
    direct = await database_sync_to_async(make_direct)(alice, bob)
    # Far enough out that no other test's months are touched (this test commits its partition).
    moment = await database_sync_to_async(_past_the_last_partition)(24)
    with moved_clock(moment, tick=True):
        sockets = [(await ready_socket(alice))[0] for _ in range(3)]
        # Three sockets send at once: the gateway stores them in batches (gateway/batching.py).
        for n, socket in enumerate(sockets):
            await socket.send_json_to(
                {"type": "send", "conversation": direct.pk, "client_msg_id": f"w{n}", "body": "b"}
            )
        acks = [await _ack(socket) for socket in sockets]
        for socket in sockets:
            await socket.disconnect()
    assert sorted(ack["seq"] for ack in acks) == [1, 2, 3]
    names = await database_sync_to_async(lambda: {_partition_of(int(a["id"])) for a in acks})()
    assert names == {partitions.partition_name(partitions.month_start(moment))}


def _months_ahead_on_metrics() -> float | None:
    page = Client().get("/metrics").content.decode()
    for line in page.splitlines():
        if line.startswith("parley_partitions_months_ahead "):
            return float(line.split()[1])
    return None


@pytest.mark.django_db
def test_metrics_show_how_many_months_of_partitions_are_ready(moved_clock, settings):
    if not partitions.is_partitioned():
        assert _months_ahead_on_metrics() is None  # SQLite: nothing to alert on
        return
    settings.PARLEY_PARTITIONS_AHEAD = 2
    partitions_ensure()
    assert _months_ahead_on_metrics() >= 2
    last = max(p.month for p in partitions.partitions_list())
    # Beat stopped: in the last prepared month nothing is ready ahead (the alert fires below 1),
    # and a month later even the current month has no partition.
    with moved_clock(datetime(last.year, last.month, 10, tzinfo=UTC), tick=False):
        assert _months_ahead_on_metrics() == 0
    beyond = partitions.add_months(last, 1)
    with moved_clock(datetime(beyond.year, beyond.month, 10, tzinfo=UTC), tick=False):
        assert _months_ahead_on_metrics() == -1


@postgres
@pytest.mark.django_db(transaction=True)
def test_a_server_start_makes_the_months_beat_missed(moved_clock, settings):
    settings.PARLEY_PARTITIONS_ENSURE_AT_START = True
    settings.PARLEY_PARTITIONS_AHEAD = 2
    # Far enough out that no other test's months are touched (this test commits its partitions).
    moment = _past_the_last_partition(36)
    with moved_clock(moment, tick=False):
        assert partitions.months_ahead() == -1
        partitions.partitions_ensure_in_background().join(timeout=60)
        assert partitions.months_ahead() == 2
