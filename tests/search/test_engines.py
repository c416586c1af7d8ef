"""Each engine's storage: the PostgreSQL column, GIN index (on every partition, used by the
plan) and configuration; the SQLite FTS5 table and its triggers."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging import partitions
from messaging.models import Conversation
from messaging.services import message_send
from search import schema
from search.selectors import message_search
from tests.factories import make_direct, make_group, make_users

pytestmark = pytest.mark.django_db
postgres = pytest.mark.postgres
sqlite_only = pytest.mark.skipif("connection.vendor != 'sqlite'")


def send(user, conversation, body: str, n: int) -> int:
    ack = message_send(
        sender=user, conversation_id=conversation.pk, client_msg_id=f"e{n}", body=body
    )
    return int(ack["id"])


def settle_deferred_constraints() -> None:
    """The test's transaction has deferred foreign-key checks pending, which PostgreSQL does not
    allow under an ALTER TABLE (an operator's command runs on its own, with none)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def ids(page) -> list[int]:
    return [int(r["message"]["id"]) for r in page["results"]]


@postgres
def test_a_new_partition_gets_the_gin_index():
    month = partitions.add_months(partitions.month_start(timezone.now()), 7)
    with connection.cursor() as cursor:
        cursor.execute(partitions.create_partition_sql(month))
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s",
            [partitions.partition_name(month)],
        )
        definitions = [row[0] for row in cursor.fetchall()]
    assert any("USING gin (search_vector)" in d for d in definitions), definitions


