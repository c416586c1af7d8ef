"""GET /api/search/: finds what the user may read (history's rule) and nothing else, with the
web-search syntax, filters, cursor paging and clear 400s; on both configurations."""

import itertools
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from announcements.services import broadcast_post
from groups.services import group_leave, group_member_add, group_member_remove
from messaging import partitions
from messaging.ids import message_id_floor
from messaging.models import Conversation, Message, MessageKey
from messaging.services import message_delete, message_edit, message_send
from search.selectors import message_search
from tests.factories import make_direct, make_group, make_user, make_users

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)


def send(user, conversation, body: str) -> int:
    ack = message_send(
        sender=user, conversation_id=conversation.pk, client_msg_id=f"c{next(_ids)}", body=body
    )
    return int(ack["id"])


def search(client, **params):
    return client.get("/api/search/", params)


def found(client, **params) -> list[int]:
    response = search(client, **params)
    assert response.status_code == 200, response.json()
    return [int(r["message"]["id"]) for r in response.json()["results"]]


def store_at(conversation, sender, moment, body: str) -> int:
    """A message created at `moment` (its id says so), stored as the send path stores it."""
    if partitions.is_partitioned():
        with connection.cursor() as cursor:
            cursor.execute(partitions.create_partition_sql(partitions.month_start(moment)))
    conversation.refresh_from_db()
    seq = conversation.last_seq + 1
    Conversation.objects.filter(pk=conversation.pk).update(last_seq=seq)
    message_id = message_id_floor(moment) + next(_ids)
    MessageKey.objects.create(
        message_id=message_id, conversation_id=conversation.pk, seq=seq, sender_id=sender.pk
    )
    Message.objects.create(
        id=message_id,
        conversation=conversation,
        seq=seq,
        sender=sender,
        body=body,
        created_at=moment,
    )
    return message_id


# --- What a result is ---------------------------------------------------------------------


