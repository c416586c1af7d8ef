"""One handler per inbound frame type: each parses its fields, makes one service call (one
database hop, or a batched send) and puts its answer in the socket's outbox.

A handler that costs the server (stores, fans out) starts with
`await conn.protection.rate_limit("<name in PARLEY_RATE_LIMITS>")`; `typing` uses "ws_typing".
Errors are raised (core.errors) and answered by the consumer as `error` frames.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from conversations.services import reaction_set
from core.asyncdb import db_hop
from integrations.commands import command_run
from lifecycle.selectors import message_history_page
from messaging.selectors import MAX_PAGE, message_changes
from messaging.services import SendRequest, message_delete, message_edit
from presence.services import typing_relay
from receipts.services import MarkRequest

from .connection import Connection
from .protocol import int_field, message_id_field, required_int

Frame = dict[str, Any]
FrameHandler = Callable[[Connection, Frame], Awaitable[None]]


async def on_send(conn: Connection, frame: Frame) -> None:
    await conn.protection.rate_limit("ws_send")
    conversation_id = required_int(frame, "conversation", minimum=1)
    ack = await conn.runtime.batcher.submit(
        SendRequest(
            sender=conn.user,
            conversation_id=conversation_id,
            client_msg_id=frame.get("client_msg_id"),
            body=frame.get("body"),
            attachments=frame.get("attachments"),
            reply_to=frame.get("reply_to"),
        )
    )
    conn.reply(dict(ack))


async def on_sync(conn: Connection, frame: Frame) -> None:
    conversation_id = required_int(frame, "conversation", minimum=1)
    after_seq = required_int(frame, "after_seq", minimum=0)
    limit = int_field(frame, "limit", minimum=1, required=False) or MAX_PAGE
    page, has_more, last_seq, first_seq = await db_hop(message_history_page)(
        user_id=conn.user.pk,
        conversation_id=conversation_id,
        after_seq=after_seq,
        before_seq=None,
        limit=min(limit, MAX_PAGE),
    )
    for event in page:
        conn.reply(event)
    if has_more:
        done_seq = page[-1]["seq"]  # continue from here
    else:
        done_seq = last_seq
        conn.live.synced(conversation_id, last_seq)
    conn.reply(
        {
            "type": "sync_done",
            "conversation": conversation_id,
            "last_seq": done_seq,
            "has_more": has_more,
            # Where history starts (retention deleted what was before it): docs/protocol.md
            "first_seq": first_seq,
        }
    )


async def on_ping(conn: Connection, frame: Frame) -> None:
    conn.reply({"type": "pong"})


async def on_edit(conn: Connection, frame: Frame) -> None:
    await conn.protection.rate_limit("ws_send")
    event = await db_hop(message_edit)(
        editor=conn.user,
        conversation_id=required_int(frame, "conversation", minimum=1),
        message_id=message_id_field(frame),
        body=frame.get("body"),
    )
    answer_change(conn, dict(event))


async def on_delete(conn: Connection, frame: Frame) -> None:
    await conn.protection.rate_limit("ws_send")
    event = await db_hop(message_delete)(
        actor=conn.user,
        conversation_id=required_int(frame, "conversation", minimum=1),
        message_id=message_id_field(frame),
        via="websocket",
    )
    answer_change(conn, dict(event))


async def on_react(conn: Connection, frame: Frame) -> None:
    await conn.protection.rate_limit("ws_send")
    event = await db_hop(reaction_set)(
        user=conn.user,
        conversation_id=required_int(frame, "conversation", minimum=1),
        message_id=message_id_field(frame, "message"),
        emoji=frame.get("emoji"),
        on=frame.get("on", True),
    )
    if event["change_seq"] is None:  # nothing changed: no live copy will follow
        conn.reply(dict(event))
    else:
        answer_change(conn, dict(event))


def answer_change(conn: Connection, event: dict[str, Any]) -> None:
    """The requesting socket gets the change once: as this answer or as its live copy."""
    if conn.live.first_sighting_of_change(event):
        conn.reply(event)


async def on_changes(conn: Connection, frame: Frame) -> None:
    conversation_id = required_int(frame, "conversation", minimum=1)
    after = required_int(frame, "after_change_seq", minimum=0)
    limit = int_field(frame, "limit", minimum=1, required=False) or MAX_PAGE
    page, has_more, last_change_seq = await db_hop(message_changes)(
        user_id=conn.user.pk,
        conversation_id=conversation_id,
        after_change_seq=after,
        limit=min(limit, MAX_PAGE),
    )
    for event in page:
        conn.reply(event)
    conn.reply(
        {
            "type": "changes_done",
            "conversation": conversation_id,
            "last_change_seq": page[-1]["change_seq"] if has_more else last_change_seq,
            "has_more": has_more,
        }
    )


async def on_delivered(conn: Connection, frame: Frame) -> None:
    await _mark(conn, frame, read=False)


async def on_read(conn: Connection, frame: Frame) -> None:
    await _mark(conn, frame, read=True)


async def _mark(conn: Connection, frame: Frame, *, read: bool) -> None:
    conversation_id = required_int(frame, "conversation", minimum=1)
    seq = required_int(frame, "seq", minimum=0)
    await conn.runtime.marks.submit(
        MarkRequest(user_id=conn.user.pk, conversation_id=conversation_id, seq=seq, read=read)
    )


async def on_typing(conn: Connection, frame: Frame) -> None:
    await conn.protection.rate_limit("ws_typing")
    conversation_id = required_int(frame, "conversation", minimum=1)
    await db_hop(typing_relay)(user=conn.user, conversation_id=conversation_id)


async def on_command(conn: Connection, frame: Frame) -> None:
    """A slash command line (integrations/commands.py): answered with an `ack` (it stored a
    message), an `ephemeral` frame (for this socket only, not stored) or `command_done`."""
    await conn.protection.rate_limit("ws_send")
    conversation_id = required_int(frame, "conversation", minimum=1)
    ref = frame.get("client_msg_id")
    result = await db_hop(command_run)(
        user=conn.user,
        conversation_id=conversation_id,
        text=frame.get("text"),
        client_msg_id=ref,
    )
    if "ack" in result:
        conn.reply(result["ack"])
    elif "ephemeral" in result:
        conn.reply({**result["ephemeral"], "ref": ref})
    else:
        conn.reply({"type": "command_done", "conversation": conversation_id, "ref": ref})


# The inbound frame types (docs/protocol.md) and their handlers.
FRAME_HANDLERS: dict[str, FrameHandler] = {
    "send": on_send,
    "sync": on_sync,
    "ping": on_ping,
    "edit": on_edit,
    "delete": on_delete,
    "changes": on_changes,
    "delivered": on_delivered,
    "read": on_read,
    "typing": on_typing,
    "command": on_command,
    "react": on_react,
}
