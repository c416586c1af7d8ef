"""The WebSocket gateway, driven through the real chatsite.asgi.application."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from messaging.events import message_event
from messaging.models import Conversation, Message
from messaging.services import message_send
from realtime import hub as fanout
from tests.factories import make_direct, make_group, make_user, make_users, person
from tests.ws import close_code, open_socket, ready_socket, receive, receive_until

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


async def send_frame(socket, conversation, client_msg_id, body="hello"):
    await socket.send_json_to(
        {"type": "send", "conversation": conversation, "client_msg_id": client_msg_id, "body": body}
    )


# --- handshake and authentication ---------------------------------------------------------


async def test_no_credentials_closes_4401():
    socket = await open_socket(None)
    assert await close_code(socket) == 4401


@pytest.mark.parametrize(
    "headers",
    [
        [(b"authorization", b"Bearer not-a-jwt")],
        [(b"authorization", b"Basic dXNlcjpwYXNz")],
        [(b"authorization", b"Bearer ")],
    ],
)
async def test_bad_token_closes_4401(headers):
    socket = await open_socket(None, headers=headers)
    assert await close_code(socket) == 4401


async def test_token_in_query_string_authenticates():
    alice = await db(make_user)("alice")
    from tests.factories import access_token

    socket = await open_socket(None, headers=[], path=f"/ws/?token={access_token(alice)}")
    ready = await receive(socket, "ready")
    assert ready["user"] == person(alice)
    await socket.disconnect()


async def test_inactive_user_token_is_refused():
    mallory = await db(make_user)("mallory", is_active=False)
    socket = await open_socket(mallory)
    assert await close_code(socket) == 4401


async def test_ready_frame_lists_conversations_with_unread():
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    direct = await db(make_direct)(alice, bob)
    for n in range(3):
        await db(message_send)(
            sender=bob, conversation_id=direct.pk, client_msg_id=f"b{n}", body="hi"
        )
    await db(message_send)(sender=alice, conversation_id=direct.pk, client_msg_id="a0", body="yo")
    socket, ready = await ready_socket(alice)
    assert ready["heartbeat_interval"] == 25
    assert ready["features"]["edit_window_seconds"] == 15 * 60
    assert ready["features"]["max_body_chars"] == 4000
    # The summary carries the newest message: a client previews it without fetching history.
    last = ready["conversations"][0].pop("last_message")
    assert (last["seq"], last["body"], last["sender"]["id"]) == (4, "yo", alice.pk)
    assert ready["conversations"] == [
        {
            "id": direct.pk,
            "kind": "direct",
            "title": "bob",
            "last_seq": 4,
            "read_seq": 0,
            "unread": 3,
            "unread_mentions": 0,
            "joined_seq": 0,
            "last_change_seq": 0,
        }
    ]
    await socket.disconnect()


def _session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def test_session_cookie_with_allowed_origin_connects():
    alice = await db(make_user)("alice")
    cookie = await db(_session_cookie)(alice)
    socket = await open_socket(
        None, headers=[(b"cookie", cookie), (b"origin", b"http://localhost:8000")]
    )
    ready = await receive(socket, "ready")
    assert ready["user"]["id"] == alice.pk
    await socket.disconnect()


@pytest.mark.parametrize("origin", [None, b"https://evil.example", b"null"])
async def test_session_cookie_without_allowed_origin_is_refused(origin):
    """Cross-Site WebSocket Hijacking: a cookie alone does not open a socket."""
    alice = await db(make_user)("alice")
    headers = [(b"cookie", await db(_session_cookie)(alice))]
    if origin is not None:
        headers.append((b"origin", origin))
    socket = await open_socket(None, headers=headers)
    assert await close_code(socket) == 4403


async def test_token_with_foreign_origin_is_refused():
    alice = await db(make_user)("alice")
    from tests.factories import access_token

    headers = [
        (b"authorization", f"Bearer {access_token(alice)}".encode()),
        (b"origin", b"https://evil.example"),
    ]
    socket = await open_socket(None, headers=headers)
    assert await close_code(socket) == 4403


# --- chatting --------------------------------------------------------------------------------


async def test_two_users_chat_both_ways_and_a_third_sees_nothing():
    alice, bob, carol = await db(make_users)("alice", "bob", "carol")
    direct = await db(make_direct)(alice, bob)
    a, _ = await ready_socket(alice)
    b, _ = await ready_socket(bob)
    c, _ = await ready_socket(carol)

    await send_frame(a, direct.pk, "a-1", "hi bob")
    frames = [await receive(a), await receive(a)]
    ack = next(f for f in frames if f["type"] == "ack")
    assert ack["seq"] == 1 and ack["duplicate"] is False and ack["client_msg_id"] == "a-1"
    assert isinstance(ack["id"], str) and ack["created_at"].endswith("Z")
    got = await receive(b, "message")
    assert got["body"] == "hi bob" and got["sender"] == person(alice)
    assert got["seq"] == 1 and got["id"] == ack["id"] and got["conversation"] == direct.pk

    await send_frame(b, direct.pk, "b-1", "hi alice")
    _, reply = await receive_until(a, "message")
    assert reply["body"] == "hi alice" and reply["seq"] == 2

    assert await c.receive_nothing(timeout=0.3)
    for s in (a, b, c):
        await s.disconnect()


async def test_message_reaches_every_connection_of_every_member():
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    direct = await db(make_direct)(alice, bob)
    phone, _ = await ready_socket(alice)
    laptop, _ = await ready_socket(alice)
    bob_socket, _ = await ready_socket(bob)
    await send_frame(phone, direct.pk, "p-1", "from my phone")
    _, on_laptop = await receive_until(laptop, "message")
    _, on_bob = await receive_until(bob_socket, "message")
    assert on_laptop["body"] == on_bob["body"] == "from my phone"
    for s in (phone, laptop, bob_socket):
        await s.disconnect()


async def test_repeated_client_msg_id_stores_one_message_and_acks_the_original():
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    direct = await db(make_direct)(alice, bob)
    a, _ = await ready_socket(alice)
    await send_frame(a, direct.pk, "same-id", "once")
    _, first = await receive_until(a, "ack")
    await send_frame(a, direct.pk, "same-id", "once")
    _, second = await receive_until(a, "ack")
    assert second["duplicate"] is True
    assert {k: v for k, v in second.items() if k != "duplicate"} == {
        k: v for k, v in first.items() if k != "duplicate"
    }
    assert await db(Message.objects.filter(conversation=direct).count)() == 1
    await a.disconnect()


async def test_rest_send_is_delivered_live_and_socket_send_is_in_rest_history(client_for):
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    direct = await db(make_direct)(alice, bob)
    b, _ = await ready_socket(bob)
    response = await db(client_for(alice).post)(
        f"/api/conversations/{direct.pk}/messages/",
        {"client_msg_id": "rest-1", "body": "via REST"},
        format="json",
    )
    assert response.status_code == 201
    live = await receive(b, "message")
    assert live["body"] == "via REST" and live["id"] == response.json()["id"]

    await send_frame(b, direct.pk, "ws-1", "via socket")
    await receive_until(b, "ack")
    history = await db(client_for(alice).get)(
        f"/api/conversations/{direct.pk}/messages/?after_seq=0"
    )
    assert [m["body"] for m in history.json()["results"]] == ["via REST", "via socket"]
    await b.disconnect()


async def test_non_member_cannot_send_or_sync():
    alice, bob, eve = await db(make_users)("alice", "bob", "eve")
    direct = await db(make_direct)(alice, bob)
    e, _ = await ready_socket(eve)
    await send_frame(e, direct.pk, "e-1", "let me in")
    error = await receive(e, "error")
    assert error["code"] == "not_found" and error["ref"] == "e-1"
    await e.send_json_to({"type": "sync", "conversation": direct.pk, "after_seq": 0})
    assert (await receive(e, "error"))["code"] == "not_found"
    assert await db(Message.objects.count)() == 0
    await e.disconnect()


async def test_announcement_send_by_non_staff_is_forbidden():
    alice = await db(make_user)("alice")

    def make_announcement():
        conversation = Conversation.objects.create(kind="announcement", name="News")
        conversation.memberships.create(user=alice)
        return conversation

    news = await db(make_announcement)()
    a, _ = await ready_socket(alice)
    await send_frame(a, news.pk, "n-1", "hear ye")
    assert (await receive(a, "error"))["code"] == "forbidden"
    await a.disconnect()


# --- sync and resume ---------------------------------------------------------------------------


async def test_reconnect_and_sync_gets_exactly_the_missed_messages_in_order():
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    direct = await db(make_direct)(alice, bob)
    b, _ = await ready_socket(bob)
    for n in range(1, 3):
        await db(message_send)(
            sender=alice, conversation_id=direct.pk, client_msg_id=f"m{n}", body=f"m{n}"
        )
        await receive(b, "message")
    await b.disconnect()

    for n in range(3, 8):
        await db(message_send)(
            sender=alice, conversation_id=direct.pk, client_msg_id=f"m{n}", body=f"m{n}"
        )

    b, ready = await ready_socket(bob)
    assert ready["conversations"][0]["last_seq"] == 7
    await b.send_json_to({"type": "sync", "conversation": direct.pk, "after_seq": 2})
    messages, done = await receive_until(b, "sync_done")
    assert [m["seq"] for m in messages] == [3, 4, 5, 6, 7]
    assert [m["body"] for m in messages] == ["m3", "m4", "m5", "m6", "m7"]
    assert done == {
        "type": "sync_done",
        "conversation": direct.pk,
        "last_seq": 7,
        "has_more": False,
        "first_seq": 1,
    }

    # Paged: limit 2 says where to continue.
    await b.send_json_to({"type": "sync", "conversation": direct.pk, "after_seq": 2, "limit": 2})
    messages, done = await receive_until(b, "sync_done")
    assert [m["seq"] for m in messages] == [3, 4]
    assert done["has_more"] is True and done["last_seq"] == 4
    await b.disconnect()


# --- ordering ---------------------------------------------------------------------------------


@pytest.fixture
def quiet_publish(monkeypatch):
    """Messages stored while this is active are not fanned out (the test publishes them itself,
    in the order it wants, or not at all)."""
    import realtime.publish

    monkeypatch.setattr(realtime.publish, "publish_to_conversation", lambda *args: None)


def store_unpublished(sender, conversation, n):
    message_send(
        sender=sender, conversation_id=conversation.pk, client_msg_id=f"q{n}", body=f"q{n}"
    )
    return Message.objects.select_related("sender").get(conversation=conversation, seq=n)


async def test_live_messages_arriving_out_of_order_are_delivered_in_seq_order(
    reorder_wait, quiet_publish
):
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    direct = await db(make_direct)(alice, bob)
    b, _ = await ready_socket(bob)

    messages = [await db(store_unpublished)(alice, direct, n) for n in (1, 2, 3)]
    for m in (messages[2], messages[0], messages[1]):
        fanout.publish(direct.pk, "message", message_event(m, alice))
    got = [await receive(b, "message") for _ in range(3)]
    assert [m["seq"] for m in got] == [1, 2, 3]
    # A duplicate of something already delivered is not shown twice.
    fanout.publish(direct.pk, "message", message_event(messages[1], alice))
    assert await b.receive_nothing(timeout=0.3)
    await b.disconnect()


async def test_a_predecessor_that_never_arrives_is_read_from_the_database(
    reorder_wait, quiet_publish
):
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    direct = await db(make_direct)(alice, bob)
    b, _ = await ready_socket(bob)

    messages = [await db(store_unpublished)(alice, direct, n) for n in (1, 2, 3)]
    fanout.publish(direct.pk, "message", message_event(messages[2], alice))
    got = [await receive(b, "message") for _ in range(3)]
    assert [m["seq"] for m in got] == [1, 2, 3]
    assert [m["body"] for m in got] == ["q1", "q2", "q3"]
    await b.disconnect()


async def test_new_conversation_is_announced_and_then_delivers_live(client_for):
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    a, ready = await ready_socket(alice)
    assert ready["conversations"] == []
    response = await db(client_for(bob).post)(
        "/api/conversations/direct/", {"user": alice.pk}, format="json"
    )
    assert response.status_code == 201
    joined = await receive(a, "conversation")
    assert joined["conversation"]["id"] == response.json()["id"]
    assert joined["conversation"]["title"] == "bob"
    await db(message_send)(
        sender=bob, conversation_id=joined["conversation"]["id"], client_msg_id="x", body="hey"
    )
    assert (await receive(a, "message"))["body"] == "hey"
    await a.disconnect()


async def test_group_members_all_receive_group_messages():
    owner, m1, m2 = await db(make_users)("owner", "m1", "m2")
    group = await db(make_group)(owner, m1, m2)
    sockets = [(await ready_socket(u))[0] for u in (owner, m1, m2)]
    await send_frame(sockets[1], group.pk, "g-1", "hello team")
    for s in (sockets[0], sockets[2]):
        assert (await receive(s, "message"))["body"] == "hello team"
    for s in sockets:
        await s.disconnect()


async def test_sends_arriving_together_share_a_transaction_and_each_get_their_own_answer(
    settings,
):
    from prometheus_client import REGISTRY

    settings.PARLEY_SEND_BATCHES_IN_FLIGHT = 1
    owner, *senders = await db(make_users)("owner", *(f"s{n}" for n in range(8)))
    group = await db(make_group)(owner, *senders)
    first_seq = (await db(Conversation.objects.get)(pk=group.pk)).last_seq
    listener, _ = await ready_socket(owner)
    sockets = [(await ready_socket(u))[0] for u in senders]

    def batches() -> tuple[float, float]:
        count = REGISTRY.get_sample_value("parley_send_batch_size_count") or 0.0
        return count, REGISTRY.get_sample_value("parley_send_batch_size_sum") or 0.0

    count_before, sum_before = batches()
    for n, socket in enumerate(sockets):
        await send_frame(socket, group.pk, f"b-{n}", f"from {n}")
    # One of them is not a valid send: it gets its error, the others their acks.
    await send_frame(sockets[0], group.pk, "bad id!", "x")
    acks = [(await receive_until(socket, "ack"))[1] for socket in sockets]
    assert (await receive_until(sockets[0], "error"))[1]["code"] == "bad_request"
    assert sorted(a["seq"] for a in acks) == list(range(first_seq + 1, first_seq + 9))
    received = [(await receive_until(listener, "message"))[1] for _ in acks]
    assert [m["seq"] for m in received] == sorted(a["seq"] for a in acks)
    count_after, sum_after = batches()
    assert sum_after - sum_before == 9  # every send went through a batch
    assert count_after - count_before < 9  # and some shared one
    for socket in [listener, *sockets]:
        await socket.disconnect()


# --- bad input ----------------------------------------------------------------------------------

BAD_FRAMES = [
    ("not json at all", "bad_request"),
    ("[1, 2, 3]", "bad_request"),
    ('"just a string"', "bad_request"),
    ("{}", "bad_request"),
    ('{"type": 7}', "bad_request"),
    ('{"type": "teleport"}', "bad_request"),
    ('{"type": "send"}', "bad_request"),
    ('{"type": "send", "conversation": "1", "client_msg_id": "x", "body": "b"}', "bad_request"),
    ('{"type": "send", "conversation": true, "client_msg_id": "x", "body": "b"}', "bad_request"),
    (
        '{"type": "send", "conversation": 99999999999999999999999, '
        '"client_msg_id": "x", "body": "b"}',
        "bad_request",
    ),
    ('{"type": "send", "conversation": 1, "client_msg_id": "x", "body": 5}', "bad_request"),
    ('{"type": "send", "conversation": 1, "client_msg_id": "x", "body": "   "}', "bad_request"),
    (
        '{"type": "send", "conversation": 1, "client_msg_id": "x", "body": "' + "a" * 4001 + '"}',
        "bad_request",
    ),
    (
        '{"type": "send", "conversation": 1, "client_msg_id": "bad\\u0000id", "body": "b"}',
        "bad_request",
    ),
    (
        '{"type": "send", "conversation": 1, "client_msg_id": "' + "x" * 65 + '", "body": "b"}',
        "bad_request",
    ),
    ('{"type": "send", "conversation": 1, "client_msg_id": "", "body": "b"}', "bad_request"),
    ('{"type": "sync", "conversation": 1}', "bad_request"),
    ('{"type": "sync", "conversation": 1, "after_seq": -1}', "bad_request"),
    ('{"type": "sync", "conversation": 1, "after_seq": 0, "limit": 0}', "bad_request"),
    ('{"type": "send", "conversation": 424242, "client_msg_id": "x", "body": "b"}', "not_found"),
    # Digits Python's str.isdigit() accepts but int() does not (a superscript two).
    ('{"type": "edit", "conversation": 1, "id": "\u00b2", "body": "b"}', "bad_request"),
    ("[" * 100_000 + "]" * 100_000, "too_large"),
]


async def test_every_malformed_frame_gets_its_error_and_the_socket_keeps_working():
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    direct = await db(make_direct)(alice, bob)
    a, _ = await ready_socket(alice)
    for text, code in BAD_FRAMES:
        await a.send_to(
            text_data=text.replace('"conversation": 1,', f'"conversation": {direct.pk},')
        )
        error = await receive(a, "error")
        assert error["code"] == code, (text[:80], error)
        assert error["detail"]
        await a.send_json_to({"type": "ping"})
        assert await receive(a, "pong") == {"type": "pong"}
    await a.send_to(bytes_data=b"\x00\x01binary")
    assert (await receive(a, "error"))["code"] == "bad_request"
    # Deeply nested but small JSON does not crash the parser.
    await a.send_to(text_data="[" * 5000 + "]" * 5000)
    assert (await receive(a, "error"))["code"] == "bad_request"
    # And it still chats, with nothing stored by the bad frames.
    await send_frame(a, direct.pk, "ok-1", "still here")
    _, ack = await receive_until(a, "ack")
    assert ack["seq"] == 1
    assert await db(Message.objects.count)() == 1
    await a.disconnect()


async def test_error_ref_echoes_the_client_msg_id():
    alice = await db(make_user)("alice")
    a, _ = await ready_socket(alice)
    await a.send_to(
        text_data=json.dumps(
            {"type": "send", "conversation": 5, "client_msg_id": "abc", "body": ""}
        )
    )
    error = await receive(a, "error")
    assert error == {
        "type": "error",
        "code": "bad_request",
        "detail": error["detail"],
        "ref": "abc",
        "field": "body",
        "request_id": error["request_id"],
    }
    assert isinstance(error["request_id"], str) and error["request_id"]
    await a.disconnect()


def tasks_left_by_sockets() -> list[asyncio.Task]:
    """Tasks still running besides this test and the ones that live as long as the process
    (fan-out readers, the held-receipts flusher)."""
    return [
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task()
        and not task.done()
        and task.get_coro().__qualname__ not in {"Hub._read", "flush_forever"}
    ]


async def test_closed_sockets_leave_no_task_behind():
    """A refused or closed socket's consumer ends with it, channel-layer receive included
    (with redis-py's socket timeout, Python 3.11 lost that cancellation about one time in
    four and the receive polled Redis forever)."""
    alice = await db(make_user)("alice")

    async def ends_by_itself(socket) -> bool:
        await socket.send_input({"type": "websocket.disconnect", "code": 1000})
        done, _ = await asyncio.wait([socket.future], timeout=10)
        return bool(done)

    for _ in range(12):
        refused = await open_socket(None)
        assert await close_code(refused) == 4401
        assert await ends_by_itself(refused)
        assert tasks_left_by_sockets() == []
        accepted, _ = await ready_socket(alice)
        assert await ends_by_itself(accepted)
        assert tasks_left_by_sockets() == []


async def test_close_user_sockets_closes_every_socket_of_that_user_only():
    from realtime import close_user_sockets

    alice, bob = await db(make_users)("alice", "bob")
    phone, _ = await ready_socket(alice)
    laptop, _ = await ready_socket(alice)
    other, _ = await ready_socket(bob)
    await db(close_user_sockets)(alice.pk, 4403)
    assert await close_code(phone) == 4403
    assert await close_code(laptop) == 4403
    await other.send_json_to({"type": "ping"})
    assert await receive(other, "pong") == {"type": "pong"}
    await other.disconnect()


@pytest.mark.parametrize("change", ["ban", "revoke"])
async def test_a_ban_or_revocation_while_authenticating_still_closes_the_socket(
    monkeypatch, change
):
    """Bans and revocations close sockets through the user's groups, which a socket joins after
    authenticating: one that changes in between must close all the same."""
    from accounts.services import user_tokens_revoke
    from gateway.protection import SocketProtection
    from moderation.services import user_ban

    alice = await db(make_user)("alice")
    moderator = await db(make_user)("mod", is_staff=True)
    real_start = SocketProtection.start

    async def changed_meanwhile(protection, channel):
        await real_start(protection, channel)
        if change == "ban":
            await db(user_ban)(actor=moderator, user=alice)
        else:
            await db(user_tokens_revoke)(user=alice)

    monkeypatch.setattr(SocketProtection, "start", changed_meanwhile)
    socket = await open_socket(alice)
    assert await close_code(socket) == (4403 if change == "ban" else 4401)


async def test_a_frame_for_a_socket_the_client_just_closed_is_dropped_not_raised():
    """daphne raises autobahn's Disconnected when the client's close beat the frame; escaping
    the writer it would end the consumer before disconnect() cleans up its groups. Every frame
    goes through the socket's outbox, which drops such a frame and writes on."""
    import contextvars

    from autobahn.exception import Disconnected

    from gateway.outbox import Outbox

    sent = []
    failure: list[BaseException] = [Disconnected("Attempt to send on a closed protocol")]

    async def transport(message):
        if failure:
            raise failure.pop()
        sent.append(message)

    async def overflow():
        raise AssertionError("not too slow")

    outbox = Outbox(
        transport=transport, limit=10, on_overflow=overflow, context=contextvars.copy_context()
    )
    outbox.open()
    outbox.put({"type": "pong"})  # dropped, no exception
    outbox.put({"type": "presence", "user": 1, "status": "online"})
    assert sent == [
        {"type": "websocket.send", "text": '{"type": "presence", "user": 1, "status": "online"}'}
    ]


