"""The realtime client: one WebSocket to Parley that keeps the protocol's promise on the
client's side (docs/protocol.md, "Resume after a reconnect"):

1. per conversation it keeps the highest seq up to which it holds every message and delivers
   each (conversation, seq) once; a live message that skips ahead is a gap, repaired by `sync`
   from that seq (one `sync` at a time per conversation, checked again at `sync_done`);
2. after every `ready` it `sync`s each conversation whose `last_seq` is above what it holds
   (and `changes` each whose `last_change_seq` is above its change cursor);
3. it resends every unacknowledged `send` with the same `client_msg_id` after a reconnect, and
   after an `unavailable`, `server_error` or `rate_limited` answer;
4. a closed socket reconnects with jittered backoff chosen by the close code (policy.py):
   never after 4403, after a new token on 4401, at once on 1001, slowly on 4429.

It stays cheap per socket (the benchmark runs a thousand of them in one process): two tasks
(reader, heartbeat), a few integers per conversation, and no copy of the messages.
"""

import asyncio
import contextlib
import inspect
import json
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from .errors import AuthenticationFailed, ConnectionStopped, Forbidden, ParleyError
from .events import (
    Ack,
    CommandDone,
    ConversationAdded,
    ConversationLeft,
    ConversationSummary,
    Disconnected,
    Ephemeral,
    Event,
    Message,
    Ready,
    parse_event,
)
from .policy import REAUTH, ROTATE, STOP, policy_for, reconnect_delay

logger = logging.getLogger("parley_client")

# Answers to a `send` after which the same frame is sent again (nothing was stored).
RETRY_CODES = frozenset({"unavailable", "server_error", "rate_limited"})
# Frames that carry a change_seq (the change cursor of docs/protocol.md, "Edits and deletes").
CHANGE_FRAMES = frozenset(
    {"message_updated", "message_deleted", "reaction", "pins", "thread_updated"}
)
STABLE_SESSION = 5.0  # seconds: a session that lasted this long resets the backoff

Handler = Callable[[Event], Awaitable[None] | None]
_JITTER = random.Random()  # noqa: S311 (jitter, not a secret; one for all clients: 2.5 KB each)
_END = object()


def websocket_url(url: str) -> str:
    """`http(s)://host[:port]` or `ws(s)://host[:port]` → the socket endpoint `ws(s)://…/ws/`."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path if parts.path.rstrip("/").endswith("/ws") else parts.path.rstrip("/") + "/ws/"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def http_url(url: str) -> str:
    """The REST base (`http(s)://host[:port]`) of a server URL given in either form."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", ""))


@dataclass(slots=True)
class Session:
    """One connection's life: where, when it opened, when and how it ended."""

    url: str  # the server URL as given to the Client
    opened: float  # time.monotonic()
    closed: float | None = None
    code: int | None = None
    by_client: bool = False
    ready: bool = False


@dataclass(slots=True, eq=False)
class PendingSend:
    """A `send` (or `command`) not acknowledged yet: resent until its ack arrives."""

    conversation: int
    client_msg_id: str
    body: str | None
    encoded: str
    future: "asyncio.Future[Any]"
    first_sent: float  # time.monotonic() when submitted
    attempts: int = 0
    retries: int = 0


class _Stream:
    """Resume state of one conversation: every seq up to `contiguous` is held; `above` holds
    later seqs that arrived before a gap closed; at most one sync and one changes in flight."""

    __slots__ = ("above", "again", "change_seq", "changing", "contiguous", "syncing", "waiters")

    def __init__(self, contiguous: int, change_seq: int = 0) -> None:
        self.contiguous = contiguous
        self.above: set[int] | None = None
        self.syncing = False
        self.again = False
        self.change_seq = change_seq
        self.changing = False
        self.waiters: list[asyncio.Future[None]] | None = None


