"""A reference client for the fault suite: a real WebSocket client that keeps Parley's promise
on its side, as docs/protocol.md ("Resume after a reconnect") asks of every client.

- It holds, per conversation, the messages it has by `seq` and drops repeats.
- A `message` whose seq skips past what it holds is a gap: it `sync`s from its highest
  contiguous seq (so do `resync` frames and a `ready` whose `last_seq` is above it).
- It resends every unacknowledged `send` with the same `client_msg_id` after a reconnect, and
  after an `unavailable` / `server_error` / `rate_limited` answer.
- A closed socket reconnects with jittered exponential backoff, rotating over the server URLs
  it was given (a dead process's clients land on the other one).

Everything it sees is counted, so a scenario can assert on it and print it.
"""

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import websockets

RETRYABLE = {"unavailable", "server_error", "rate_limited"}


@dataclass
class Outgoing:
    conversation: int
    client_msg_id: str
    body: str
    first_sent: float = 0.0
    attempts: int = 0


@dataclass
class Session:
    """One connection's life: when it opened, how it ended."""

    url: str
    opened: float
    closed: float | None = None
    code: int | None = None
    by_client: bool = False


@dataclass
class ChatClient:
    name: str
    token: str
    urls: list[str]
    preferred: int = 0
    backoff_base: float = 0.2
    backoff_cap: float = 5.0
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.held: dict[int, dict[int, dict[str, Any]]] = {}
        self.highest: dict[int, int] = {}
        self.syncing: set[int] = set()
        self.outgoing: dict[str, Outgoing] = {}
        self.acks: dict[str, dict[str, Any]] = {}
        self.ack_latency: list[float] = []
        self.errors: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.sessions: list[Session] = []
        self.connect_failures = 0
        self.ws: Any = None
        self.connected = asyncio.Event()
        self.ready_at: float | None = None
        self.heartbeat = 25.0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._retry_tasks: set[asyncio.Task[None]] = set()
        self._acked = asyncio.Event()

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"client-{self.name}")

    async def stop(self) -> None:
        self._stopping = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for task in list(self._retry_tasks):
            task.cancel()

    def drop(self) -> None:
        """Cuts the TCP connection without a close frame (as a network failure would)."""
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.transport.abort()

    async def _run(self) -> None:
        attempt = 0
        index = self.preferred
        while not self._stopping:
            url = self.urls[index % len(self.urls)]
            try:
                ws = await websockets.connect(
                    f"{url}/ws/?token={self.token}",
                    max_size=None,
                    ping_interval=None,
                    open_timeout=30,
                    close_timeout=2,
                )
            except (OSError, websockets.InvalidHandshake, TimeoutError):
                self.connect_failures += 1
                index += 1  # try the next server
                attempt += 1
                await asyncio.sleep(self._backoff(attempt))
                continue
            session = Session(url=url, opened=time.monotonic())
            self.sessions.append(session)
            try:
                await self._serve(ws)
            except websockets.ConnectionClosed:
                pass
            except (OSError, TimeoutError):
                pass
            finally:
                self.connected.clear()
                self.ws = None
                session.closed = time.monotonic()
                session.code = ws.close_code
                session.by_client = self._stopping
                self.syncing.clear()
            if self._stopping:
                return
            attempt = 1 if session.closed - session.opened > 5 else attempt + 1
            if session.code == 1006 or session.code is None:
                index += 1  # an abnormal close: the process may be gone
            await asyncio.sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^attempt)]."""
        return self.rng.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))

    async def _serve(self, ws: Any) -> None:
        ready = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if ready.get("type") != "ready":
            self.errors[f"handshake:{ready.get('type')}"] += 1
            await ws.close()
            return
        self.ws = ws
        self.ready_at = time.monotonic()
        self.heartbeat = float(ready["heartbeat_interval"])
        self.counts["ready"] += 1
        for summary in ready["conversations"]:
            conversation = summary["id"]
            self.held.setdefault(conversation, {})
            self.highest.setdefault(conversation, summary["joined_seq"])
            if summary["last_seq"] > self.highest[conversation]:
                await self._sync(conversation)
        self.connected.set()
        for outgoing in list(self.outgoing.values()):
            await self._transmit(outgoing)
        beat = asyncio.create_task(self._heartbeat(ws))
        try:
            async for raw in ws:
                await self._on_frame(json.loads(raw))
        finally:
            beat.cancel()

    async def _heartbeat(self, ws: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed, OSError):
            while True:
                await asyncio.sleep(self.heartbeat)
                await ws.send('{"type":"ping"}')
                self.counts["ping"] += 1

    # --- frames ---------------------------------------------------------------------------

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        self.counts[f"frame:{kind}"] += 1
        if kind == "message":
            await self._on_message(frame)
        elif kind == "sync_done":
            await self._on_sync_done(frame)
        elif kind == "ack":
            outgoing = self.outgoing.pop(frame["client_msg_id"], None)
            self._acked.set()
            if frame.get("duplicate"):
                self.counts["ack_duplicate"] += 1
            if frame["client_msg_id"] not in self.acks:
                self.acks[frame["client_msg_id"]] = frame
                if outgoing is not None:
                    self.ack_latency.append(time.monotonic() - outgoing.first_sent)
        elif kind == "error":
            self.errors[frame["code"]] += 1
            outgoing = self.outgoing.get(frame.get("ref") or "")
            if outgoing is not None and frame["code"] in RETRYABLE:
                delay = float(frame.get("retry_after") or 0) or 1.0
                self._later(delay, outgoing)
        elif kind == "resync":
            self.counts["resync"] += 1
            await self._sync(frame["conversation"])

    async def _on_message(self, frame: dict[str, Any]) -> None:
        conversation, seq = frame["conversation"], frame["seq"]
        held = self.held.setdefault(conversation, {})
        if seq in held:
            self.counts["duplicate_frames"] += 1
            if held[seq]["id"] != frame["id"]:
                self.counts["conflicting_frames"] += 1  # two messages at one seq: never
            return
        held[seq] = frame
        highest = self.highest.setdefault(conversation, 0)
        if seq <= highest:
            return  # below the client's floor (before it joined): ignored
        while highest + 1 in held:
            highest += 1
        self.highest[conversation] = highest
        if any(s > highest for s in held) and conversation not in self.syncing:
            self.counts["gaps"] += 1
            await self._sync(conversation)

    async def _sync(self, conversation: int) -> None:
        ws = self.ws
        if ws is None:
            return  # the next ready triggers it
        self.syncing.add(conversation)
        self.counts["syncs"] += 1
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(
                json.dumps(
                    {
                        "type": "sync",
                        "conversation": conversation,
                        "after_seq": self.highest.get(conversation, 0),
                    }
                )
            )

    async def _on_sync_done(self, frame: dict[str, Any]) -> None:
        conversation = frame["conversation"]
        self.syncing.discard(conversation)
        held = self.held.get(conversation, {})
        highest = self.highest.get(conversation, 0)
        behind = frame["last_seq"] > highest or any(s > highest for s in held)
        if frame["has_more"] or behind:
            await self._sync(conversation)

    # --- sending --------------------------------------------------------------------------

    async def room(self, window: int) -> None:
        """Waits until fewer than `window` messages are unacknowledged."""
        while len(self.outgoing) >= window:
            self._acked.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acked.wait(), 1.0)

    async def send(self, conversation: int, client_msg_id: str, body: str) -> None:
        """Queues a message; it is (re)sent until acknowledged."""
        outgoing = Outgoing(conversation, client_msg_id, body, first_sent=time.monotonic())
        self.outgoing[client_msg_id] = outgoing
        if self.connected.is_set():
            await self._transmit(outgoing)

    async def _transmit(self, outgoing: Outgoing) -> None:
        ws = self.ws
        if ws is None or outgoing.client_msg_id not in self.outgoing:
            return
        outgoing.attempts += 1
        self.counts["send_frames"] += 1
        with contextlib.suppress(websockets.ConnectionClosed, OSError):
            await ws.send(
                json.dumps(
                    {
                        "type": "send",
                        "conversation": outgoing.conversation,
                        "client_msg_id": outgoing.client_msg_id,
                        "body": outgoing.body,
                    }
                )
            )

    def _later(self, delay: float, outgoing: Outgoing) -> None:
        async def retry() -> None:
            await asyncio.sleep(delay)
            self.counts["retries"] += 1
            await self._transmit(outgoing)

        task = asyncio.create_task(retry())
        self._retry_tasks.add(task)
        task.add_done_callback(self._retry_tasks.discard)

    # --- what it holds --------------------------------------------------------------------

    def view(self, conversation: int) -> list[tuple[int, str]]:
        """(seq, id) of every held message of the conversation, in seq order."""
        return [(s, f["id"]) for s, f in sorted(self.held.get(conversation, {}).items())]

    def unexpected_closes(self) -> list[Session]:
        return [s for s in self.sessions if s.closed is not None and not s.by_client]


async def until(condition, *, within: float, what: str, step: float = 0.1) -> float:
    """Waits for condition() to hold; returns the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(step)
    return time.monotonic() - started


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"n": len(ordered), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)}


async def connect_gradually(clients, *, in_flight: int = 20) -> float:
    """Connects the clients with at most `in_flight` handshakes at a time (the first connect
    is set-up, not the storm under test); returns the seconds it took."""
    started = time.monotonic()
    gate = asyncio.Semaphore(in_flight)

    async def one(client) -> None:
        async with gate:
            client.start()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client.connected.wait(), 60)

    await asyncio.gather(*(one(c) for c in clients))
    try:
        await until(
            lambda: all(c.connected.is_set() for c in clients), within=60, what="every socket"
        )
    except AssertionError:
        ready = sum(c.connected.is_set() for c in clients)
        failures = sum(c.connect_failures for c in clients)
        codes = Counter(str(s.code) for c in clients for s in c.sessions if s.closed)
        raise AssertionError(
            f"{ready} of {len(clients)} sockets ready after {time.monotonic() - started:.0f} s;"
            f" {failures} failed handshakes, closes {dict(codes)}"
        ) from None
    return time.monotonic() - started
