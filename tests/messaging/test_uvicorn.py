"""The WebSocket contract under uvicorn (the alternative ASGI server, docs/operations.md): a real
uvicorn process, real clients, PostgreSQL + Redis."""

import asyncio
import json
import tempfile

import pytest
import websockets

from tests.conftest import postgres_env_for_subprocess
from tests.factories import access_token, make_direct, make_user
from tests.servers import uvicorn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WAIT = 10


async def next_of(socket, frame_type: str) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=WAIT))
        if frame["type"] == frame_type:
            return frame


async def frames_until(socket, counts: dict[str, int]) -> dict[str, list[dict]]:
    """Reads until `counts[type]` frames of each type arrived; returns them by type."""
    seen: dict[str, list[dict]] = {frame_type: [] for frame_type in counts}
    while any(len(seen[t]) < n for t, n in counts.items()):
        frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=WAIT))
        if frame["type"] in seen:
            seen[frame["type"]].append(frame)
    return seen


async def close_code_of(socket) -> int | None:
    async def until_closed() -> None:
        while True:
            await asyncio.wait_for(socket.recv(), timeout=WAIT)

    with pytest.raises(websockets.ConnectionClosed) as closed:
        await until_closed()
    return closed.value.rcvd.code if closed.value.rcvd else None


def test_the_protocol_and_its_close_codes_hold_under_uvicorn():
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    token = access_token(alice)

    async def scenario(port: int) -> None:
        base = f"ws://127.0.0.1:{port}/ws/"

        # Handshake refusals: 4401 without credentials or with a bad token, 4403 for an Origin
        # that is not allowed.
        async with websockets.connect(base) as socket:
            assert await close_code_of(socket) == 4401
        async with websockets.connect(f"{base}?token=not-a-token") as socket:
            assert await close_code_of(socket) == 4401
        async with websockets.connect(
            f"{base}?token={token}", origin="https://evil.example"
        ) as socket:
            assert await close_code_of(socket) == 4403

        async with (
            websockets.connect(f"{base}?token={token}", origin="http://127.0.0.1") as on_a,
            websockets.connect(
                base, additional_headers={"Authorization": f"Bearer {access_token(bob)}"}
            ) as on_b,
        ):
            ready = await next_of(on_a, "ready")
            assert ready["user"]["id"] == alice.pk
            await next_of(on_b, "ready")
            for n in range(3):
                await on_a.send(
                    json.dumps(
                        {
                            "type": "send",
                            "conversation": direct.pk,
                            "client_msg_id": f"u{n}",
                            "body": f"over uvicorn {n}",
                        }
                    )
                )
            on_a_frames = await frames_until(on_a, {"ack": 3, "message": 3})
            assert sorted(a["client_msg_id"] for a in on_a_frames["ack"]) == ["u0", "u1", "u2"]
            # Live, in seq order, the sender's own socket included.
            assert [m["seq"] for m in on_a_frames["message"]] == [1, 2, 3]
            on_b_frames = await frames_until(on_b, {"message": 3})
            assert [m["seq"] for m in on_b_frames["message"]] == [1, 2, 3]
            await on_b.send(json.dumps({"type": "ping"}))
            await next_of(on_b, "pong")
            await on_b.send(json.dumps({"type": "sync", "conversation": direct.pk, "after_seq": 1}))
            synced = [(await next_of(on_b, "message"))["seq"] for _ in range(2)]
            done = await next_of(on_b, "sync_done")
            assert synced == [2, 3]
            assert done["last_seq"] == 3
            # Over Parley's frame limit: an error frame, the socket stays.
            await on_b.send(json.dumps({"type": "ping", "pad": "x" * 70_000}))
            assert (await next_of(on_b, "error"))["code"] == "too_large"
            # Over the transport limit (--ws-max-size 1 MiB, as daphne's): closed with 1009.
            await on_b.send("x" * (1024 * 1024 + 1))
            assert await close_code_of(on_b) == 1009

    with tempfile.TemporaryFile() as log:
        with uvicorn(postgres_env_for_subprocess(), stdout=log, stderr=log) as port:
            asyncio.run(scenario(port))
        log.seek(0)
        output = log.read().decode()
    # uvicorn logs every handshake with its query string: the token must not get through.
    assert "WebSocket /ws/" in output
    assert token not in output


def test_a_client_that_stops_reading_is_closed_1013_and_syncs_everything_after():
    """uvicorn's flow control (docs/operations.md): once the kernel's buffers toward a client
    that stopped reading are full, writes to it wait, its outbox fills, and Parley closes it
    with 1013; on reconnect a sync returns every message, none lost."""
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    env = {
        **postgres_env_for_subprocess(),
        "PARLEY_OUTBOX_LIMIT": "20",
        "PARLEY_RATE_WS_SEND": "100000/s:100000",
    }
    body = "x" * 3900
    total = 4000  # ~16 MB toward the reader: more than loopback's socket buffers hold

    async def scenario(port: int) -> None:
        base = f"ws://127.0.0.1:{port}/ws/"
        alice_url = f"{base}?token={access_token(alice)}"
        acked = 0
        async with (
            websockets.connect(alice_url, origin="http://127.0.0.1", max_size=None) as sender,
            # max_queue=1: the client library stops reading the TCP stream almost at once.
            # No keepalive pings of its own: a client that does not read cannot see the pong,
            # and on a loaded machine its ping timeout (1011) came before the server's 1013.
            websockets.connect(
                f"{base}?token={access_token(bob)}",
                max_queue=1,
                max_size=None,
                ping_interval=None,
            ) as reader,
        ):
            await next_of(reader, "ready")
            await next_of(sender, "ready")

            async def read_sender() -> None:
                nonlocal acked
                async for raw in sender:
                    if json.loads(raw)["type"] == "ack":
                        acked += 1
                        if acked == total:
                            return

            reading = asyncio.create_task(read_sender())
            for n in range(total):
                frame = {"type": "send", "conversation": direct.pk, "client_msg_id": f"s{n}"}
                await sender.send(json.dumps({**frame, "body": body}))
            await asyncio.wait_for(reading, timeout=120)
            # Only now does the reader read again: whatever is buffered, then the close.
            assert await close_code_of(reader) == 1013
        async with websockets.connect(f"{base}?token={access_token(bob)}", max_size=None) as again:
            await next_of(again, "ready")
            await again.send(
                json.dumps({"type": "sync", "conversation": direct.pk, "after_seq": 0})
            )
            seqs = []
            while True:
                frame = json.loads(await asyncio.wait_for(again.recv(), timeout=WAIT))
                if frame["type"] == "message":
                    seqs.append(frame["seq"])
                elif frame["type"] == "sync_done" and not frame["has_more"]:
                    break
                elif frame["type"] == "sync_done":
                    cursor = frame["last_seq"]
                    await again.send(
                        json.dumps({"type": "sync", "conversation": direct.pk, "after_seq": cursor})
                    )
            assert seqs == list(range(1, total + 1))

    with uvicorn(env) as port:
        asyncio.run(scenario(port))