@postgres
def test_the_search_query_uses_the_gin_index_on_a_realistic_table():
    """20,000 messages over a realistic vocabulary and one with a rare word, with statistics:
    the plan finds the rare word through the GIN index, not by reading messages one by one."""
    alice, bob = make_users("alice", "bob")
    group = make_group(alice, bob)
    others = [make_group(alice, bob, name=f"g{n}") for n in range(5)]
    send(alice, group, "the rare word is zanzibar", 1)
    with connection.cursor() as cursor:
        # Ids in this month's partition, below the ones the send path hands out now.
        low, _ = partitions.month_bounds(partitions.month_start(timezone.now()))
        conversation_ids = [group.pk] + [c.pk for c in others]
        cursor.execute(
            "INSERT INTO messaging_message (id, conversation_id, seq, sender_id, body, created_at,"
            " change_seq, html, mentions_all)"
            " SELECT %s + n, (%s::bigint[])[1 + n %% %s], 1000 + n, %s,"
            # Three words of a 3,000-word vocabulary: like chat, most words are uncommon.
            " 'w' || (n * 7 %% 3000) || ' w' || (n * 13 %% 3000) || ' w' || (n * 31 %% 3000),"
            " now(), 0, '', false FROM generate_series(1, 20000) AS n",
            [low, conversation_ids, len(conversation_ids), alice.pk],
        )
        cursor.execute("ANALYZE messaging_message")
        cursor.execute("ANALYZE messaging_membership")

    with CaptureQueriesContext(connection) as queries:
        page = message_search(user_id=bob.pk, q="zanzibar")
    assert len(page["results"]) == 1
    [sql] = [q["sql"] for q in queries.captured_queries if "@@" in q["sql"] and "LIMIT" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    this_month = partitions.partition_name(partitions.month_start(timezone.now()))
    assert f"Bitmap Index Scan on {this_month}_search_vector_idx" in plan, plan
    # (An empty partition may be read directly: there is nothing in it.)
    assert f"Seq Scan on {this_month}" not in plan, plan


@postgres
def test_english_configuration_stems_and_a_query_of_stop_words_is_a_400(settings, client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    running = send(alice, direct, "the servers were running hot", 1)
    settle_deferred_constraints()
    settings.PARLEY_SEARCH_CONFIG = "english"
    with pytest.raises(CommandError):
        call_command("search_rebuild", "--check")

    call_command("search_rebuild")

    call_command("search_rebuild", "--check")
    assert ids(message_search(user_id=bob.pk, q="run server")) == [running]
    response = client_for(bob).get("/api/search/", {"q": "the and of"})
    assert response.status_code == 400
    assert response.json()["field"] == "q"
    assert "stop words" in response.json()["detail"]


@postgres
def test_simple_configuration_keeps_stop_words_as_words(client_for):
    alice, bob = make_users("alice", "bob")
    message_id = send(alice, make_direct(alice, bob), "to be or not to be", 1)
    assert ids(message_search(user_id=bob.pk, q='"to be"')) == [message_id]


def test_a_configuration_name_that_is_not_one_is_refused(settings):
    settings.PARLEY_SEARCH_CONFIG = "simple'; DROP TABLE x; --"
    with pytest.raises(CommandError, match="not a configuration name"):
        call_command("search_rebuild")


@sqlite_only
def test_triggers_a_table_rebuild_dropped_come_back_after_migrate():
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    before = send(alice, direct, "written with triggers", 1)
    with connection.cursor() as cursor:
        for name in schema._TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")
    missed = send(alice, direct, "written without triggers", 2)

    schema.index_ensure_after_migrate(using="default")

    assert sorted(ids(message_search(user_id=bob.pk, q="written"))) == sorted([before, missed])
    after = send(alice, direct, "written afterwards", 3)
    assert after in ids(message_search(user_id=bob.pk, q="written"))


@sqlite_only
def test_messages_deleted_with_their_conversation_leave_the_index():
    alice, bob = make_users("alice", "bob")
    group = make_group(alice, bob)
    send(alice, group, "ephemeral words", 1)
    Conversation.objects.filter(pk=group.pk).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM search_message_fts WHERE search_message_fts MATCH 'ephemeral'"
        )
        assert cursor.fetchone()[0] == 0


def test_search_rebuild_keeps_every_message_findable():
    alice, bob = make_users("alice", "bob")
    message_id = send(alice, make_direct(alice, bob), "rebuild me please", 1)
    settle_deferred_constraints()
    call_command("search_rebuild")
    assert ids(message_search(user_id=bob.pk, q="rebuild")) == [message_id]


@postgres
def test_a_rare_query_in_a_busy_conversation_reads_a_few_rows_not_the_conversation():
    """One conversation holds most messages. A rare word there must be found through the GIN
    index: a plan that walks that conversation's messages (what a join on the membership
    table led the planner to, estimating every conversation at the average size) reads them
    all."""
    from bench.search import rows_examined

    alice, bob = make_users("alice", "bob")
    busy = make_group(alice, bob, name="busy")
    quiet = Conversation.objects.bulk_create(
        [Conversation(kind="group", name=f"quiet {n}") for n in range(300)]
    )
    # A partition of its own (a month ahead), so rows other tests inserted and rolled back
    # (their dead tuples and index entries stay) do not tilt the planner's estimates.
    month = partitions.add_months(partitions.month_start(timezone.now()), 9)
    low, _ = partitions.month_bounds(month)
    planted = low + 50_000
    with connection.cursor() as cursor:
        cursor.execute(partitions.create_partition_sql(month))
        cursor.execute(
            "INSERT INTO messaging_message (id, conversation_id, seq, sender_id, body, created_at,"
            " change_seq, html, mentions_all)"
            " VALUES (%s, %s, 50000, %s, 'zanzibar quokka sighting', now(), 0, '', false)",
            [planted, busy.pk, alice.pk],
        )
        cursor.execute(
            "INSERT INTO messaging_message (id, conversation_id, seq, sender_id, body, created_at,"
            " change_seq, html, mentions_all)"
            " SELECT %s + n, CASE WHEN n <= 15000 THEN %s ELSE (%s::bigint[])[1 + n %% %s] END,"
            " 1000 + n, %s,"
            " 'w' || (n * 7 %% 3000) || ' w' || (n * 13 %% 3000) || ' w' || (n * 31 %% 3000),"
            " now(), 0, '', false FROM generate_series(1, 21000) AS n",
            [low, busy.pk, [c.pk for c in quiet], len(quiet), alice.pk],
        )
        cursor.execute(f"ANALYZE {partitions.partition_name(month)}")
        cursor.execute("ANALYZE messaging_membership")

    with CaptureQueriesContext(connection) as queries:
        page = message_search(user_id=bob.pk, q="zanzibar quokka")
    assert ids(page) == [planted]
    [sql] = [q["sql"] for q in queries.captured_queries if "@@" in q["sql"] and "LIMIT" in q["sql"]]
    examined = rows_examined(sql)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert examined < 100, plan
