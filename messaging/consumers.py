"""The WebSocket gateway: one socket per client carries all of a user's conversations.

The consumer parses frames, makes one database hop per frame into a service or selector, and
forwards events. Conversation events reach it through the process's fan-out hub
(messaging/fanout.py), user events (new conversation, forced close) through the channel layer.

It keeps, per conversation, the highest seq it has pushed live (`cursors`), so each socket sees
live messages in seq order without duplicates: a message that arrives ahead of its predecessor
waits up to PARLEY_REORDER_WAIT seconds, after which the missing ones are read from the
database. Live frames go through one outbox per socket, written in order; a socket whose outbox
grows past PARLEY_OUTBOX_LIMIT cannot keep up and is closed with 1013, so its client reconnects
and syncs instead of silently missing messages.

The outbox is written eagerly: a frame for an idle socket goes to the ASGI server at once, in
the hub's delivery loop, already encoded; only a write that has to wait (the client does not
read, the transport pushes back) continues in a task, and frames arriving meanwhile queue
behind it. A group fan-out thus costs one transport write per socket, not a task wake-up, a
JSON encoding and a session check per socket.

When the realtime path itself may have lost this socket's events beyond what a database read
repairs (its channel-layer receive failed, or the hub found Redis restarted, which loses group
memberships), the socket is closed with 1012 (`realtime_lost`): the client reconnects, which
rebuilds the memberships, and syncs.
"""

import asyncio
import contextvars
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from accounts.selectors import ready_users, socket_refusal
from accounts.websocket import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED
from chatsite import metrics
from conversations.services import reaction_set
from core.asyncdb import db_hop
from core.errors import (
    DATABASE_ERRORS,
    REDIS_ERRORS,
    BadRequest,
    ChatError,
    NotFound,
    RateLimited,
    Unavailable,
)
from integrations.commands import command_run
from integrations.websocket import frame_allowed
from presence.services import (
    presence_connect,
    presence_disconnect,
    presence_heartbeat,
    presence_timeout,
    typing_relay,
)
from protection.gateway import GatewayProtection
from receipts.coalescing import ensure_flusher
from receipts.services import receipt_mark

from . import fanout, realtime
from .batching import send_batcher
from .eager import run_eagerly
from .events import user_ref
from .instrumentation import GatewayInstrumentation
from .selectors import (
    MAX_PAGE,
    conversation_ids_for_user,
    conversation_summaries,
    message_changes,
    message_history,
)
from .services import SendRequest, message_delete, message_edit

logger = logging.getLogger(__name__)

MAX_ID = 2**63 - 1
CLOSE_HEARTBEAT_TIMEOUT = 4408


def int_field(
    frame: dict[str, Any], name: str, *, minimum: int = 0, required: bool = True
) -> int | None:
    value = frame.get(name)
    if value is None and not required:
        return None
    # bool is an int in Python; JSON true is not a number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"{name} must be an integer", field=name)
    if value < minimum or value > MAX_ID:
        raise BadRequest(f"{name} must be between {minimum} and {MAX_ID}", field=name)
    return value


CLOSE_TOO_SLOW = 1013
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_SERVICE_RESTART = 1012

OutboxItem = str | Callable[[], Awaitable[None]]


def group_renewal_interval(layer: Any) -> float:
    """Half the layer's group expiry (both channels backends default to 86400 s)."""
    return max(float(getattr(layer, "group_expiry", 86400)) / 2, 0.05)


def message_id_field(frame: dict[str, Any], name: str = "id") -> int:
    """A message id: the string the server sends (or, leniently, a JSON integer)."""
    value = frame.get(name)
    # isascii: str.isdigit() also accepts digits int() refuses ("²").
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID:
        raise BadRequest(f"{name} must be a message id (a string of digits)", field=name)
    return value


