import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.history_cache import history_cache_invalidate
from messaging.models import Membership, Message
from messaging.selectors import message_history, messages_before
from messaging.services import message_send
from tests.factories import make_group, make_user


def _reads_messages(captured) -> bool:
    return any("messaging_message" in q["sql"] for q in captured.captured_queries)


def _history(user, conversation, limit=50):
    return message_history(
        user_id=user.pk,
        conversation_id=conversation.pk,
        after_seq=None,
        before_seq=None,
        limit=limit,
    )


@pytest.fixture
def chat(db, django_capture_on_commit_callbacks):
    alice, bob = make_user(), make_user()
    group = make_group(alice, bob)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(1, 8):
            message_send(sender=alice, conversation_id=group.pk, client_msg_id=f"m{n}", body=f"{n}")
    return alice, bob, group


def test_newest_page_is_served_from_the_cache_once_warm(chat, client_for):
    _alice, bob, group = chat
    url = f"/api/conversations/{group.pk}/messages/?limit=5"
    first = client_for(bob).get(url).json()
    with CaptureQueriesContext(connection) as captured:
        second = client_for(bob).get(url).json()
    assert not _reads_messages(captured)
    assert first == second
    assert [m["seq"] for m in second["results"]] == [3, 4, 5, 6, 7] and second["has_more"]


def test_a_send_updates_the_warm_page(chat, django_capture_on_commit_callbacks):
    _alice, bob, group = chat
    _history(bob, group)
    with django_capture_on_commit_callbacks(execute=True):
        message_send(sender=bob, conversation_id=group.pk, client_msg_id="b1", body="new")
    with CaptureQueriesContext(connection) as captured:
        page, has_more, last_seq = _history(bob, group, limit=3)
    assert not _reads_messages(captured)
    assert [m["body"] for m in page] == ["6", "7", "new"] and has_more and last_seq == 8


def test_a_send_whose_update_was_missed_is_never_served_stale(chat):
    _alice, bob, group = chat
    _history(bob, group)
    # Outside a committed transaction the after-commit update does not run here: the entry is
    # now one message behind the conversation and must not be used.
    message_send(sender=bob, conversation_id=group.pk, client_msg_id="b1", body="new")
    page, _, _ = _history(bob, group, limit=2)
    assert [m["body"] for m in page] == ["7", "new"]


def test_invalidation_after_an_edit_shows_the_edit(chat):
    _alice, bob, group = chat
    _history(bob, group)
    Message.objects.filter(conversation=group, seq=7).update(body="edited")
    assert _history(bob, group)[0][-1]["body"] == "7"  # the warm page, as cached
    history_cache_invalidate(group.pk)
    assert _history(bob, group)[0][-1]["body"] == "edited"


@pytest.mark.parametrize("cache_size", [5, 6, 50])
@pytest.mark.parametrize("limit", [1, 3, 5, 6, 7, 8, 50])
@pytest.mark.parametrize("joined_seq", [0, 2, 6, 7])
def test_cached_pages_equal_database_pages_for_every_join_point(
    chat, settings, cache_size, limit, joined_seq
):
    settings.PARLEY_HISTORY_CACHE_SIZE = cache_size
    _alice, bob, group = chat
    Membership.objects.filter(user=bob, conversation=group).update(joined_seq=joined_seq)
    expected = messages_before(
        conversation_id=group.pk, before_seq=None, limit=limit, floor_seq=joined_seq
    )
    cold = _history(bob, group, limit=limit)[:2]
    warm = _history(bob, group, limit=limit)[:2]
    assert cold == warm == expected


@pytest.mark.django_db
def test_the_default_page_of_a_long_conversation_is_served_warm(
    client_for, django_capture_on_commit_callbacks
):
    alice, bob = make_user(), make_user()
    group = make_group(alice, bob)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(60):
            message_send(sender=alice, conversation_id=group.pk, client_msg_id=f"m{n}", body="x")
    url = f"/api/conversations/{group.pk}/messages/"
    cold = client_for(bob).get(url).json()
    with django_capture_on_commit_callbacks(execute=True):
        message_send(sender=bob, conversation_id=group.pk, client_msg_id="b", body="reply")
    with CaptureQueriesContext(connection) as captured:
        warm = client_for(bob).get(url).json()
    assert not _reads_messages(captured)
    assert len(warm["results"]) == 50 and warm["has_more"] is True
    assert warm["results"][:-1] == cold["results"][1:]
    assert warm["results"][-1]["body"] == "reply"


def test_edit_delete_and_membership_messages_reach_the_warm_page(
    chat, django_capture_on_commit_callbacks
):
    from groups.services import group_member_add
    from messaging.services import message_delete, message_edit

    alice, bob, group = chat
    carol = make_user()
    _history(bob, group)  # warm
    seven = Message.objects.get(conversation=group, seq=7)
    six = Message.objects.get(conversation=group, seq=6)
    with django_capture_on_commit_callbacks(execute=True):
        message_edit(editor=alice, conversation_id=group.pk, message_id=seven.pk, body="seven!")
    assert _history(bob, group)[0][-1]["body"] == "seven!"
    with django_capture_on_commit_callbacks(execute=True):
        message_delete(actor=alice, conversation_id=group.pk, message_id=six.pk)
    assert _history(bob, group)[0][-2]["deleted"] is True
    with django_capture_on_commit_callbacks(execute=True):
        group_member_add(actor=alice, group_id=group.pk, user_id=carol.pk)
    newest = _history(bob, group)[0][-1]
    assert newest["system"]["event"] == "member_added"