@pytest.mark.postgres
async def test_a_handshake_while_redis_is_down_asks_the_client_to_come_back(monkeypatch):
    """Not 1011 (a server error): the client is told to come back later (1013), as during a
    database outage: the socket cannot hold its channels on the broker's Redis."""
    from chatsite.asgi import runtime
    from realtime.broker import RedisBroker

    alice = await db(make_user)("alice")
    dead = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    monkeypatch.setattr(runtime, "broker", RedisBroker([dead]))
    monkeypatch.setattr(runtime, "current", None)  # this loop's objects built on it
    socket = await open_socket(alice)
    assert await close_code(socket, wait=10) in {1012, 1013}


async def test_redis_failing_under_a_send_answers_unavailable_and_the_resend_stores_once(
    monkeypatch,
):
    import redis

    from messaging import dedup

    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    direct = await db(make_direct)(alice, bob)
    socket, _ = await ready_socket(alice)
    real = dedup.cached_acks

    def redis_down(*args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(dedup, "cached_acks", redis_down)
    await send_frame(socket, direct.pk, "r-1")
    error = await receive(socket, "error")
    assert error["code"] == "unavailable"
    monkeypatch.setattr(dedup, "cached_acks", real)
    await send_frame(socket, direct.pk, "r-1")
    _, ack = await receive_until(socket, "ack")
    assert ack["duplicate"] is False
    assert await db(Message.objects.filter(conversation=direct).count)() == 1
    await socket.disconnect()
