"""Presence, heartbeats and typing over the WebSocket. Run in both configurations."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from messaging.models import Conversation
from tests.factories import make_direct, make_group, make_user, make_users
from tests.ws import TIMEOUT, close_code, ready_socket, receive

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


async def next_frame(socket, frame_type, wait=TIMEOUT):
    while True:
        frame = await socket.receive_json_from(timeout=wait)
        if frame["type"] == frame_type:
            return frame


async def frames_until_pong(socket):
    """Every frame that arrived before the answer to a fresh ping."""
    await socket.send_json_to({"type": "ping"})
    seen = []
    while True:
        frame = await socket.receive_json_from(timeout=TIMEOUT)
        if frame["type"] == "pong":
            return seen
        seen.append(frame)


async def presence_frames_until_pong(socket):
    """Every presence frame that arrived before the answer to a fresh ping."""
    await socket.send_json_to({"type": "ping"})
    seen = []
    while True:
        frame = await socket.receive_json_from(timeout=TIMEOUT)
        if frame["type"] == "pong":
            return seen
        if frame["type"] == "presence":
            seen.append(frame)


def make_announcement(*users):
    news = Conversation.objects.create(kind="announcement", name="News")
    for user in users:
        news.memberships.create(user=user)
    return news


async def test_online_once_per_change_and_offline_after_the_last_tab():
    alice, bob, carol = await db(make_users)("alice", "bob", "carol")
    await db(make_direct)(alice, bob, replied=True)
    await db(make_announcement)(alice, bob, carol)  # carol shares only the announcements
    b, _ = await ready_socket(bob)
    c, _ = await ready_socket(carol)

    tab1, _ = await ready_socket(alice)
    online = await next_frame(b, "presence")
    assert (online["user"], online["status"]) == (alice.pk, "online")
    assert online["last_seen"].endswith("Z")
    # Alice also learns nothing about herself.
    assert await presence_frames_until_pong(tab1) == []

    tab2, _ = await ready_socket(alice)  # a second tab is no change
    await tab1.disconnect()  # nor is closing one of two
    assert await presence_frames_until_pong(b) == []

    await tab2.disconnect(timeout=TIMEOUT)
    offline = await next_frame(b, "presence")
    assert (offline["user"], offline["status"]) == (alice.pk, "offline")
    assert offline["last_seen"] >= online["last_seen"]
    assert await presence_frames_until_pong(b) == []
    # The announcement conversation does not make contacts.
    assert await presence_frames_until_pong(c) == []
    await b.disconnect(timeout=TIMEOUT)
    await c.disconnect(timeout=TIMEOUT)


async def test_group_members_see_each_other_come_and_go(client_for):
    alice, bob, carol = await db(make_users)("alice", "bob", "carol")
    await db(make_group)(alice, bob, carol)
    c, _ = await ready_socket(carol)
    a, _ = await ready_socket(alice)
    assert (await next_frame(c, "presence"))["user"] == alice.pk

    # REST answers the same as the frames.
    response = await db(client_for(carol).get)(f"/api/presence/?users={alice.pk},{bob.pk}")
    by_user = {p["user"]: p for p in response.json()["results"]}
    assert by_user[alice.pk]["status"] == "online"
    assert (by_user[bob.pk]["status"], by_user[bob.pk]["last_seen"]) == ("offline", None)

    await a.disconnect(timeout=TIMEOUT)
    assert (await next_frame(c, "presence"))["status"] == "offline"
    response = await db(client_for(carol).get)(f"/api/presence/?users={alice.pk}")
    (state,) = response.json()["results"]
    assert state["status"] == "offline" and state["last_seen"] is not None
    await c.disconnect(timeout=TIMEOUT)


async def test_a_silent_socket_is_closed_4408_and_goes_offline(settings):
    settings.PARLEY_HEARTBEAT_INTERVAL = 0.5  # timeout: 2.5 intervals = 1.25 s
    alice, bob = await db(make_users)("alice", "bob")
    await db(make_direct)(alice, bob, replied=True)
    b, ready = await ready_socket(bob)
    assert ready["heartbeat_interval"] == 0.5
    a, _ = await ready_socket(alice)
    assert (await next_frame(b, "presence"))["status"] == "online"

    async def keep_alive():
        while True:
            await b.send_json_to({"type": "ping"})
            await asyncio.sleep(0.2)

    pinger = asyncio.create_task(keep_alive())
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await close_code(a, wait=10) == 4408
        assert loop.time() - started >= 1.0
        await a.disconnect(timeout=TIMEOUT)
        offline = await next_frame(b, "presence", wait=5)
        assert (offline["user"], offline["status"]) == (alice.pk, "offline")
    finally:
        pinger.cancel()
    # Bob kept pinging, so his socket is still open.
    await b.send_json_to({"type": "ping"})
    assert (await next_frame(b, "pong"))["type"] == "pong"
    await b.disconnect(timeout=TIMEOUT)


async def test_any_frame_counts_as_a_sign_of_life(settings):
    settings.PARLEY_HEARTBEAT_INTERVAL = 0.4  # timeout 1 s
    alice = await db(make_user)("alice")
    a, _ = await ready_socket(alice)
    loop = asyncio.get_running_loop()
    until = loop.time() + 2.5
    while loop.time() < until:
        await a.send_to(text_data="not json")  # an error frame answers, but it is life
        assert (await receive(a, "error"))["code"] == "bad_request"
        await asyncio.sleep(0.2)
    await a.send_json_to({"type": "ping"})
    assert (await receive(a))["type"] == "pong"
    await a.disconnect(timeout=TIMEOUT)


async def test_typing_is_relayed_to_other_members_and_throttled(settings):
    settings.PARLEY_TYPING_THROTTLE = 0.5
    alice, bob, carol = await db(make_users)("alice", "bob", "carol")
    group = await db(make_group)(alice, bob, carol)
    a1, _ = await ready_socket(alice)
    a2, _ = await ready_socket(alice)
    b, _ = await ready_socket(bob)
    c, _ = await ready_socket(carol)
    relay = {"type": "typing", "conversation": group.pk, "user": alice.pk}

    await a1.send_json_to({"type": "typing", "conversation": group.pk})
    assert await next_frame(b, "typing") == relay
    assert await next_frame(c, "typing") == relay
    # A burst inside the window is dropped silently.
    for _ in range(3):
        await a1.send_json_to({"type": "typing", "conversation": group.pk})
    await a1.send_json_to({"type": "ping"})
    assert (await receive(a1))["type"] == "pong"
    assert [f for f in await frames_until_pong(b) if f["type"] == "typing"] == []
    assert await b.receive_nothing(timeout=0.2)

    await asyncio.sleep(0.6)  # the window has passed
    await a1.send_json_to({"type": "typing", "conversation": group.pk})
    assert await next_frame(b, "typing") == relay
    # Never to the typist's own devices.
    assert [f for f in await frames_until_pong(a2) if f["type"] == "typing"] == []
    for socket in (a1, a2, b, c):
        await socket.disconnect(timeout=TIMEOUT)


async def test_typing_errors_and_nothing_is_stored():
    alice, bob, eve = await db(make_users)("alice", "bob", "eve")
    direct = await db(make_direct)(alice, bob)
    news = await db(make_announcement)(alice, bob)
    e, _ = await ready_socket(eve)
    a, _ = await ready_socket(alice)
    await e.send_json_to({"type": "typing", "conversation": direct.pk})
    assert (await receive(e, "error"))["code"] == "not_found"
    await e.send_json_to({"type": "typing", "conversation": "x"})
    assert (await receive(e, "error"))["code"] == "bad_request"
    await a.send_json_to({"type": "typing", "conversation": news.pk})
    assert (await receive(a, "error"))["code"] == "forbidden"
    await a.send_json_to({"type": "typing", "conversation": direct.pk})
    await a.send_json_to({"type": "ping"})
    assert (await receive(a))["type"] == "pong"
    b, ready = await ready_socket(bob)
    # Typing leaves no trace: no message, nothing unread.
    assert [(c["last_seq"], c["unread"]) for c in ready["conversations"]] == [(0, 0), (0, 0)]
    for socket in (a, b, e):
        await socket.disconnect(timeout=TIMEOUT)
