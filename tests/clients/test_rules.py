"""The SDK's protocol rules, exactly, against a stand-in server that misbehaves on purpose
(the live-server tests in this directory show the same rules against Parley itself)."""

import asyncio
import json
import random

import websockets
from parley_client import Client, Message
from parley_client.policy import BACKOFF, REAUTH, SLOW, SOON, STOP, policy_for, reconnect_delay


def message(seq: int) -> str:
    return json.dumps(
        {"type": "message", "conversation": 5, "seq": seq, "id": str(seq), "body": f"m{seq}"}
    )


def test_close_codes_decide_whether_and_when_to_reconnect():
    assert policy_for(4403) == STOP
    assert policy_for(4401) == REAUTH
    assert policy_for(1001) == SOON
    assert policy_for(4429) == SLOW
    for code in (1006, 1011, 1012, 1013, 4408, None, 4999):
        assert policy_for(code) == BACKOFF
    rng = random.Random(7)
    assert all(0 <= reconnect_delay(1001, 9, base=0.5, cap=30, rng=rng) <= 2 for _ in range(50))
    assert all(5 <= reconnect_delay(4429, 1, base=0.5, cap=30, rng=rng) <= 6 for _ in range(50))
    delays = [reconnect_delay(1012, 20, base=0.5, cap=30, rng=rng) for _ in range(200)]
    assert max(delays) <= 30 and min(delays) < 15  # capped, and jittered from zero
    assert all(reconnect_delay(1006, 1, base=0.5, cap=30, rng=rng) <= 1 for _ in range(50))


async def test_a_seq_gap_is_healed_with_sync_and_nothing_is_delivered_twice():
    """Ready at seq 2, then live 3 and 5 (4 lost on the way), then 5 again: the client asks
    `sync` after seq 3 and gets 4 from it, delivering 3, 4, 5 once each."""
    syncs: list[dict] = []
    done = asyncio.Event()

    async def serve(ws) -> None:
        await ws.send(
            json.dumps(
                {
                    "type": "ready",
                    "user": {"id": 1, "username": "u"},
                    "conversations": [{"id": 5, "last_seq": 2, "joined_seq": 0}],
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
        client = Client(f"ws://127.0.0.1:{port}", "t")
        delivered: list[int] = []
        client.on(lambda e: delivered.append(e.seq) if isinstance(e, Message) else None)
        await client.connect(timeout=10)
        await asyncio.wait_for(done.wait(), timeout=10)
        await asyncio.sleep(0.2)
        await client.close()

    assert syncs == [{"type": "sync", "conversation": 5, "after_seq": 3}]
    assert delivered == [3, 5, 4]
    assert client.position(5) == 5
    assert client.stats["gaps"] == 1
    assert client.stats["duplicate_frames"] == 2  # the repeated live 5, and 5 again from sync


async def test_unacked_sends_are_resent_after_ready_with_the_same_client_msg_id():
    """The first connection swallows a send and drops; after the second ready the client
    syncs first, then resends the same frame, and the ack settles the send once."""
    connections: list[list[dict]] = []

    async def serve(ws) -> None:
        received: list[dict] = []
        connections.append(received)
        await ws.send(
            json.dumps(
                {
                    "type": "ready",
                    "user": {"id": 1, "username": "u"},
                    "conversations": [{"id": 5, "last_seq": 3 if len(connections) > 1 else 2}],
                    "heartbeat_interval": 25,
                }
            )
        )
        async for raw in ws:
            frame = json.loads(raw)
            received.append(frame)
            if frame["type"] == "send" and len(connections) == 1:
                ws.transport.abort()  # stored, but the ack is lost with the connection
                return
            if frame["type"] == "send":
                await ws.send(
                    json.dumps(
                        {
                            "type": "ack",
                            "client_msg_id": frame["client_msg_id"],
                            "conversation": 5,
                            "id": "3",
                            "seq": 3,
                            "duplicate": True,
                        }
                    )
                )

    async with websockets.serve(serve, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = Client(f"ws://127.0.0.1:{port}", "t", backoff_base=0.01, backoff_cap=0.05)
        await client.connect(timeout=10)
        ack = await asyncio.wait_for(client.send(5, "hi", client_msg_id="c-1"), 10)
        await client.close()

    assert ack.duplicate and ack.seq == 3
    first, second = connections[:2]
    assert [f["type"] for f in first] == ["send"]
    assert [f["type"] for f in second] == ["sync", "send"]
    assert second[0]["after_seq"] == 2
    assert first[0] == second[1]  # the same frame, the same client_msg_id
    assert not client.pending