def test_a_result_is_the_history_message_its_conversation_and_an_escaped_highlight(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    message_id = send(alice, direct, 'Lunch at <b>noon</b> & "then" coffee')

    response = search(client_for(bob), q="noon")

    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    [result] = body["results"]
    history = client_for(bob).get(f"/api/conversations/{direct.pk}/messages/").json()["results"]
    assert result["message"] == next(m for m in history if int(m["id"]) == message_id)
    assert result["conversation"] == {"id": direct.pk, "kind": "direct", "title": "alice"}
    assert "<mark>noon</mark>" in result["highlight"]
    assert "&lt;b&gt;" in result["highlight"] and "&amp;" in result["highlight"]
    assert "<b>" not in result["highlight"]


def test_the_senders_own_result_carries_its_receipt_state_as_history_does(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    message_id = send(alice, direct, "quarterly report attached")

    [result] = search(client_for(alice), q="quarterly").json()["results"]
    history = client_for(alice).get(f"/api/conversations/{direct.pk}/messages/").json()["results"]

    assert result["message"] == next(m for m in history if int(m["id"]) == message_id)
    assert result["message"]["status"] == "sent"


@pytest.mark.parametrize(
    "body",
    [
        '<script>alert("x")</script> hello',
        "<mark>hello</mark> <img src=x onerror=alert(1)>",
        "hello &lt;b&gt; ' \" <>",
        "x" * 400 + " <i>hello</i> " + "y <z> " * 200,
    ],
)
def test_a_highlight_holds_only_mark_tags_and_escaped_text(client_for, body):
    alice, bob = make_users("alice", "bob")
    send(alice, make_direct(alice, bob), body)

    [result] = search(client_for(bob), q="hello").json()["results"]

    highlight = result["highlight"]
    assert "<mark>hello</mark>" in highlight
    without_marks = highlight.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in without_marks and ">" not in without_marks
    assert highlight.count("<mark>") == highlight.count("</mark>")
    assert re.fullmatch(r"([^&]|&(amp|lt|gt|quot|#x27);)*", without_marks)


# --- Visibility -----------------------------------------------------------------------------


def test_a_non_member_finds_nothing_of_a_conversation(client_for):
    alice, bob, carol = make_users("alice", "bob", "carol")
    send(alice, make_direct(alice, bob), "secret plans")
    send(alice, make_group(alice, bob, name="private"), "more secret plans")

    assert found(client_for(carol), q="secret") == []
    assert len(found(client_for(bob), q="secret")) == 2


def test_a_member_who_joined_later_finds_only_messages_from_their_join_on(client_for):
    alice, bob, dave = make_users("alice", "bob", "dave")
    group = make_group(alice, bob)
    send(alice, group, "budget before dave")
    group_member_add(actor=alice, group_id=group.pk, user_id=dave.pk)
    after = send(alice, group, "budget after dave")

    assert found(client_for(dave), q="budget") == [after]
    assert len(found(client_for(bob), q="budget")) == 2


@pytest.mark.parametrize("how", ["left", "removed"])
def test_a_member_who_left_finds_nothing_of_that_conversation(client_for, how):
    alice, bob = make_users("alice", "bob")
    group = make_group(alice, bob)
    send(alice, group, "roadmap draft")
    assert len(found(client_for(bob), q="roadmap")) == 1

    if how == "left":
        group_leave(user=bob, group_id=group.pk)
    else:
        group_member_remove(actor=alice, group_id=group.pk, user_id=bob.pk)

    assert found(client_for(bob), q="roadmap") == []


def test_a_deleted_message_never_matches(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    kept = send(alice, direct, "invoice one")
    gone = send(alice, direct, "invoice two")
    message_delete(actor=alice, conversation_id=direct.pk, message_id=gone)

    assert found(client_for(bob), q="invoice") == [kept]
    assert found(client_for(bob), q="two") == []


def test_an_edited_message_matches_its_new_text_only(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    message_id = send(alice, direct, "meet at the harbour")
    message_edit(
        editor=alice, conversation_id=direct.pk, message_id=message_id, body="meet at the station"
    )

    assert found(client_for(bob), q="harbour") == []
    [result] = search(client_for(bob), q="station").json()["results"]
    assert result["message"]["body"] == "meet at the station"
    assert result["message"]["edited_at"] is not None


def test_announcements_are_found_by_everyone_even_people_who_came_later(client_for):
    staff = make_user("staff", is_staff=True)
    early = make_user("early")
    ack = broadcast_post(actor=staff, client_msg_id="a1", body="maintenance window on Sunday")
    late = make_user("late")

    for user in (early, late, staff):
        response = search(client_for(user), q="maintenance")
        [result] = response.json()["results"]
        assert result["message"]["id"] == ack["id"]
        assert result["conversation"]["kind"] == "announcement"


# --- Query syntax ---------------------------------------------------------------------------


@pytest.fixture
def fruit(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    ids = {
        "red apple pie": send(alice, direct, "red apple pie"),
        "apple red": send(alice, direct, "apple red"),
        "green apple": send(alice, direct, "green apple"),
        "banana split": send(alice, direct, "banana split"),
        "cherry tart": send(alice, direct, "cherry tart"),
    }
    return client_for(bob), ids


def test_words_must_all_occur(fruit):
    client, ids = fruit
    assert set(found(client, q="apple red")) == {ids["red apple pie"], ids["apple red"]}


def test_a_quoted_phrase_needs_its_words_in_order(fruit):
    client, ids = fruit
    assert found(client, q='"red apple"') == [ids["red apple pie"]]


def test_an_excluded_word_removes_its_messages(fruit):
    client, ids = fruit
    assert set(found(client, q="apple -pie")) == {ids["apple red"], ids["green apple"]}
    assert found(client, q='apple -"apple red" -pie') == [ids["green apple"]]


def test_or_finds_either_side(fruit):
    client, ids = fruit
    assert set(found(client, q="banana OR cherry")) == {ids["banana split"], ids["cherry tart"]}
    assert set(found(client, q="green apple or tart")) == {ids["green apple"], ids["cherry tart"]}


def test_search_syntax_characters_in_a_query_are_only_text(fruit):
    client, _ids = fruit
    for q in ["apple*", "apple AND", "NEAR(apple red)", "apple:", "(apple", "^apple", 'apple "']:
        response = search(client, q=q)
        assert response.status_code == 200, (q, response.json())


def test_matching_ignores_case(fruit):
    client, ids = fruit
    assert found(client, q="CHERRY") == [ids["cherry tart"]]


# --- Filters ------------------------------------------------------------------------------


def test_filters_by_conversation_sender_and_link(client_for):
    alice, bob, carol = make_users("alice", "bob", "carol")
    direct = make_direct(alice, bob)
    group = make_group(alice, bob, carol)
    in_direct = send(alice, direct, "deploy today")
    by_carol = send(carol, group, "deploy tomorrow")
    link = send(alice, group, "deploy notes: https://example.com/deploy")
    client = client_for(bob)

    assert found(client, q="deploy", conversation=direct.pk) == [in_direct]
    assert found(client, q="deploy", **{"from": carol.pk}) == [by_carol]
    assert found(client, q="deploy", has="link") == [link]
    assert found(client, q="deploy", conversation=99999) == []


def test_filters_messages_with_files(client_for, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "uploads": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media"},
        },
    }
    alice, bob = make_users("alice", "bob")
    group = make_group(alice, bob)
    plain = send(alice, group, "the report")
    sender = client_for(alice)
    uploaded = sender.post(
        "/api/uploads/",
        {"file": SimpleUploadedFile("report.txt", b"quarterly numbers")},
        format="multipart",
    )
    assert uploaded.status_code == 201, uploaded.json()
    sent = sender.post(
        f"/api/conversations/{group.pk}/messages/",
        {
            "client_msg_id": "with-file",
            "body": "the report, attached",
            "attachments": [uploaded.json()["id"]],
        },
        format="json",
    )
    assert sent.status_code == 201, sent.json()
    with_file = int(sent.json()["id"])
    client = client_for(bob)

    assert sorted(found(client, q="report")) == sorted([plain, with_file])
    assert found(client, q="report", has="file") == [with_file]
    page = search(client, q="report", has="file").json()
    assert [a["name"] for a in page["results"][0]["message"]["attachments"]] == ["report.txt"]


def test_filters_by_date(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    now = timezone.now()
    two_days_ago = store_at(direct, alice, now - timedelta(days=2), "standup notes")
    yesterday = store_at(direct, alice, now - timedelta(days=1), "standup notes")
    today = store_at(direct, alice, now - timedelta(minutes=1), "standup notes")
    client = client_for(bob)
    day = (now - timedelta(days=1)).date().isoformat()

    assert found(client, q="standup", after=day) == [today, yesterday]
    assert found(client, q="standup", before=day) == [two_days_ago]
    moment = (now - timedelta(hours=12)).isoformat()
    assert found(client, q="standup", after=moment) == [today]
    assert found(client, q="standup", before=moment, after=day) == [yesterday]


# --- Order and paging -----------------------------------------------------------------------


def _all_pages(client, **params) -> list[int]:
    seen: list[int] = []
    cursor = None
    for _ in range(50):
        response = search(client, **params, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.json()
        page = response.json()
        assert len(page["results"]) <= params["limit"]
        seen += [int(r["message"]["id"]) for r in page["results"]]
        cursor = page["next"]
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


def test_pages_newest_first_with_no_duplicates_or_gaps(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    ids = [send(alice, direct, f"ticket number {n}") for n in range(23)]
    send(alice, direct, "something else")

    assert _all_pages(client_for(bob), q="ticket", limit=5) == list(reversed(ids))
    assert _all_pages(client_for(bob), q="ticket", limit=23) == list(reversed(ids))


def test_relevance_pages_best_first_with_no_duplicates_or_gaps(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    # Several messages per rank: ties are broken by id.
    bodies = [" ".join(["kiwi"] * (n % 4 + 1) + ["filler"] * (n % 3)) for n in range(22)]
    ids = [send(alice, direct, body) for body in bodies]

    paged = _all_pages(client_for(bob), q="kiwi", limit=4, sort="relevance")

    assert sorted(paged) == sorted(ids)
    assert len(set(paged)) == len(paged)
    whole = found(client_for(bob), q="kiwi", limit=100, sort="relevance")
    assert paged == whole
    best = search(client_for(bob), q="kiwi", limit=1, sort="relevance").json()["results"][0]
    assert best["message"]["body"].count("kiwi") == 4


def test_default_limit_is_20_and_at_most_100(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    for n in range(21):
        send(alice, direct, f"alert {n}")
    page = search(client_for(bob), q="alert").json()
    assert len(page["results"]) == 20 and page["next"] is not None
    assert search(client_for(bob), q="alert", limit=100).status_code == 200


# --- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": '"" - !!'}, "q"),
        ({"q": "-apple"}, "q"),
        ({"q": "pear OR -apple"}, "q"),
        ({"q": "x" * 501}, "q"),
        ({"q": "apple", "limit": "0"}, "limit"),
        ({"q": "apple", "limit": "101"}, "limit"),
        ({"q": "apple", "limit": "ten"}, "limit"),
        ({"q": "apple", "before": "yesterday"}, "before"),
        ({"q": "apple", "after": "2026-13-45"}, "after"),
        ({"q": "apple", "conversation": "abc"}, "conversation"),
        ({"q": "apple", "conversation": "99999999999999999999"}, "conversation"),
        ({"q": "apple", "from": "-3"}, "from"),
        ({"q": "apple", "has": "image"}, "has"),
        ({"q": "apple", "sort": "oldest"}, "sort"),
        ({"q": "apple", "cursor": "garbage"}, "cursor"),
    ],
)
def test_bad_input_is_a_400_that_names_the_field(client_for, params, field):
    user = make_user()
    response = search(client_for(user), **params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "bad_request"
    assert body["field"] == field
    assert body["detail"]


def test_a_tampered_or_foreign_cursor_is_a_400(client_for):
    alice, bob = make_users("alice", "bob")
    direct = make_direct(alice, bob)
    for n in range(3):
        send(alice, direct, f"memo {n} agenda")
    cursor = search(client_for(bob), q="memo", limit=1).json()["next"]
    assert cursor

    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for params in (
        {"q": "memo", "cursor": tampered},
        {"q": "agenda", "cursor": cursor},  # another query's cursor
        {"q": "memo", "sort": "relevance", "cursor": cursor},
    ):
        response = search(client_for(bob), limit=1, **params)
        assert response.status_code == 400, params
        assert response.json()["field"] == "cursor"
    # Someone else's cursor is refused too (it is bound to the user who searched).
    assert search(client_for(alice), q="memo", limit=1, cursor=cursor).status_code == 400


def test_anonymous_requests_are_refused(anon_client):
    assert anon_client.get("/api/search/", {"q": "x"}).status_code == 401


def test_the_endpoint_is_in_the_openapi_schema(client_for):
    schema = client_for(make_user()).get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/search/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {
        "q",
        "conversation",
        "from",
        "before",
        "after",
        "has",
        "sort",
        "limit",
        "cursor",
    } <= names


def test_a_page_costs_the_same_few_queries_however_many_conversations_it_spans(
    django_assert_max_num_queries,
):
    bob = make_user("bob")
    for n in range(10):
        other = make_user(f"other{n}")
        send(other, make_direct(other, bob), f"status update {n}")
        send(other, make_group(other, bob, name=f"team {n}"), f"status report {n}")

    # The check and conversations, the page, its messages (with highlights on PostgreSQL),
    # highlights on SQLite, the names of direct chats, the page's attachments and previews
    # (as history reads them).
    with django_assert_max_num_queries(7):
        page = message_search(user_id=bob.pk, q="status")
    assert len(page["results"]) == 20


def test_searching_faster_than_the_rate_limit_is_a_429_with_retry_after(client_for, settings):
    settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, "search": "1/m:2"}
    alice, bob = make_users("alice", "bob")
    client = client_for(alice)

    assert search(client, q="anything").status_code == 200
    assert search(client, q="anything").status_code == 200
    refused = search(client, q="anything")

    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    # Per user: someone else still searches.
    assert search(client_for(bob), q="anything").status_code == 200