class GatewayConsumer(GatewayInstrumentation, GatewayProtection, AsyncJsonWebsocketConsumer):
    # Class defaults: the layer's receive starts before `connect` runs.
    user: Any = None
    lost: asyncio.Task[None] | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        """As channels' AsyncConsumer.dispatch, without its `aclose_old_connections()`: that is
        a hop to channels' one sync thread for every frame and channel-layer message of every
        socket (measured: 9% of the server's GIL time with 50 pairs chatting). Every database
        hop of the gateway closes stale connections itself (DatabaseSyncToAsync does, on the
        thread it runs on), so nothing is lost."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.user = None
        self.cursors: dict[int, int] = {}
        self.pending: dict[int, dict[int, str]] = {}
        self.heal_tasks: dict[int, asyncio.Task[None]] = {}
        self.groups_joined: set[str] = set()
        self.hub: fanout.Hub | None = None
        self.outbox: deque[OutboxItem] = deque()
        self.outbox_open = False  # frames wait until `ready` is sent
        self.draining = False
        # The task carrying on a write that had to wait (None while writes complete at once).
        self.writer: asyncio.Task[None] | None = None
        # Writes run in the socket's own context (its log bindings), whoever hands the frame.
        self.context = contextvars.copy_context()
        # Fan-out events that arrive before the ready snapshot is taken wait here.
        self.early: list[tuple[str, dict[str, Any], str]] | None = []
        self.floors: dict[int, int] = {}
        self.answered_changes: set[tuple[int, int]] = set()
        self.last_frame_at = asyncio.get_running_loop().time()
        self.watchdog: asyncio.Task[None] | None = None
        self.closing = False
        await self.accept()
        failure = self.scope.get("auth_failure")
        if failure:
            await self.close(code=failure)
            return
        self.user = self.scope["user"]
        try:
            await self._start()
        except (*DATABASE_ERRORS, *REDIS_ERRORS):
            logger.warning("database or Redis unavailable during a handshake", exc_info=True)
            await self.close(code=CLOSE_TRY_AGAIN_LATER)

    async def _start(self) -> None:
        await self.protection_start()
        await self._join(realtime.user_group(self.user.pk))
        if self.scope.get("auth_session"):  # closed as one on logout
            await self._join(realtime.session_group(self.scope["auth_session"]))
        refusal = await db_hop(socket_refusal)(
            user_id=self.user.pk,
            token_generation=self.user.token_generation,
            session_id=self.scope.get("auth_session"),
        )
        if refusal is not None:  # banned, revoked or logged out while authenticating
            await self.close(code=CLOSE_FORBIDDEN if refusal == "banned" else CLOSE_UNAUTHORIZED)
            return
        # Subscribe to the conversations before reading last_seq, so any message committed
        # after that read is also fanned out to this socket.
        conversation_ids = await db_hop(conversation_ids_for_user)(user_id=self.user.pk)
        self.hub = fanout.get_hub()
        await self.hub.join(self, conversation_ids)
        summaries = await db_hop(conversation_summaries)(user_id=self.user.pk)
        self.cursors = {s["id"]: s["last_seq"] for s in summaries}
        # Where each conversation's history starts for this user: changes to older messages
        # are not theirs to see.
        self.floors = {s["id"]: s["joined_seq"] for s in summaries}
        users = await db_hop(ready_users)(user_id=self.user.pk)
        await self.send_json(
            {
                "type": "ready",
                "user": user_ref(self.user),
                "conversations": summaries,
                # Profiles of the user and everyone they may see (accounts.selectors).
                "users": users,
                "heartbeat_interval": settings.PARLEY_HEARTBEAT_INTERVAL,
            }
        )
        self.outbox_open = True
        self._drain()
        early, self.early = self.early or [], None
        for handler, event, text in early:
            self.fanout_event(handler, event, text)
        try:
            await db_hop(presence_connect)(user_id=self.user.pk, connection_id=self.channel_name)
        except Exception:
            logger.exception("presence connect failed")  # the next heartbeat retries
        self.watchdog = asyncio.create_task(self._watchdog())
        ensure_flusher()  # this process publishes held receipts of large conversations

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        """A frame for a socket the client has just closed is dropped: daphne raises autobahn's
        Disconnected when the close beat the frame, and an exception escaping a handler ends the
        consumer before `websocket.disconnect` runs `disconnect()`, leaving its channel-layer
        groups and fan-out subscriptions behind (found by the fault suite's soak)."""
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except Disconnected:
            logger.info("frame for a closed socket dropped")

    async def send_json(self, content: dict[str, Any], close: bool = False) -> None:
        # channels' send_json reaches the transport without passing through `send` above.
        try:
            await super().send_json(content, close)
        except Disconnected:
            logger.info("frame for a closed socket dropped")

    async def disconnect(self, code: int) -> None:
        self.protection_stop()
        for task in self.heal_tasks.values():
            task.cancel()
        if self.writer is not None:
            self.writer.cancel()
        if self.hub is not None:
            await self.hub.leave(self, list(self.cursors))
            self.hub.detach(self)
        self.closing = True
        if self.watchdog is not None:
            self.watchdog.cancel()
            await self._leave_presence()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined.clear()

    # --- losses of the realtime path ---------------------------------------------------------

    # channels' AsyncConsumer sets `channel_receive` to the layer's receive for this socket's
    # channel; reading it through this property lets a failed receive close the socket with
    # 1012 instead of crashing it (1011, and the client would not know why).
    @property
    def channel_receive(self) -> Callable[[], Awaitable[dict[str, Any]]]:
        return self._receive_from_layer

    @channel_receive.setter
    def channel_receive(self, receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self._layer_receive = receive

    async def _receive_from_layer(self) -> dict[str, Any]:
        try:
            return await self._layer_receive()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("channel layer receive failed; closing the socket", exc_info=True)
            self.realtime_lost("layer_receive")
            await asyncio.Event().wait()  # nothing more from the layer: the socket is closing
            raise AssertionError("unreachable") from None

    def realtime_lost(self, reason: str) -> None:
        """This socket may have missed events the database cannot replay (per-user events,
        group memberships): close it with 1012 so the client reconnects and syncs."""
        if self.lost is not None or self.user is None:
            return
        metrics.realtime_loss_closed(reason=reason)
        self.lost = asyncio.get_running_loop().create_task(self.close(code=CLOSE_SERVICE_RESTART))

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.add(group)

    # --- inbound frames ------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.last_frame_at = asyncio.get_running_loop().time()  # any frame is a sign of life
        if self.user is None:
            return
        if bytes_data is not None:
            await self.send_error("bad_request", "binary frames are not supported; send JSON text")
            return
        text = text_data or ""
        if (
            len(text) > settings.PARLEY_MAX_FRAME_BYTES
            or len(text.encode()) > settings.PARLEY_MAX_FRAME_BYTES
        ):
            await self.send_error(
                "too_large", f"frames are limited to {settings.PARLEY_MAX_FRAME_BYTES} bytes"
            )
            return
        try:
            frame = json.loads(text)
        except (ValueError, RecursionError):
            await self.send_error("bad_request", "malformed JSON")
            return
        if not isinstance(frame, dict):
            await self.send_error("bad_request", "a frame must be a JSON object")
            return
        ref = frame.get("client_msg_id")
        ref = ref if isinstance(ref, str) and len(ref) <= 64 else None
        frame_type = frame.get("type")
        handler = self.handlers.get(frame_type) if isinstance(frame_type, str) else None
        self.note_frame(frame_type if handler is not None else "unknown", frame)
        if handler is None:
            detail = (
                "missing or non-string type"
                if not isinstance(frame_type, str)
                else f"unknown type {frame_type[:40]!r}"
            )
            await self.send_error("bad_request", detail, ref=ref)
            return
        if not frame_allowed(self.scope.get("token_scopes"), frame_type):
            await self.send_error(
                "insufficient_scope", "this API token lacks the 'write' scope", ref=ref
            )
            return
        try:
            await handler(self, frame)
        except ChatError as exc:
            await self.send_error(exc.code, exc.detail, ref=ref, field=exc.field, **exc.extra)
            if isinstance(exc, RateLimited):
                await self.refusal_counted()
        except DATABASE_ERRORS:
            logger.exception("database error handling a %s frame", frame_type)
            await self.send_error(
                Unavailable.code, "the database is unavailable; retry later", ref=ref
            )
        except REDIS_ERRORS:
            # e.g. the dedup lookup before a send: nothing was stored, the same frame may be
            # resent (the fault suite's Redis restart saw one server_error here).
            logger.exception("redis error handling a %s frame", frame_type)
            await self.send_error(Unavailable.code, "Redis is unavailable; retry later", ref=ref)
        except Exception:
            logger.exception("unexpected error handling a %s frame", frame_type)
            await self.send_error("server_error", "the server failed to handle this frame", ref=ref)

    async def send_error(
        self,
        code: str,
        detail: str,
        *,
        ref: str | None = None,
        field: str | None = None,
        **extra: Any,
    ) -> None:
        await self.send_json(
            {
                "type": "error",
                "code": code,
                "detail": detail,
                "ref": ref,
                # The frame field at fault, as REST's `field` (null when no one field is).
                "field": field,
                "request_id": self.request_id,
                **extra,
            }
        )

    async def on_send(self, frame: dict[str, Any]) -> None:
        await self.rate_limit("ws_send")
        conversation_id = int_field(frame, "conversation", minimum=1)
        ack = await send_batcher().send(
            SendRequest(
                sender=self.user,
                conversation_id=conversation_id,
                client_msg_id=frame.get("client_msg_id"),
                body=frame.get("body"),
                attachments=frame.get("attachments"),
                reply_to=frame.get("reply_to"),
            )
        )
        await self.send_json(ack)

    async def on_sync(self, frame: dict[str, Any]) -> None:
        conversation_id = int_field(frame, "conversation", minimum=1)
        after_seq = int_field(frame, "after_seq", minimum=0)
        limit = int_field(frame, "limit", minimum=1, required=False) or MAX_PAGE
        page, has_more, last_seq = await db_hop(message_history)(
            user_id=self.user.pk,
            conversation_id=conversation_id,
            after_seq=after_seq,
            before_seq=None,
            limit=min(limit, MAX_PAGE),
        )
        for event in page:
            await self.send_json(event)
        if has_more:
            done_seq = page[-1]["seq"]  # continue from here
        else:
            done_seq = last_seq
            # The client now holds everything up to last_seq: live copies of those are
            # dropped, and anything waiting just behind them can go.
            if last_seq > self.cursors.get(conversation_id, last_seq):
                self.cursors[conversation_id] = last_seq
                self._enqueue(self._flush(conversation_id))
        await self.send_json(
            {
                "type": "sync_done",
                "conversation": conversation_id,
                "last_seq": done_seq,
                "has_more": has_more,
            }
        )

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    async def on_edit(self, frame: dict[str, Any]) -> None:
        await self.rate_limit("ws_send")
        event = await db_hop(message_edit)(
            editor=self.user,
            conversation_id=int_field(frame, "conversation", minimum=1),
            message_id=message_id_field(frame),
            body=frame.get("body"),
        )
        await self._answer_change(event)

    async def on_delete(self, frame: dict[str, Any]) -> None:
        await self.rate_limit("ws_send")
        event = await db_hop(message_delete)(
            actor=self.user,
            conversation_id=int_field(frame, "conversation", minimum=1),
            message_id=message_id_field(frame),
            via="websocket",
        )
        await self._answer_change(event)

    async def on_react(self, frame: dict[str, Any]) -> None:
        await self.rate_limit("ws_send")
        event = await db_hop(reaction_set)(
            user=self.user,
            conversation_id=int_field(frame, "conversation", minimum=1),
            message_id=message_id_field(frame, "message"),
            emoji=frame.get("emoji"),
            on=frame.get("on", True),
        )
        if event["change_seq"] is None:  # nothing changed: no live copy will follow
            await self.send_json(event)
        else:
            await self._answer_change(event)

    async def _answer_change(self, event: dict[str, Any]) -> None:
        """The requesting socket gets the change once: as this answer or as its live copy,
        whichever is first (the live copy may overtake the answer)."""
        if self._first_sighting_of_change(event):
            await self.send_json(event)

    def _first_sighting_of_change(self, event: dict[str, Any]) -> bool:
        key = (event["conversation"], event["change_seq"])
        if key in self.answered_changes:
            return False
        if len(self.answered_changes) > 1000:
            self.answered_changes.clear()
        self.answered_changes.add(key)
        return True

    async def on_changes(self, frame: dict[str, Any]) -> None:
        conversation_id = int_field(frame, "conversation", minimum=1)
        after = int_field(frame, "after_change_seq", minimum=0)
        limit = int_field(frame, "limit", minimum=1, required=False) or MAX_PAGE
        page, has_more, last_change_seq = await db_hop(message_changes)(
            user_id=self.user.pk,
            conversation_id=conversation_id,
            after_change_seq=after,
            limit=min(limit, MAX_PAGE),
        )
        for event in page:
            await self.send_json(event)
        await self.send_json(
            {
                "type": "changes_done",
                "conversation": conversation_id,
                "last_change_seq": page[-1]["change_seq"] if has_more else last_change_seq,
                "has_more": has_more,
            }
        )

    async def on_delivered(self, frame: dict[str, Any]) -> None:
        await self._mark(frame, read=False)

    async def on_read(self, frame: dict[str, Any]) -> None:
        await self._mark(frame, read=True)

    async def _mark(self, frame: dict[str, Any], *, read: bool) -> None:
        conversation_id = int_field(frame, "conversation", minimum=1)
        seq = int_field(frame, "seq", minimum=0)
        await db_hop(receipt_mark)(
            user_id=self.user.pk, conversation_id=conversation_id, seq=seq, read=read
        )

    async def on_typing(self, frame: dict[str, Any]) -> None:
        await self.rate_limit("ws_typing")
        conversation_id = int_field(frame, "conversation", minimum=1)
        await db_hop(typing_relay)(user=self.user, conversation_id=conversation_id)

    async def on_command(self, frame: dict[str, Any]) -> None:
        """A slash command line (integrations/commands.py): answered with an `ack` (it stored a
        message), an `ephemeral` frame (for this socket only, not stored) or `command_done`."""
        await self.rate_limit("ws_send")
        conversation_id = int_field(frame, "conversation", minimum=1)
        ref = frame.get("client_msg_id")
        result = await db_hop(command_run)(
            user=self.user,
            conversation_id=conversation_id,
            text=frame.get("text"),
            client_msg_id=ref,
        )
        if "ack" in result:
            await self.send_json(result["ack"])
        elif "ephemeral" in result:
            await self.send_json({**result["ephemeral"], "ref": ref})
        else:
            await self.send_json(
                {"type": "command_done", "conversation": conversation_id, "ref": ref}
            )

    # A handler that costs the server (stores, fans out) starts with
    # `await self.rate_limit("<name in PARLEY_RATE_LIMITS>")`; `typing` uses "ws_typing".
    handlers = {
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

    # --- conversation events from the fan-out hub -------------------------------------------

    def fanout_event(self, handler: str, event: dict[str, Any], text: str) -> None:
        """Called by the hub, in the event loop, once per conversation event for this socket."""
        if self.early is not None:
            self.early.append((handler, event, text))
            return
        if handler == "chat.message":
            self._enqueue(self._accept_live(event["conversation"], event["seq"], text))
            return
        if handler == "conversation.left":
            self._leave_now(event)
            return
        method = getattr(self, handler.replace(".", "_"), None)
        if method is None:
            logger.warning("no handler for conversation event %s", handler)
            return
        message = {"type": handler, "event": event}
        self._enqueue([lambda: method(message)])

    def fanout_reset(self, conversation_ids: Iterable[int]) -> None:
        """The hub may have missed events: re-read these conversations from the database."""
        for conversation_id in conversation_ids:
            if conversation_id in self.cursors and conversation_id not in self.heal_tasks:
                self.heal_tasks[conversation_id] = asyncio.create_task(
                    self._heal(conversation_id, wait=0.0)
                )

    def _enqueue(self, items: list[OutboxItem]) -> None:
        if not items:
            return
        self.outbox.extend(items)
        if len(self.outbox) > settings.PARLEY_OUTBOX_LIMIT:
            logger.warning("socket of user %s cannot keep up; closing", self.user.pk)
            metrics.slow_socket_closed()
            self.outbox.clear()
            self.outbox.append(lambda: self.close(code=CLOSE_TOO_SLOW))
        self._drain()

    def _drain(self) -> None:
        """Starts writing the outbox, unless a write is under way (it writes the rest)."""
        if self.draining or not self.outbox_open or not self.outbox:
            return
        self.draining = True
        try:
            self.writer = run_eagerly(self._write_outbox(), context=self.context)
        except BaseException:
            self.draining = False
            raise

    async def _write_outbox(self) -> None:
        send = self.base_send
        try:
            while self.outbox:
                item = self.outbox.popleft()
                try:
                    if isinstance(item, str):
                        await send({"type": "websocket.send", "text": item})
                    else:
                        await item()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("writing to a socket failed")
        finally:
            self.draining = False
            self.writer = None

    # --- events from the channel layer ---------------------------------------------------

    async def conversation_joined(self, message: dict[str, Any]) -> None:
        summary = message["event"]["conversation"]
        conversation_id = summary["id"]
        if conversation_id not in self.cursors and self.hub is not None:
            # From the join on: the socket reads what was committed while it subscribed
            # (its own join message included) from the database right away.
            self.cursors[conversation_id] = summary["joined_seq"]
            self.floors[conversation_id] = summary["joined_seq"]
            await self.hub.join(self, [conversation_id])
            self.fanout_reset([conversation_id])
        await self.send_json({"type": "conversation", "conversation": summary})

    async def webhook_disabled(self, message: dict[str, Any]) -> None:
        """One of the user's outgoing webhooks kept failing and was disabled (integrations)."""
        await self.send_json(message["event"])

    async def conversation_left(self, message: dict[str, Any]) -> None:
        """The channel-layer copy of a leave (see services.publish_conversation_left)."""
        self._leave_now(message["event"])

    def _leave_now(self, event: dict[str, Any]) -> None:
        """No longer a member: stop carrying the conversation before anything else of it.
        Runs synchronously where the event arrives, so nothing queued after it gets through."""
        if event.get("user") != self.user.pk:
            return  # another member left; their system message tells everyone
        conversation_id = event["conversation"]
        if self.cursors.pop(conversation_id, None) is None:
            return
        task = self.heal_tasks.pop(conversation_id, None)
        if task is not None:
            task.cancel()
        self.pending.pop(conversation_id, None)
        self.floors.pop(conversation_id, None)
        frame = {key: value for key, value in event.items() if key != "user"}
        self._enqueue([json.dumps(frame)])
        if self.hub is not None:
            hub = self.hub
            self._enqueue([lambda: hub.leave(self, [conversation_id])])

    async def message_updated(self, message: dict[str, Any]) -> None:
        await self._forward_change(message["event"])

    async def message_deleted(self, message: dict[str, Any]) -> None:
        await self._forward_change(message["event"])

    async def message_preview(self, message: dict[str, Any]) -> None:
        event = message["event"]
        conversation_id = event["conversation"]
        if conversation_id in self.cursors and event["seq"] > self.floors.get(conversation_id, 0):
            await self.send_json(event)

    async def conversation_change(self, message: dict[str, Any]) -> None:
        """thread_updated, reaction, pins (conversations.changes): numbered like edits."""
        await self._forward_change(message["event"])

    async def _forward_change(self, event: dict[str, Any]) -> None:
        conversation_id = event["conversation"]
        if conversation_id not in self.cursors or event["seq"] <= self.floors.get(
            conversation_id, 0
        ):
            return  # not ours (any more), or from before we joined
        if self._first_sighting_of_change(event):
            await self.send_json(event)

    async def receipt_updated(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    async def presence_changed(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    async def user_updated(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    async def typing_relayed(self, message: dict[str, Any]) -> None:
        if message["event"]["user"] != self.user.pk:  # not to the typist's own devices
            await self.send_json(message["event"])

    async def gateway_close(self, message: dict[str, Any]) -> None:
        """The system ended this socket (e.g. a ban): see realtime.close_user_sockets."""
        await self.close(code=message["event"]["code"])

    # --- heartbeats and presence ----------------------------------------------------------

    async def _watchdog(self) -> None:
        """Closes the socket (4408) once it has been silent for the heartbeat timeout; until
        then keeps its presence entry fresh, once per heartbeat interval, and its channel-layer
        group memberships, once per half `group_expiry`."""
        loop = asyncio.get_running_loop()
        interval = settings.PARLEY_HEARTBEAT_INTERVAL
        next_refresh = loop.time() + interval
        renew_every = group_renewal_interval(self.channel_layer)
        next_renewal = loop.time() + renew_every
        while True:
            await asyncio.sleep(min(interval, renew_every) / 2)
            now = loop.time()
            if now - self.last_frame_at > presence_timeout():
                self.closing = True
                await self._leave_presence()
                await self.close(code=CLOSE_HEARTBEAT_TIMEOUT)
                return
            if now >= next_renewal:
                next_renewal = now + renew_every
                await self._renew_groups()
            if now >= next_refresh:
                next_refresh = now + interval
                try:
                    present = await db_hop(presence_heartbeat)(
                        user_id=self.user.pk, connection_id=self.channel_name
                    )
                    if not present and not self.closing:  # lapsed (e.g. a stall): re-enter
                        await db_hop(presence_connect)(
                            user_id=self.user.pk, connection_id=self.channel_name
                        )
                except Exception:
                    logger.exception("presence refresh failed")

    async def _renew_groups(self) -> None:
        """The layer forgets a membership `group_expiry` seconds after its group_add: adding
        again restarts that clock, so a socket outliving it keeps its per-user events."""
        try:
            for group in list(self.groups_joined):
                await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            # The layer is failing; its receive fails too and closes the socket (1012).
            logger.warning("renewing group memberships failed", exc_info=True)

    async def _leave_presence(self) -> None:
        try:
            await db_hop(presence_disconnect)(user_id=self.user.pk, connection_id=self.channel_name)
        except Exception:
            # The entry lapses by itself after the heartbeat timeout.
            logger.exception("presence disconnect failed")

    # --- ordering --------------------------------------------------------------------------

    def _accept_live(self, conversation_id: int, seq: int, text: str) -> list[OutboxItem]:
        """Takes one live message; returns the frames that may be sent now, in seq order."""
        cursor = self.cursors.get(conversation_id)
        if cursor is None or seq <= cursor:
            return []  # not (yet) ours, or already delivered
        self.pending.setdefault(conversation_id, {})[seq] = text
        return self._flush(conversation_id)

    def _flush(self, conversation_id: int) -> list[OutboxItem]:
        """Releases waiting messages that now follow the cursor without a gap."""
        waiting = self.pending.get(conversation_id)
        if not waiting:
            return []
        cursor = self.cursors[conversation_id]
        for stale in [seq for seq in waiting if seq <= cursor]:
            del waiting[stale]
        ready: list[OutboxItem] = []
        while cursor + 1 in waiting:
            cursor += 1
            ready.append(waiting.pop(cursor))
        self.cursors[conversation_id] = cursor
        if not waiting:
            self.pending.pop(conversation_id, None)
        elif conversation_id not in self.heal_tasks:
            self.heal_tasks[conversation_id] = asyncio.create_task(self._heal(conversation_id))
        return ready

    async def _heal(self, conversation_id: int, *, wait: float | None = None) -> None:
        """A predecessor did not arrive in time (or the hub lost events): read what is missing
        from the database."""
        try:
            await asyncio.sleep(settings.PARLEY_REORDER_WAIT if wait is None else wait)
            forced = wait is not None
            while forced or self.pending.get(conversation_id):
                forced = False
                after = self.cursors.get(conversation_id)
                if after is None:
                    return  # left meanwhile
                try:
                    # Read as this member (membership and join floor checked): a socket whose
                    # user was removed must not read on.
                    missing, has_more, _ = await db_hop(message_history)(
                        user_id=self.user.pk,
                        conversation_id=conversation_id,
                        after_seq=after,
                        before_seq=None,
                        limit=MAX_PAGE,
                    )
                except NotFound:
                    self._leave_now(
                        {
                            "type": "conversation_left",
                            "conversation": conversation_id,
                            "reason": "removed",
                            "user": self.user.pk,
                        }
                    )
                    return
                except DATABASE_ERRORS:
                    logger.exception("gap fill for conversation %s failed", conversation_id)
                    self.pending.pop(conversation_id, None)
                    frame = {"type": "resync", "conversation": conversation_id, "after_seq": after}
                    self._enqueue([json.dumps(frame)])
                    return
                for event in missing:
                    self._enqueue(
                        self._accept_live(conversation_id, event["seq"], json.dumps(event))
                    )
                if has_more:
                    forced = True
                elif not missing:
                    self.pending.pop(conversation_id, None)
        finally:
            self.heal_tasks.pop(conversation_id, None)
