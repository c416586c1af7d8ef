"""The benchmark's client (the SDK underneath) follows the protocol's gap rule: a seq that skips
ahead makes it sync, and each message reaches the scenario once."""

import asyncio
import json

import websockets

from bench.clients import Client


def message(seq: int) -> str:
    return json.dumps(
        {"type": "message", "conversation": 5, "seq": seq, "id": str(seq), "body": f"m{seq}"}
    )


async def test_a_seq_gap_is_healed_with_sync_and_nothing_is_delivered_twice():
    """A stand-in server: ready at seq 2, then live 3 and 5 (4 lost on the way), then 5 again.
    The client must ask `sync` after seq 3 and get 4 from it, delivering 3, 4, 5 once each."""
    syncs: list[dict] = []
    done = asyncio.Event()

    async def serve(ws) -> None:
        await ws.send(
            json.dumps(
                {
                    "type": "ready",
                    "user": {"id": 1, "username": "u"},
                    "conversations": [{"id": 5, "last_seq": 2}],
                    "heartbeat_interval": 25,
                }
            )
        )
        await ws.send(message(3))
        await ws.send(message(5))
        await ws.send(message(5))
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "sync":
                syncs.append(frame)
                for seq in range(frame["after_seq"] + 1, 6):
                    await ws.send(message(seq))
                await ws.send(
                    json.dumps(
                        {"type": "sync_done", "conversation": 5, "last_seq": 5, "has_more": False}
                    )
                )
                done.set()

    async with websockets.serve(serve, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = Client("parley", f"ws://127.0.0.1:{port}", token="t")
        delivered: list[str] = []
        client.on_message = delivered.append
        await client.connect()
        await asyncio.wait_for(done.wait(), timeout=30)
        await asyncio.sleep(0.2)
        await client.close()

    assert syncs == [{"type": "sync", "conversation": 5, "after_seq": 3}]
    assert delivered == ["m3", "m5", "m4"]
    assert client.sdk.position(5) == 5
    assert client.sdk.stats["gaps"] == 1
    assert client.sdk.stats["duplicate_frames"] == 2  # the repeated live 5, and 5 from the sync
