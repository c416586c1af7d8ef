"""The WebSocket gateway's consumer: one socket per client carries all of a user's conversations.

The consumer only receives and hands on. Once a socket is authenticated its parts form a
`Connection` (gateway/connection.py): its `Outbox` (every frame it writes, in one order), its
`LiveConversations` (cursors, reordering, gap repair), its `UserChannel` (its user's, session's
and the address channel), its `Heartbeat`, its `SocketProtection` and its `Instrumentation`.
Inbound frames go to the handler FRAME_HANDLERS names for their type (gateway/frames.py), which
makes one service call. Conversation and per-user events reach the socket through the
process's hub (realtime/hub.py), held by the runtime (gateway/runtime.py).

Only channels' public hooks are used (`connect`, `receive`, `disconnect`, `close`), plus one
override of `dispatch` (see there). When the realtime path itself may have lost this socket's
events beyond what a database read repairs (the hub found Redis restarted), the socket is
closed with 1012: the client reconnects and syncs.
"""

import asyncio
import contextvars
import logging
from collections.abc import Iterable
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

import realtime
from chatsite import metrics
from core.asyncdb import db_hop
from core.close_codes import TOO_SLOW, Close
from core.errors import (
    DATABASE_ERRORS,
    REDIS_ERRORS,
    SERVER_ERROR,
    BadRequest,
    RateLimited,
    wire_error,
)
from integrations.websocket import frame_allowed
from messaging.events import user_ref
from messaging.features import server_features
from messaging.selectors import conversation_summaries

from .connection import Connection
from .frames import FRAME_HANDLERS
from .handshake import handshake_admit, handshake_ready
from .heartbeat import Heartbeat
from .instrumentation import Instrumentation
from .live import LiveConversations
from .outbox import Outbox
from .protection import SocketProtection
from .protocol import error_frame, frame_ref, parse_frame, ready_since, unknown_type_detail
from .runtime import Runtime
from .user_channel import UserChannel

logger = logging.getLogger(__name__)

# The user-side event the hub's `user_reset` queues (never published: no frame has this type).
USER_RESET = "gateway.user_reset"


class GatewayConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    # No channels-managed channel: per-user events come through the hub (UserChannel).
    channel_layer_alias = "__none__"

    def __init__(self, *args: Any, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runtime_owner = runtime  # the process's (gateway/routing.py)
        self.instrumentation = Instrumentation()
        self.conn: Connection | None = None  # set once authenticated
        self.lost: asyncio.Task[None] | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        """As channels' AsyncConsumer.dispatch, without its `aclose_old_connections()`: that is
        a hop to channels' one sync thread for every frame of every socket (measured: 9% of the
        server's GIL time with 50 pairs chatting). Every database hop of the gateway closes
        stale connections itself (core/asyncdb.py), so nothing is lost."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- connect -------------------------------------------------------------------------

    async def connect(self) -> None:
        self.instrumentation.handshake_started()
        try:
            await self._connect()
        except Exception:
            self.instrumentation.handshake_failed()
            raise
        self.instrumentation.handshake_done(self.conn.user.pk if self.conn is not None else None)

    async def _connect(self) -> None:
        runtime = self.runtime_owner.here()
        outbox = Outbox(
            transport=self.base_send,
            limit=settings.PARLEY_OUTBOX_LIMIT,
            on_overflow=lambda: self.close(code=TOO_SLOW),
            # Writes run in the socket's own context (its log bindings), whoever puts a frame.
            context=contextvars.copy_context(),
        )
        await self.accept()
        failure = self.scope.get("auth_failure")
        if failure:
            await self.close(code=failure)
            return
        user = self.scope["user"]
        channel = UserChannel(runtime.hub, subscriber=self)
        self.channel_name = channel.open()
        conn = Connection(
            user=user,
            scope=self.scope,
            runtime=runtime,
            outbox=outbox,
            live=LiveConversations(
                user_id=user.pk,
                outbox=outbox,
                hub=runtime.hub,
                subscriber=self,
                history=runtime.history,
            ),
            channel=channel,
            protection=SocketProtection(
                scope=self.scope,
                user_id=user.pk,
                close=self._close_with,
                watch=runtime.address_watch,
            ),
            heartbeat=Heartbeat(user_id=user.pk, channel=channel, close=self._close_with),
            instrumentation=self.instrumentation,
        )
        try:
            await self._start(conn)
        except (*DATABASE_ERRORS, *REDIS_ERRORS):
            logger.warning("database or Redis unavailable during a handshake", exc_info=True)
            await self.close(code=Close.TRY_AGAIN_LATER)

    async def _start(self, conn: Connection) -> None:
        user = conn.user
        self.conn = conn  # from here on, disconnect() undoes what was done
        await conn.protection.start(conn.channel)
        await conn.channel.join(realtime.user_group(user.pk))
        if self.scope.get("auth_session"):  # closed as one on logout
            await conn.channel.join(realtime.session_group(self.scope["auth_session"]))
        admission = await db_hop(handshake_admit)(
            user_id=user.pk,
            token_generation=user.token_generation,
            session_id=self.scope.get("auth_session"),
        )
        if admission.refusal is not None:  # banned, revoked or logged out while authenticating
            await self.close(code=admission.close_code)
            return
        # Subscribe to the conversations before reading last_seq, so any message committed
        # after that read is also fanned out to this socket.
        await conn.live.subscribe(admission.conversation_ids)
        listed, users = await db_hop(handshake_ready)(
            user_id=user.pk, since=ready_since(self.scope), admission=admission
        )
        conn.outbox.put(
            {
                "type": "ready",
                "user": user_ref(user),
                "conversations": listed.summaries,
                # Profiles of the user and everyone they may see (accounts.selectors).
                "users": users,
                "heartbeat_interval": settings.PARLEY_HEARTBEAT_INTERVAL,
                "features": server_features(),
                # cursor, partial, removed: only for a client that sent ?since=.
                **listed.ready_fields(),
            }
        )
        conn.outbox.open()
        conn.live.start(listed.positions)
        conn.channel.start(self._user_event)
        await conn.heartbeat.start()
        conn.runtime.sockets_served()

    # --- receive -------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        conn = self.conn
        if conn is None or conn.live.early is not None:  # not (yet) past `ready`
            return
        conn.heartbeat.beat()  # any frame is a sign of life
        self.instrumentation.frame_started()
        try:
            await self._receive(conn, text_data, bytes_data)
            # The next frame is read once this one's answers are written.
            await conn.outbox.answered()
        finally:
            self.instrumentation.frame_done()

    async def _receive(self, conn: Connection, text: str | None, data: bytes | None) -> None:
        ref: str | None = None
        frame_type: object = None
        try:
            frame = parse_frame(text, data, limit=settings.PARLEY_MAX_FRAME_BYTES)
            ref = frame_ref(frame)
            frame_type = frame.get("type")
            handler = FRAME_HANDLERS.get(frame_type) if isinstance(frame_type, str) else None
            if handler is None or not isinstance(frame_type, str):
                self.instrumentation.frame_parsed("unknown", frame)
                raise BadRequest(unknown_type_detail(frame_type))
            self.instrumentation.frame_parsed(frame_type, frame)
            if not frame_allowed(self.scope.get("token_scopes"), frame_type):
                conn.reply(self._insufficient_scope(ref))
                return
            await handler(conn, frame)
        except Exception as exc:
            wire = wire_error(exc)
            if wire is None or wire.unexpected:
                logger.exception("%s handling a %s frame", type(exc).__name__, frame_type)
            request_id = self.instrumentation.request_id
            conn.reply(error_frame(wire or SERVER_ERROR, ref=ref, request_id=request_id))
            if isinstance(exc, RateLimited):
                await conn.protection.refusal_counted()

    def _insufficient_scope(self, ref: str | None) -> dict[str, Any]:
        return {
            "type": "error",
            "code": "insufficient_scope",
            "detail": "this API token lacks the 'write' scope",
            "ref": ref,
            "field": None,
            "request_id": self.instrumentation.request_id,
        }

    # --- disconnect and close ------------------------------------------------------------

    async def disconnect(self, code: int) -> None:
        conn = self.conn
        try:
            if conn is not None:
                conn.protection.stop()
                conn.outbox.stop()
                await conn.live.stop()
                conn.runtime.hub.detach(self)
                await conn.heartbeat.stop()
                await conn.channel.close()
        finally:
            self.instrumentation.disconnected(code)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        self.instrumentation.closing(None if isinstance(code, bool) else code)
        await super().close(code=code, reason=reason)

    async def _close_with(self, code: int) -> None:
        await self.close(code=code)

    def realtime_lost(self, reason: str) -> None:
        """This socket may have missed events the database cannot replay (per-user events,
        what it kept in a restarted Redis): close it with 1012 so the client reconnects and
        syncs."""
        if self.lost is not None or self.conn is None:
            return
        metrics.realtime_loss_closed(reason=reason)
        self.lost = asyncio.get_running_loop().create_task(self.close(code=Close.SERVICE_RESTART))

    # --- the hub's subscriber ------------------------------------------------------------

    def fanout_event(self, handler: str, event: dict[str, Any], text: str) -> None:
        """Called by the hub, in the event loop, once per conversation event for this socket."""
        if self.conn is not None:
            self.conn.live.event(handler, event, text)

    def fanout_reset(self, conversation_ids: Iterable[int]) -> None:
        """The hub may have missed events: re-read these conversations from the database."""
        if self.conn is not None:
            self.conn.live.reset(conversation_ids)

    def user_reset(self) -> None:
        """The hub may have missed events of this socket's user-side channels: check the user
        again, in order with the events that follow (`_user_reset`)."""
        if self.conn is not None:
            self.conn.channel.put(USER_RESET, {})

    def user_event(self, handler: str, event: dict[str, Any]) -> None:
        """Called by the hub, in the event loop, once per event of the socket's user-side
        channels; handled in order by its UserChannel."""
        if self.conn is not None:
            self.conn.channel.put(handler, event)

    # --- per-user events -----------------------------------------------------------------

    async def _user_event(self, name: str, event: dict[str, Any]) -> None:
        conn = self.conn
        if conn is None:
            return
        if name == "conversation":  # a new conversation: subscribe, then the frame
            await conn.live.joined(event["conversation"])
        elif name == USER_RESET:
            await self._user_reset(conn)
        elif name == "gateway.close":  # the system ended this socket (e.g. a ban)
            await self.close(code=event["code"])
        elif name == "gateway.close_addresses":
            conn.protection.close_addresses(event)
        else:  # webhook.disabled, presence.changed, user.updated: the frame as it is
            conn.outbox.put(event)

    async def _user_reset(self, conn: Connection) -> None:
        """What a missed per-user event would have done, read from the database: close the
        socket of a user banned, revoked or logged out meanwhile; join the conversations they
        were added to meanwhile (the `conversation` frame, then its messages, as live)."""
        admission = await db_hop(handshake_admit)(
            user_id=conn.user.pk,
            token_generation=conn.user.token_generation,
            session_id=self.scope.get("auth_session"),
        )
        if admission.refusal is not None:
            await self.close(code=admission.close_code)
            return
        joined = set(admission.conversation_ids) - set(conn.live.cursors)
        if not joined:
            return
        summaries = await db_hop(conversation_summaries)(
            user_id=conn.user.pk, conversation_ids=sorted(joined)
        )
        for summary in summaries:
            await conn.live.joined(summary)
