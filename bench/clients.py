"""Simulated clients over real WebSockets: Parley's through the Python SDK (parley_client,
clients/python), the tutorial-style baseline's through its own two-line protocol.

A Parley socket here is the SDK's `Client` with one connection attempt and no reconnect (a
socket that fails or drops is counted, not healed behind the measurement's back); the SDK
applies the protocol's client rules (dedup by seq, `sync` on a gap), so a receiver sees each
message once, live or healed."""

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import websockets
from parley_client import Client as ParleyClient
from parley_client import ConnectionStopped, Message, ParleyError

BODY_PREFIX = "bench "
# What a send's future may fail with (a refusal, the socket gone, a timeout).
SEND_FAILURES = (TimeoutError, ParleyError, ConnectionStopped)


def stamp_body(sent_at: float, sender: int, n: int) -> str:
    return f"{BODY_PREFIX}{sent_at:.6f} {sender} {n}"


def read_stamp(body: str | None) -> tuple[float, int, int] | None:
    if not body or not body.startswith(BODY_PREFIX):
        return None
    _, sent_at, sender, n = body.split(" ")
    return float(sent_at), int(sender), int(n)


@dataclass(slots=True)
class Sent:
    """The baseline's answer to a send (it has no ack): when the frame was written."""

    received_at: float


class Client:
    """One socket. `on_message(body)` is called once for each chat message, in the order it
    arrives (live, or healed by `sync`). `send()` returns a future of the ack (`received_at`
    is when it arrived)."""

    def __init__(self, kind: str, ws_url: str, *, token: str | None = None, room: str = "bench"):
        self.kind = kind
        self.on_message: Callable[[str], None] | None = None
        self.sdk: ParleyClient | None = None
        self.ws: Any = None
        if kind == "parley":
            self.sdk = ParleyClient(ws_url, token, reconnect=False, open_timeout=120)
            self.sdk.on(self._event)
        else:
            self.uri = f"{ws_url}/ws/room/{room}/"
        self._reader: asyncio.Task[None] | None = None
        self._closed_code: int | None = None
        self._dropped = False

    def _event(self, event: Any) -> None:
        if self.on_message is not None and type(event) is Message:
            self.on_message(event.body)

    async def connect(self) -> None:
        if self.sdk is not None:
            await self.sdk.connect()
            return
        self.ws = await websockets.connect(
            self.uri, max_size=None, ping_interval=None, open_timeout=120, close_timeout=2
        )
        self._reader = asyncio.create_task(self._read_baseline())

    async def _read_baseline(self) -> None:
        try:
            async for raw in self.ws:
                if self.on_message:
                    self.on_message(json.loads(raw)["message"])
        except websockets.ConnectionClosed as closed:
            self._closed_code = closed.rcvd.code if closed.rcvd else None
        self._dropped = True

    @property
    def dropped(self) -> bool:
        """The server (or the network) ended the connection while the benchmark held it."""
        if self.sdk is not None:
            return bool(self.sdk.unexpected_closes())
        return self._dropped

    async def send(self, conversation: int, client_msg_id: str, body: str) -> "asyncio.Future[Any]":
        """Sends; the returned future resolves to the ack (baseline: at once)."""
        if self.sdk is not None:
            return await self.sdk.submit(conversation, body, client_msg_id=client_msg_id)
        await self.ws.send(json.dumps({"message": body}))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(Sent(time.time()))
        return future

    async def catch_up(self, conversation: int) -> None:
        """Parley only: syncs the conversation to its newest message; what was missing is
        delivered through `on_message`."""
        assert self.sdk is not None
        await self.sdk.catch_up(conversation, timeout=60)

    async def close(self) -> None:
        if self.sdk is not None:
            await self.sdk.close()
            return
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            await self.ws.close()


async def connect_all(clients: list[Client], *, concurrency: int = 200) -> list[Client]:
    """Connects with bounded concurrency; returns the clients that failed."""
    gate = asyncio.Semaphore(concurrency)
    failed: list[Client] = []

    async def one(client: Client) -> None:
        async with gate:
            try:
                await client.connect()
            except Exception:
                failed.append(client)

    await asyncio.gather(*(one(c) for c in clients))
    return failed