class Client:
    """A Parley connection that resumes by itself.

    `url`: the server (`https://chat.example` or `ws://127.0.0.1:8000`), or a list of them
    (several server processes: a closed socket moves on to the next one). `token`: a JWT access
    token, a personal API token or a bot token (`parley_…`), sent as `Authorization: Bearer`.
    `refresh`: an async callable returning a new token, used after a 4401 (see `Client.login`).
    `backfill`: on first sight of a conversation, fetch its history since you joined (default:
    start from its newest message). `positions`: conversation → seq already held (a client
    that persisted its state); resumes from there.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        token: str | None = None,
        *,
        refresh: Callable[[], Awaitable[str]] | None = None,
        reconnect: bool = True,
        backfill: bool = False,
        positions: Mapping[int, int] | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        rng: random.Random | None = None,
        open_timeout: float = 30.0,
        compression: str | None = "deflate",
        preferred: int = 0,
        on_frame: Callable[[dict[str, Any]], None] | None = None,
        token_in_query: bool = False,
    ) -> None:
        urls = [url] if isinstance(url, str) else list(url)
        if not urls:
            raise ValueError("give at least one server URL")
        self.servers = urls  # as given (Session.url is one of them)
        self.urls = [websocket_url(u) for u in urls]
        self.http_url = http_url(urls[0])
        self.token = token
        self.refresh = refresh
        self.reconnect = reconnect
        self.backfill = backfill
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.rng = rng or _JITTER
        self.open_timeout = open_timeout
        self.compression = compression
        self.preferred = preferred
        self.on_frame = on_frame
        self.token_in_query = token_in_query

        self.user = None  # events.User of the last ready
        self.ready: Ready | None = None
        self.conversations: dict[int, ConversationSummary] = {}
        self.pending: dict[str, PendingSend] = {}
        self.stats: Counter[str] = Counter()
        self.sessions: list[Session] = []
        self.connect_failures = 0
        self.connected = asyncio.Event()
        self.ws: Any = None
        self.heartbeat = 25.0
        self.error: ConnectionStopped | None = None  # why it stopped for good

        self._positions = dict(positions or {})
        self._streams: dict[int, _Stream] = {}
        self._handlers: list[Handler] = []
        self._queue: asyncio.Queue[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._closing = False
        self._done = asyncio.Event()
        self._last_rx = 0.0
        self._rest: Any = None

    # --- life cycle -----------------------------------------------------------------------

    @classmethod
    async def login(
        cls, url: str | Sequence[str], username: str, password: str, **options: Any
    ) -> "Client":
        """A client for a person's account: logs in over REST and refreshes its token (rotating
        the refresh token) whenever the socket is closed with 4401."""
        from .rest import RestClient

        first = url if isinstance(url, str) else url[0]
        rest = RestClient(http_url(first))
        await rest.login(username, password)
        client = cls(url, rest.token, refresh=rest.refresh_access, **options)
        client._rest = rest
        return client

    def start(self) -> None:
        """Starts connecting in the background (see `connected`, `connect()`)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="parley-client")

    async def connect(self, *, timeout: float | None = None) -> Ready:  # noqa: ASYNC109
        """Starts the client and waits for its first `ready`. Raises the reason when the client
        stops first (`AuthenticationFailed`, `Forbidden`, or with `reconnect=False` the failed
        attempt as `ConnectionStopped`), TimeoutError after `timeout` seconds."""
        self.start()
        waits = [
            asyncio.ensure_future(self.connected.wait()),
            asyncio.ensure_future(self._done.wait()),
        ]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        if self.connected.is_set() and self.ready is not None:
            return self.ready
        if self.error is not None:
            raise self.error
        raise TimeoutError("no ready within the timeout")

    async def close(self) -> None:
        """Closes the socket (1000) and stops reconnecting; unacknowledged sends fail."""
        self._closing = True
        ws = self.ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for task in list(self._tasks):
            task.cancel()
        self._finish(ConnectionStopped("closed by the client"), code=1000)
        if self._rest is not None:
            await self._rest.close()

    async def __aenter__(self) -> "Client":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def drop(self) -> None:
        """Cuts the TCP connection without a close frame, as a network failure would (tests)."""
        ws = self.ws
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.transport.abort()

    @property
    def stopped(self) -> bool:
        return self._done.is_set()

    def unexpected_closes(self) -> list[Session]:
        return [s for s in self.sessions if s.closed is not None and not s.by_client]

    # --- events ---------------------------------------------------------------------------

    def on(self, handler: Handler) -> Handler:
        """Calls `handler(event)` for every event (usable as a decorator). A plain function runs
        inline, in frame order; an `async def` runs as its own task (it may await `send()`)."""
        self._handlers.append(handler)
        return handler

    def events(self) -> AsyncIterator[Event]:
        """Every event from now on, in order, until the client stops. Starts the client when it
        was not started: `async for event in client.events()` is all a bot needs (call it
        before `connect()` to see that connection's `Ready` too)."""
        if self._queue is None:
            self._queue = asyncio.Queue()
        self.start()
        return self._drain(self._queue)

    async def _drain(self, queue: "asyncio.Queue[Any]") -> AsyncIterator[Event]:
        while True:
            event = await queue.get()
            if event is _END:
                return
            yield event

    def _emit(self, event: Event) -> None:
        for handler in self._handlers:
            try:
                result = handler(event)
            except Exception:
                logger.exception("event handler failed")
                continue
            if result is not None and inspect.isawaitable(result):
                self._spawn(result)
        if self._queue is not None:
            self._queue.put_nowait(event)

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: "asyncio.Future[Any]") -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("event handler failed", exc_info=task.exception())

    # --- sending --------------------------------------------------------------------------

    async def send(
        self,
        conversation: int,
        body: str | None = None,
        *,
        client_msg_id: str | None = None,
        **fields: Any,
    ) -> Ack:
        """Sends a message and returns its ack (the message is stored). Resent with the same
        `client_msg_id` across reconnects until acknowledged; raises `ParleyError` when the
        server refuses it, `ConnectionStopped` when the client stops first. Extra fields
        (`attachments`, `reply_to`) go into the frame."""
        return await (await self.submit(conversation, body, client_msg_id=client_msg_id, **fields))

    async def submit(
        self,
        conversation: int,
        body: str | None = None,
        *,
        client_msg_id: str | None = None,
        **fields: Any,
    ) -> "asyncio.Future[Ack]":
        """Like `send()` but returns as soon as the frame is written (or queued while offline):
        await the returned future for the ack. Cancelling the future stops the resends."""
        frame: dict[str, Any] = {"type": "send", "conversation": conversation}
        return await self._submit(frame, body, "body", client_msg_id, fields)

    async def command(
        self, conversation: int, text: str, *, client_msg_id: str | None = None
    ) -> Ack | Ephemeral | CommandDone:
        """Runs a slash command (`/me waves`): its `Ack` when it stored a message, else the
        `Ephemeral` answer only you see, or `CommandDone`."""
        frame: dict[str, Any] = {"type": "command", "conversation": conversation}
        return await (await self._submit(frame, text, "text", client_msg_id, {}))

    async def _submit(
        self,
        frame: dict[str, Any],
        text: str | None,
        key: str,
        client_msg_id: str | None,
        fields: dict[str, Any],
    ) -> "asyncio.Future[Any]":
        if self.error is not None:
            raise self.error
        cmid = client_msg_id or uuid.uuid4().hex
        existing = self.pending.get(cmid)
        if existing is not None:
            return existing.future
        frame["client_msg_id"] = cmid
        if text is not None:
            frame[key] = text
        frame.update(fields)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        pending = PendingSend(
            frame["conversation"], cmid, text, json.dumps(frame), future, time.monotonic()
        )
        self.pending[cmid] = pending
        future.add_done_callback(lambda f, cmid=cmid: self._settled(cmid, f))
        if self.connected.is_set():
            await self._transmit(pending)
        return future

    def _settled(self, cmid: str, future: "asyncio.Future[Any]") -> None:
        if future.cancelled():
            self.pending.pop(cmid, None)  # given up: no more resends
        else:
            future.exception()  # retrieved: no "never retrieved" warning for unawaited ones

    async def _transmit(self, pending: PendingSend) -> None:
        ws = self.ws
        if ws is None or self.pending.get(pending.client_msg_id) is not pending:
            return
        pending.attempts += 1
        self.stats["send_frames"] += 1
        with contextlib.suppress(ConnectionClosed, OSError):
            await ws.send(pending.encoded)

    def _retry_later(self, delay: float, pending: PendingSend) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(delay, lambda: self._spawn(self._transmit(pending)))

    async def send_frame(self, frame: dict[str, Any]) -> bool:
        """Sends any client frame as is; False when not connected (nothing is queued)."""
        ws = self.ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps(frame))
        except (ConnectionClosed, OSError):
            return False
        return True

    async def edit(self, conversation: int, message_id: str, body: str) -> bool:
        return await self.send_frame(
            {"type": "edit", "conversation": conversation, "id": message_id, "body": body}
        )

    async def delete(self, conversation: int, message_id: str) -> bool:
        return await self.send_frame(
            {"type": "delete", "conversation": conversation, "id": message_id}
        )

    async def react(self, conversation: int, message_id: str, emoji: str, on: bool = True) -> bool:
        return await self.send_frame(
            {
                "type": "react",
                "conversation": conversation,
                "message": message_id,
                "emoji": emoji,
                "on": on,
            }
        )

    async def typing(self, conversation: int) -> bool:
        return await self.send_frame({"type": "typing", "conversation": conversation})

    async def read(self, conversation: int, seq: int) -> bool:
        return await self.send_frame({"type": "read", "conversation": conversation, "seq": seq})

    async def delivered(self, conversation: int, seq: int) -> bool:
        return await self.send_frame(
            {"type": "delivered", "conversation": conversation, "seq": seq}
        )

    # --- what it holds --------------------------------------------------------------------

    def position(self, conversation: int) -> int:
        """The highest seq up to which every message of the conversation was delivered."""
        stream = self._streams.get(conversation)
        return stream.contiguous if stream else self._positions.get(conversation, 0)

    @property
    def positions(self) -> dict[int, int]:
        """conversation → position: persist it and pass it back as `positions=` to resume."""
        return {c: s.contiguous for c, s in self._streams.items()}

    @property
    def syncing(self) -> set[int]:
        """Conversations with a `sync` under way."""
        return {c for c, s in self._streams.items() if s.syncing}

    async def catch_up(self, conversation: int, *, timeout: float | None = 60) -> None:  # noqa: ASYNC109
        """Syncs the conversation until the server has nothing newer (each missing message is
        delivered as an event); returns when done."""
        stream = self._streams.get(conversation)
        if stream is None:
            stream = self._streams[conversation] = _Stream(self._positions.get(conversation, 0))
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stream.waiters = [*(stream.waiters or []), waiter]
        if stream.syncing:
            stream.again = True
        else:
            await self._sync(conversation, stream)
        await asyncio.wait_for(waiter, timeout)

    @property
    def rest(self) -> Any:
        """A `RestClient` for the same server and token (created on first use)."""
        if self._rest is None:
            from .rest import RestClient

            self._rest = RestClient(self.http_url, self.token)
        return self._rest

    # --- the connection loop --------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self.token and not self.token_in_query:
            return {"Authorization": f"Bearer {self.token}"}
        return {}

    def _url(self, index: int) -> str:
        url = self.urls[index % len(self.urls)]
        if self.token and self.token_in_query:
            url += ("&" if "?" in url else "?") + f"token={self.token}"
        return url

    async def _run(self) -> None:
        attempt = 0
        index = self.preferred
        reauthed = False
        while not self._closing:
            url = self._url(index)
            code: int | None = None
            try:
                ws = await websockets.connect(
                    url,
                    additional_headers=self._headers(),
                    max_size=None,
                    ping_interval=None,
                    open_timeout=self.open_timeout,
                    close_timeout=2,
                    compression=self.compression,
                )
            except InvalidStatus as refused:
                self.connect_failures += 1
                status = refused.response.status_code
                if status == 403:
                    self._finish(Forbidden(f"handshake refused: HTTP {status}"), code=None)
                    return
                failure: Exception = refused
            except (OSError, InvalidHandshake, TimeoutError) as error:
                self.connect_failures += 1
                failure = error
            else:
                failure = None  # type: ignore[assignment]
                session = Session(self.servers[index % len(self.servers)], time.monotonic())
                self.sessions.append(session)
                try:
                    await self._serve(ws, session)
                except (ConnectionClosed, OSError, TimeoutError):
                    pass
                except Exception:
                    logger.exception("parley client: a frame could not be handled")
                finally:
                    ws.transport.abort()  # no-op once closed; ends a session that broke
                    self._lost()
                    session.closed = time.monotonic()
                    session.code = ws.close_code
                    session.by_client = self._closing
                if self._closing:
                    return
                code = session.code
                if session.ready:
                    reauthed = False
                    if session.closed - session.opened > STABLE_SESSION:
                        attempt = 0
            if not self.reconnect:
                self._finish(
                    ConnectionStopped(f"connection ended (close code {code}): {failure or ''}"),
                    code=code,
                )
                return
            action = policy_for(code)
            if action == STOP:
                self._finish(Forbidden(f"closed with {code}: not retried", code=code), code=code)
                return
            if action == REAUTH:
                if self.refresh is None or reauthed:
                    self._finish(
                        AuthenticationFailed(f"closed with {code}: needs a new token", code=code),
                        code=code,
                    )
                    return
                try:
                    self.token = await self.refresh()
                except Exception as error:
                    self._finish(
                        AuthenticationFailed(f"refreshing the token failed: {error}", code=code),
                        code=code,
                    )
                    return
                reauthed = True
                if self._rest is not None:
                    self._rest.token = self.token
            if failure is not None or code in ROTATE:
                index += 1  # the process may be gone: try the next one
            attempt += 1
            delay = reconnect_delay(
                code, attempt, base=self.backoff_base, cap=self.backoff_cap, rng=self.rng
            )
            self.stats["reconnects"] += 1
            self._emit(Disconnected({"type": "disconnected"}, code, delay))
            await asyncio.sleep(delay)

    def _lost(self) -> None:
        self.connected.clear()
        self.ws = None
        for stream in self._streams.values():
            stream.syncing = stream.changing = stream.again = False

    def _finish(self, error: ConnectionStopped, *, code: int | None) -> None:
        if self._done.is_set():
            return
        self.error = error
        self._closing = True
        self.connected.clear()
        for pending in list(self.pending.values()):
            if not pending.future.done():
                pending.future.set_exception(error)
        self.pending.clear()
        for stream in self._streams.values():
            for waiter in stream.waiters or ():
                if not waiter.done():
                    waiter.set_exception(error)
            stream.waiters = None
        self._done.set()
        self._emit(Disconnected({"type": "disconnected"}, code, None))
        if self._queue is not None:
            self._queue.put_nowait(_END)

    async def _serve(self, ws: Any, session: Session) -> None:
        first = json.loads(await asyncio.wait_for(ws.recv(), self.open_timeout))
        if first.get("type") != "ready":
            self.stats[f"handshake:{first.get('type')}"] += 1
            await ws.close()
            return
        session.ready = True
        self.ws = ws
        self._last_rx = time.monotonic()
        if self.on_frame is not None:
            self.on_frame(first)
        await self._on_ready(first)
        self.connected.set()
        for pending in list(self.pending.values()):
            await self._transmit(pending)
        beat = asyncio.create_task(self._heartbeat(ws))
        try:
            async for raw in ws:
                self._last_rx = time.monotonic()
                await self._on_frame(json.loads(raw))
        finally:
            beat.cancel()

    async def _heartbeat(self, ws: Any) -> None:
        """A `ping` every heartbeat_interval; a server silent for 2.5 of them is dead."""
        interval = self.heartbeat
        with contextlib.suppress(ConnectionClosed, OSError):
            while True:
                await asyncio.sleep(interval)
                if time.monotonic() - self._last_rx > 2.5 * interval:
                    self.stats["silent_server"] += 1
                    ws.transport.abort()
                    return
                await ws.send('{"type":"ping"}')
                self.stats["ping"] += 1

    # --- frames ---------------------------------------------------------------------------

    async def _on_ready(self, frame: dict[str, Any]) -> None:
        ready = parse_event(frame)
        if not isinstance(ready, Ready):  # pragma: no cover (parse_event maps "ready" to Ready)
            raise TypeError(ready)
        self.ready = ready
        self.user = ready.user
        self.heartbeat = ready.heartbeat_interval
        self.stats["ready"] += 1
        listed = {summary.id for summary in ready.conversations}
        for gone in [c for c in self._streams if c not in listed]:
            del self._streams[gone]
            self.conversations.pop(gone, None)
            self._emit(ConversationLeft({"type": "conversation_left"}, gone, "gone"))
        self._emit(ready)
        for summary in ready.conversations:
            self.conversations[summary.id] = summary
            stream = self._streams.get(summary.id)
            if stream is None:
                floor = self._positions.get(summary.id)
                if floor is None:
                    floor = summary.joined_seq if self.backfill else summary.last_seq
                stream = self._streams[summary.id] = _Stream(
                    max(floor, summary.joined_seq), summary.last_change_seq
                )
            if summary.last_seq > stream.contiguous or stream.above:
                await self._sync(summary.id, stream)
            elif stream.waiters:  # a catch_up() from before the reconnect: nothing is newer
                self._wake(stream)
            if summary.last_change_seq > stream.change_seq:
                await self._changes(summary.id, stream)

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        if self.on_frame is not None:
            self.on_frame(frame)
        kind = frame.get("type")
        if kind == "message":
            await self._on_message(frame)
        elif kind == "ack":
            self._on_ack(frame)
        elif kind == "sync_done":
            await self._on_sync_done(frame)
        elif kind == "pong":
            return
        elif kind == "error":
            self._on_error(frame)
        elif kind in CHANGE_FRAMES:
            stream = self._streams.get(frame.get("conversation", 0))
            change_seq = frame.get("change_seq")
            if stream is not None and change_seq is not None and change_seq > stream.change_seq:
                stream.change_seq = change_seq
            self._emit(parse_event(frame))
        elif kind == "changes_done":
            await self._on_changes_done(frame)
        elif kind == "resync":
            stream = self._stream(frame["conversation"], 0)
            self.stats["resync"] += 1
            await self._sync(frame["conversation"], stream)
        elif kind == "conversation":
            event = parse_event(frame)
            if not isinstance(event, ConversationAdded):  # pragma: no cover
                raise TypeError(event)
            summary = event.conversation
            self.conversations[summary.id] = summary
            stream = self._streams.get(summary.id)
            if stream is None:
                stream = self._streams[summary.id] = _Stream(
                    summary.joined_seq, summary.last_change_seq
                )
            elif summary.joined_seq > stream.contiguous:
                stream.contiguous = summary.joined_seq
            self._emit(event)
            if summary.last_seq > stream.contiguous:
                await self._sync(summary.id, stream)
        elif kind == "conversation_left":
            self._streams.pop(frame["conversation"], None)
            self.conversations.pop(frame["conversation"], None)
            self._emit(parse_event(frame))
        elif kind in ("ephemeral", "command_done"):
            event = parse_event(frame)
            pending = self.pending.pop(frame.get("ref") or "", None)
            if pending is not None and not pending.future.done():
                pending.future.set_result(event)
            self._emit(event)
        else:
            self._emit(parse_event(frame))

    def _stream(self, conversation: int, floor: int) -> _Stream:
        stream = self._streams.get(conversation)
        if stream is None:
            stream = self._streams[conversation] = _Stream(floor)
        return stream

    async def _on_message(self, frame: dict[str, Any]) -> None:
        conversation, seq = frame["conversation"], frame["seq"]
        stream = self._streams.get(conversation)
        if stream is None:
            stream = self._streams[conversation] = _Stream(seq - 1)
        above = stream.above
        if seq == stream.contiguous + 1 and not above:
            stream.contiguous = seq  # the common case: the next one
        elif seq <= stream.contiguous or (above and seq in above):
            self.stats["duplicate_frames"] += 1
            return
        else:
            if above is None:
                above = stream.above = set()
            above.add(seq)
            contiguous = stream.contiguous
            while contiguous + 1 in above:
                contiguous += 1
                above.discard(contiguous)
            stream.contiguous = contiguous
            if not above:
                stream.above = None
        if self._handlers or self._queue is not None:
            self._emit(Message.from_dict(frame))
        if stream.above and not stream.syncing:
            self.stats["gaps"] += 1
            await self._sync(conversation, stream)

    async def _sync(self, conversation: int, stream: _Stream) -> None:
        if stream.syncing:
            stream.again = True
            return
        ws = self.ws
        if ws is None:
            return  # the next ready syncs
        stream.syncing = True
        stream.again = False
        self.stats["syncs"] += 1
        with contextlib.suppress(ConnectionClosed, OSError):
            await ws.send(
                json.dumps(
                    {"type": "sync", "conversation": conversation, "after_seq": stream.contiguous}
                )
            )

    async def _on_sync_done(self, frame: dict[str, Any]) -> None:
        stream = self._streams.get(frame["conversation"])
        if stream is None:
            return
        stream.syncing = False
        if not frame["has_more"]:
            # Everything stored up to last_seq has been sent before this frame.
            contiguous = max(stream.contiguous, frame["last_seq"])
            above = stream.above
            if above:
                above.difference_update([s for s in above if s <= contiguous])
                while contiguous + 1 in above:
                    contiguous += 1
                    above.discard(contiguous)
                if not above:
                    stream.above = None
            stream.contiguous = contiguous
        if frame["has_more"] or stream.above or stream.again:
            await self._sync(frame["conversation"], stream)
        elif stream.waiters:
            self._wake(stream)

    def _wake(self, stream: _Stream) -> None:
        for waiter in stream.waiters or ():
            if not waiter.done():
                waiter.set_result(None)
        stream.waiters = None

    async def _changes(self, conversation: int, stream: _Stream) -> None:
        ws = self.ws
        if ws is None or stream.changing:
            return
        stream.changing = True
        self.stats["changes"] += 1
        with contextlib.suppress(ConnectionClosed, OSError):
            await ws.send(
                json.dumps(
                    {
                        "type": "changes",
                        "conversation": conversation,
                        "after_change_seq": stream.change_seq,
                    }
                )
            )

    async def _on_changes_done(self, frame: dict[str, Any]) -> None:
        stream = self._streams.get(frame["conversation"])
        if stream is None:
            return
        stream.changing = False
        stream.change_seq = max(stream.change_seq, frame["last_change_seq"])
        if frame["has_more"]:
            await self._changes(frame["conversation"], stream)

    def _on_ack(self, frame: dict[str, Any]) -> None:
        if frame.get("duplicate"):
            self.stats["ack_duplicate"] += 1
        pending = self.pending.pop(frame["client_msg_id"], None)
        if pending is None:
            self.stats["late_acks"] += 1  # a resend's second answer
            return
        if not pending.future.done():
            pending.future.set_result(Ack.from_dict(frame, time.time()))

    def _on_error(self, frame: dict[str, Any]) -> None:
        ref = frame.get("ref")
        pending = self.pending.get(ref) if ref else None
        if pending is None:
            self._emit(parse_event(frame))
            return
        code = frame.get("code", "")
        if code in RETRY_CODES:
            pending.retries += 1
            self.stats["retries"] += 1
            delay = float(frame.get("retry_after") or 0) or min(
                self.backoff_cap, 2.0 ** min(pending.retries - 1, 8)
            ) * self.rng.uniform(0.5, 1.0)
            self._retry_later(delay, pending)
            return
        del self.pending[pending.client_msg_id]
        if not pending.future.done():
            pending.future.set_exception(
                ParleyError(
                    code,
                    frame.get("detail", ""),
                    field=frame.get("field"),
                    request_id=frame.get("request_id"),
                    body=frame,
                )
            )
