"""The fault suite's client: the Python SDK (parley_client, clients/python) with a record of
everything it sees, so a scenario can assert on it and print it.

The SDK keeps Parley's promise on the client's side, as docs/protocol.md ("Resume after a
reconnect") asks of every client: it drops repeats by seq, `sync`s on a gap, on `resync` and
after every `ready`, resends every unacknowledged `send` with the same `client_msg_id` (after a
reconnect, and after an `unavailable` / `server_error` / `rate_limited` answer), and reconnects
with jittered exponential backoff, rotating over the server URLs it was given (a dead process's
clients land on the other one).

`ChatClient` adds what the scenarios check: every message it holds by (conversation, seq), its
acks and their latency, error codes, and two messages at one seq (which must never happen).
"""

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from parley_client import Ack, Client, Message, Ready, Session
from parley_client import PendingSend as Outgoing

RETRYABLE = {"unavailable", "server_error", "rate_limited"}


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
        # backfill: a member's view must equal the database from its join on (check_views).
        self.sdk = Client(
            self.urls,
            self.token,
            backfill=True,
            preferred=self.preferred,
            backoff_base=self.backoff_base,
            backoff_cap=self.backoff_cap,
            rng=self.rng,
            on_frame=self._on_frame,
        )
        self.sdk.on(self._on_event)
        self.held: dict[int, dict[int, dict[str, Any]]] = {}
        self.highest: dict[int, int] = {}
        self.acks: dict[str, dict[str, Any]] = {}
        self.ack_latency: list[float] = []
        self.errors: Counter[str] = Counter()
        self.counts: Counter[str] = self.sdk.stats  # the SDK's counters, and the frames seen
        self.ready_at: float | None = None
        self._acked = asyncio.Event()

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        self.sdk.start()

    async def stop(self) -> None:
        await self.sdk.close()

    def drop(self) -> None:
        """Cuts the TCP connection without a close frame (as a network failure would)."""
        self.sdk.drop()

    @property
    def connected(self) -> asyncio.Event:
        return self.sdk.connected

    @property
    def ws(self) -> Any:
        return self.sdk.ws

    @property
    def sessions(self) -> list[Session]:
        return self.sdk.sessions

    @property
    def connect_failures(self) -> int:
        return self.sdk.connect_failures

    @property
    def heartbeat(self) -> float:
        return self.sdk.heartbeat

    @property
    def syncing(self) -> set[int]:
        return self.sdk.syncing

    @property
    def outgoing(self) -> dict[str, Outgoing]:
        """Sends not acknowledged yet (the SDK resends them)."""
        return self.sdk.pending

    def unexpected_closes(self) -> list[Session]:
        return self.sdk.unexpected_closes()

    # --- what it sees ---------------------------------------------------------------------

    def _on_frame(self, frame: dict[str, Any]) -> None:
        """Every frame, before the SDK handles it: counted; errors by code; a second message
        at a seq already held (the SDK drops it as a repeat) checked for another id."""
        kind = frame.get("type")
        self.counts[f"frame:{kind}"] += 1
        if kind == "message":
            held = self.held.get(frame["conversation"])
            if (
                held is not None
                and frame["seq"] in held
                and held[frame["seq"]]["id"] != frame["id"]
            ):
                self.counts["conflicting_frames"] += 1  # two messages at one seq: never
        elif kind == "error":
            self.errors[frame["code"]] += 1

    def _on_event(self, event: Any) -> None:
        if type(event) is Message:
            conversation, seq = event.conversation, event.seq
            held = self.held.setdefault(conversation, {})
            held[seq] = event.raw
            highest = self.highest.setdefault(conversation, 0)
            if seq > highest:
                while highest + 1 in held:
                    highest += 1
                self.highest[conversation] = highest
        elif type(event) is Ready:
            self.ready_at = time.monotonic()
            for summary in event.conversations:
                self.held.setdefault(summary.id, {})
                self.highest.setdefault(summary.id, summary.joined_seq)

    # --- sending --------------------------------------------------------------------------

    async def room(self, window: int) -> None:
        """Waits until fewer than `window` messages are unacknowledged."""
        while len(self.outgoing) >= window:
            self._acked.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acked.wait(), 1.0)

    async def send(self, conversation: int, client_msg_id: str, body: str) -> None:
        """Queues a message; the SDK (re)sends it until acknowledged."""
        started = time.monotonic()
        future = await self.sdk.submit(conversation, body, client_msg_id=client_msg_id)

        def acked(done: "asyncio.Future[Ack]") -> None:
            self._acked.set()
            if done.cancelled() or done.exception() is not None:
                return
            ack = done.result()
            if ack.client_msg_id not in self.acks:
                self.acks[ack.client_msg_id] = ack.raw
                self.ack_latency.append(time.monotonic() - started)

        future.add_done_callback(acked)

    # --- what it holds --------------------------------------------------------------------

    def view(self, conversation: int) -> list[tuple[int, str]]:
        """(seq, id) of every held message of the conversation, in seq order."""
        return [(s, f["id"]) for s, f in sorted(self.held.get(conversation, {}).items())]


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
