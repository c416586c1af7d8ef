"""Group commit isolates failures: a send that fails for a reason of its own (text the database
cannot store, any error that is not an outage) fails only itself, even in a batch shared with
other users' sends; an outage still answers every send of the batch `unavailable`."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.db import OperationalError

from chatsite.asgi import runtime
from messaging.models import Conversation, Message
from messaging.services import message_send_many
from tests.batching import hold_first_batch
from tests.factories import make_group, make_users
from tests.ws import ready_socket, receive

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


@pytest.fixture
def held_batches(monkeypatch, settings):
    """The first batch of sends is held until the test releases it (tests/batching.py)."""
    settings.PARLEY_SEND_BATCHES_IN_FLIGHT = 1
    return hold_first_batch(monkeypatch, message_send_many)


async def until(condition, what: str) -> None:
    """Waits (up to 5 s) for a state the test needs before it goes on."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def answer(socket, ref: str) -> dict:
    """The ack or error frame answering the send with this client_msg_id."""
    while True:
        frame = await receive(socket)
        if frame["type"] == "ack" and frame["client_msg_id"] == ref:
            return frame
        if frame["type"] == "error" and frame["ref"] == ref:
            return frame


def poisoned_frame(conversation: int, client_msg_id: str) -> str:
    """A send whose body holds "\\ud800" in the JSON text: a lone UTF-16 surrogate, not valid
    Unicode, with no UTF-8 encoding."""
    frame = {"type": "send", "conversation": conversation, "client_msg_id": client_msg_id}
    return json.dumps({**frame, "body": "evil ~"}).replace("~", "\\ud800")


async def mixed_batch(held_batches):
    """Three honest users and an attacker send into one group while a first batch is held, so
    the four sends share the next batch; returns what each of them was answered."""
    gate, batches = held_batches
    owner, *honest, attacker = await db(make_users)("owner", "h0", "h1", "h2", "attacker")
    group = await db(make_group)(owner, *honest, attacker)
    first_seq = (await db(Conversation.objects.get)(pk=group.pk)).last_seq
    owner_socket, _ = await ready_socket(owner)
    honest_sockets = [(await ready_socket(user))[0] for user in honest]
    attacker_socket, _ = await ready_socket(attacker)

    await owner_socket.send_json_to(
        {"type": "send", "conversation": group.pk, "client_msg_id": "gate", "body": "first"}
    )
    await until(lambda: len(batches) == 1, "the first batch")
    for n, socket in enumerate(honest_sockets):
        await socket.send_json_to(
            {"type": "send", "conversation": group.pk, "client_msg_id": f"h{n}", "body": f"hi {n}"}
        )
    await attacker_socket.send_to(text_data=poisoned_frame(group.pk, "evil"))
    await until(lambda: len(runtime.here().batcher.waiting) == 4, "the four sends to queue")
    gate.set()

    assert (await answer(owner_socket, "gate"))["seq"] == first_seq + 1
    acks = [await answer(socket, f"h{n}") for n, socket in enumerate(honest_sockets)]
    refused = await answer(attacker_socket, "evil")
    assert sorted(r.client_msg_id for r in batches[1]) == [
        "evil",
        "h0",
        "h1",
        "h2",
    ]  # they did share one batch

    # Every socket keeps working, the attacker's too.
    await attacker_socket.send_json_to(
        {"type": "send", "conversation": group.pk, "client_msg_id": "fine", "body": "sorry"}
    )
    assert (await answer(attacker_socket, "fine"))["type"] == "ack"
    for socket in [owner_socket, *honest_sockets, attacker_socket]:
        await socket.disconnect()
    stored = await db(
        lambda: sorted(
            Message.objects.filter(conversation=group, sender__isnull=False).values_list(
                "client_msg_id", flat=True
            )
        )
    )()
    return acks, refused, stored


async def test_a_poisoned_send_fails_only_itself_in_a_shared_batch(held_batches):
    acks, refused, stored = await mixed_batch(held_batches)
    assert [a["type"] for a in acks] == ["ack", "ack", "ack"]
    assert (refused["type"], refused["code"], refused["field"]) == ("error", "bad_request", "body")
    assert stored == ["fine", "gate", "h0", "h1", "h2"]


async def test_a_failure_the_validation_misses_still_fails_only_its_own_send(
    held_batches, monkeypatch
):
    # A hole in validation: the lone surrogate reaches the database driver, which cannot encode
    # it (UnicodeEncodeError, on SQLite and PostgreSQL alike). Not an outage: the batch is
    # redone send by send, so the others are stored and only this one fails.
    monkeypatch.setattr("messaging.services.validate_body", lambda body: body)
    acks, refused, stored = await mixed_batch(held_batches)
    assert [a["type"] for a in acks] == ["ack", "ack", "ack"]
    assert (refused["type"], refused["code"]) == ("error", "server_error")
    assert stored == ["fine", "gate", "h0", "h1", "h2"]


async def test_an_outage_under_a_batch_answers_every_send_unavailable_once(
    held_batches, monkeypatch
):
    gate, batches = held_batches
    owner, *senders = await db(make_users)("owner", "s0", "s1", "s2")
    group = await db(make_group)(owner, *senders)
    owner_socket, _ = await ready_socket(owner)
    sockets = [(await ready_socket(user))[0] for user in senders]
    await owner_socket.send_json_to(
        {"type": "send", "conversation": group.pk, "client_msg_id": "gate", "body": "first"}
    )
    await until(lambda: len(batches) == 1, "the first batch")
    stores = []

    def database_gone(drafts):
        stores.append(len(drafts))
        raise OperationalError("the database went away")

    monkeypatch.setattr("messaging.services._store_messages", database_gone)
    for n, socket in enumerate(sockets):
        await socket.send_json_to(
            {"type": "send", "conversation": group.pk, "client_msg_id": f"s{n}", "body": "x"}
        )
    await until(lambda: len(runtime.here().batcher.waiting) == 3, "the three sends to queue")
    gate.set()
    await answer(owner_socket, "gate")
    frames = [await answer(socket, f"s{n}") for n, socket in enumerate(sockets)]
    assert [(f["type"], f["code"]) for f in frames] == [("error", "unavailable")] * 3
    assert stores[-1:] == [3]  # one try for the whole batch: no send-by-send retry of an outage
    for socket in [owner_socket, *sockets]:
        await socket.disconnect()
    assert await db(Message.objects.filter(client_msg_id__startswith="s").count)() == 0
