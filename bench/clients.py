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
    """One socket. `on_message(body, frame)` is called once for each chat message, in the order
    it arrives (live, or healed by `sync`).

    Parley's client rule (docs/protocol.md, "Gaps"): per conversation the client keeps the
    highest seq up to which it holds every message; a live `message` whose seq skips past the
    next one means frames were lost on the way, so it sends `sync` from that seq, and drops
    any seq it already holds."""

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
        # Per conversation: every seq up to `contiguous` is held; `above` holds later ones.
        self.contiguous: dict[int, int] = {}
        self.above: dict[int, set[int]] = {}
        self.healing: set[int] = set()
        self.gap_syncs = 0
        self.duplicates = 0
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
            for summary in ready["conversations"]:
                self.contiguous[summary["id"]] = summary["last_seq"]
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
                    else:
                        await self._take(frame)
                elif kind == "conversation":
                    summary = frame["conversation"]
                    self.contiguous.setdefault(summary["id"], summary["joined_seq"])
                elif kind == "resync":
                    await self._heal(frame["conversation"])
                elif kind == "ack":
                    waiter = self.acks.pop(frame["client_msg_id"], None)
                    if waiter and not waiter.done():
                        waiter.set_result(time.time())
                elif kind == "sync_done":
                    waiter = self.sync_waiters.pop(frame["conversation"], None)
                    if waiter and not waiter.done():
                        waiter.set_result(frame)
                    elif frame["conversation"] in self.healing:
                        await self._healed(frame)
                elif kind == "error":
                    waiter = self.acks.pop(frame.get("ref") or "", None)
                    if waiter and not waiter.done():
                        waiter.set_exception(RuntimeError(frame["code"]))
        except websockets.ConnectionClosed as closed:
            self.closed_code = closed.rcvd.code if closed.rcvd else None

    async def _take(self, frame: dict) -> None:
        """One message frame, live or from a gap-healing sync: delivered once, gaps healed."""
        conversation, seq = frame["conversation"], frame["seq"]
        contiguous = self.contiguous.setdefault(conversation, seq - 1)
        above = self.above.setdefault(conversation, set())
        if seq <= contiguous or seq in above:
            self.duplicates += 1
            return
        above.add(seq)
        while contiguous + 1 in above:
            contiguous += 1
            above.discard(contiguous)
        self.contiguous[conversation] = contiguous
        if self.on_message:
            self.on_message(frame["body"], frame)
        if above:
            await self._heal(conversation)

    async def _heal(self, conversation: int) -> None:
        """Asks for what is missing after the contiguous seq (one sync at a time)."""
        if conversation in self.healing or conversation in self.sync_waiters:
            return
        self.healing.add(conversation)
        self.gap_syncs += 1
        after = self.contiguous.get(conversation, 0)
        await self.ws.send(
            json.dumps({"type": "sync", "conversation": conversation, "after_seq": after})
        )

    async def _healed(self, done: dict) -> None:
        conversation = done["conversation"]
        self.healing.discard(conversation)
        above = self.above.setdefault(conversation, set())
        if not done["has_more"]:
            # A complete sync: every stored message up to last_seq has been sent.
            contiguous = max(self.contiguous.get(conversation, 0), done["last_seq"])
            above.difference_update(range(min(above, default=0), contiguous + 1))
            while contiguous + 1 in above:
                contiguous += 1
                above.discard(contiguous)
            self.contiguous[conversation] = contiguous
        if done["has_more"] or above:
            await self._heal(conversation)

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
