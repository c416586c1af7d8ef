"""Simulated clients speaking Parley's protocol (or the baseline's) over real WebSockets."""

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import websockets

BODY_PREFIX = "bench "


def stamp_body(sent_at: float, sender: int, n: int) -> str:
    return f"{BODY_PREFIX}{sent_at:.6f} {sender} {n}"


def read_stamp(body: str) -> tuple[float, int, int] | None:
    if not body.startswith(BODY_PREFIX):
        return None
    _, sent_at, sender, n = body.split(" ")
    return float(sent_at), int(sender), int(n)


class Client:
    """One socket. `on_message(body, frame)` is called for each delivered chat message."""

    def __init__(self, kind: str, ws_url: str, *, token: str | None = None, room: str = "bench"):
        self.kind = kind
        self.uri = (
            f"{ws_url}/ws/?token={token}" if kind == "parley" else f"{ws_url}/ws/room/{room}/"
        )
        self.ws: Any = None
        self.on_message: Callable[[str, dict], None] | None = None
        self.acks: dict[str, asyncio.Future[float]] = {}
        self.sync_waiters: dict[int, asyncio.Future[dict]] = {}
        self.synced: list[dict] = []
        self.heartbeat = 25.0
        self.closed_code: int | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        self.ws = await websockets.connect(
            self.uri, max_size=None, ping_interval=None, open_timeout=120, close_timeout=2
        )
        if self.kind == "parley":
            ready = json.loads(await self.ws.recv())
            if ready.get("type") != "ready":
                raise RuntimeError(f"expected ready, got {ready}")
            self.heartbeat = float(ready["heartbeat_interval"])
        self._tasks.append(asyncio.create_task(self._read()))
        if self.kind == "parley":
            self._tasks.append(asyncio.create_task(self._heartbeat()))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            await self.ws.send('{"type":"ping"}')

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if self.kind == "baseline":
                    if self.on_message:
                        self.on_message(frame["message"], frame)
                    continue
                kind = frame.get("type")
                if kind == "message":
                    if frame.get("_sync"):
                        continue
                    if self.sync_waiters.get(frame["conversation"]) is not None:
                        self.synced.append(frame)
                    elif self.on_message:
                        self.on_message(frame["body"], frame)
                elif kind == "ack":
                    waiter = self.acks.pop(frame["client_msg_id"], None)
                    if waiter and not waiter.done():
                        waiter.set_result(time.time())
                elif kind == "sync_done":
                    waiter = self.sync_waiters.pop(frame["conversation"], None)
                    if waiter and not waiter.done():
                        waiter.set_result(frame)
                elif kind == "error":
                    waiter = self.acks.pop(frame.get("ref") or "", None)
                    if waiter and not waiter.done():
                        waiter.set_exception(RuntimeError(frame["code"]))
        except websockets.ConnectionClosed as closed:
            self.closed_code = closed.rcvd.code if closed.rcvd else None

    async def send(self, conversation: int, client_msg_id: str, body: str) -> asyncio.Future[float]:
        """Sends; the returned future resolves to the ack's arrival time (baseline: at once)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if self.kind == "parley":
            self.acks[client_msg_id] = future
            await self.ws.send(
                json.dumps(
                    {
                        "type": "send",
                        "conversation": conversation,
                        "client_msg_id": client_msg_id,
                        "body": body,
                    }
                )
            )
        else:
            await self.ws.send(json.dumps({"message": body}))
            future.set_result(time.time())
        return future

    async def sync_all(self, conversation: int) -> list[dict]:
        """Every stored message of the conversation (Parley only), paging through sync."""
        after, out = 0, []
        while True:
            waiter: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
            self.sync_waiters[conversation] = waiter
            self.synced = []
            await self.ws.send(
                json.dumps({"type": "sync", "conversation": conversation, "after_seq": after})
            )
            done = await asyncio.wait_for(waiter, timeout=60)
            out.extend(self.synced)
            if not done["has_more"]:
                return out
            after = done["last_seq"]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
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
