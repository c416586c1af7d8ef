"""Attachments on the WebSocket path: `send` with attachments, live frames and sync."""

import io

import pytest
from channels.db import database_sync_to_async

from messaging.models import Message
from tests.factories import make_direct, make_users
from tests.ws import ready_socket, receive, receive_until
from uploads.services import upload_create

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


def stored_upload(owner, data: bytes = b"notes\n", name: str = "notes.txt"):
    return upload_create(owner=owner, stream=io.BytesIO(data), name=name, size=len(data))


async def test_send_with_attachments_reaches_members_live_and_on_sync():
    alice, bob, eve = await db(make_users)("alice", "bob", "eve")
    direct = await db(make_direct)(alice, bob)
    first, second = await db(stored_upload)(alice), await db(stored_upload)(alice, b"2\n", "2.txt")
    eves = await db(stored_upload)(eve)
    a, _ = await ready_socket(alice)
    b, _ = await ready_socket(bob)

    # Someone else's upload: an error frame, nothing stored, the socket keeps working.
    await a.send_json_to(
        {
            "type": "send",
            "conversation": direct.pk,
            "client_msg_id": "x-1",
            "attachments": [str(eves.pk)],
        }
    )
    error = await receive(a, "error")
    assert (error["code"], error["field"], error["ref"]) == ("bad_request", "attachments", "x-1")
    assert await db(Message.objects.count)() == 0

    # No body at all: the files are the message.
    await a.send_json_to(
        {
            "type": "send",
            "conversation": direct.pk,
            "client_msg_id": "ok-1",
            "attachments": [str(first.pk), str(second.pk)],
        }
    )
    _, ack = await receive_until(a, "ack")
    live = await receive(b, "message")
    assert live["id"] == ack["id"]
    assert live["body"] == ""
    assert [f["id"] for f in live["attachments"]] == [str(first.pk), str(second.pk)]
    assert live["attachments"][0] == {
        "id": str(first.pk),
        "name": "notes.txt",
        "size": 6,
        "content_type": "text/plain",
        "url": f"/api/uploads/{first.pk}/file",
        "thumbnail_url": None,
        "width": None,
        "height": None,
    }

    await b.send_json_to({"type": "sync", "conversation": direct.pk, "after_seq": 0})
    synced = await receive(b, "message")
    assert synced["attachments"] == live["attachments"]
    await a.disconnect()
    await b.disconnect()
