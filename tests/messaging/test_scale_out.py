"""Scale-out: two real daphne processes with the realtime tier sharded over two Redis instances
(the shared one and a private one this test starts)."""

import asyncio
import json
import urllib.request
import uuid
from collections import defaultdict

import pytest
import redis
import redis.asyncio as aioredis
import websockets

from realtime.hub import shard_index
from tests.conftest import postgres_env_for_subprocess
from tests.factories import access_token, make_users
from tests.servers import daphne, free_port, redis_server

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GROUPS = 4  # at least two conversations on each shard
MESSAGES_PER_SENDER = 3
RECEIVE_TIMEOUT = 30.0


def test_a_group_spanning_two_processes_and_two_redis_shards_gets_every_message_once(
    settings, tmp_path
):
    users = make_users("owner", "ann", "ben", "cat", "dan", "eve")
    shared_url = settings.REDIS_URL
    private_port = free_port()
    private_url = f"redis://127.0.0.1:{private_port}/0"
    shards = [shared_url, private_url]
    prefix = f"scaleout{uuid.uuid4().hex[:8]}"
    env = postgres_env_for_subprocess()
    env.update(
        {
            "REDIS_SHARD_URLS": ",".join(shards),
            "PARLEY_FANOUT_PREFIX": prefix,
            "CHANNEL_LAYER_PREFIX": prefix,
            "PARLEY_RATE_WS_SEND": "100/s:100",
            "PARLEY_RATE_REST_WRITE": "100/s:100",
        }
    )

    async def scenario(ports: list[int]) -> None:
        # Every publish on either shard, as the shard saw it.
        carried: dict[int, list[tuple[int, dict]]] = {0: [], 1: []}
        watchers = [aioredis.from_url(url) for url in shards]
        pubsubs = [w.pubsub(ignore_subscribe_messages=True) for w in watchers]
        for pubsub in pubsubs:
            await pubsub.psubscribe(f"{prefix}.conv.*")

        async def watch(index: int) -> None:
            while True:
                message = await pubsubs[index].get_message(timeout=1.0)
                if message is not None and message["type"] == "pmessage":
                    conversation = int(message["channel"].rsplit(b".", 1)[1])
                    carried[index].append((conversation, json.loads(message["data"])))

        watch_tasks = [asyncio.create_task(watch(i)) for i in (0, 1)]

        # Members alternate between the two processes; the owner's REST calls go to the first.
        sockets = {}
        for n, user in enumerate(users):
            url = f"ws://127.0.0.1:{ports[n % 2]}/ws/?token={access_token(user)}"
            sockets[user.pk] = await websockets.connect(url)
        frames: dict[int, list[dict]] = defaultdict(list)
        ready: dict[int, asyncio.Event] = defaultdict(asyncio.Event)

        async def read(user_id: int) -> None:
            async for raw in sockets[user_id]:
                frame = json.loads(raw)
                frames[user_id].append(frame)
                if frame["type"] == "ready":
                    ready[user_id].set()

        readers = [asyncio.create_task(read(pk)) for pk in sockets]
        for pk in sockets:
            await asyncio.wait_for(ready[pk].wait(), RECEIVE_TIMEOUT)

        # Groups created while everyone is connected: the `conversation` frames travel on the
        # sharded channel layer (user groups hash to either shard), then the sockets subscribe
        # to the new conversation on its fan-out shard.
        owner = users[0]
        groups: list[int] = []
        for attempt in range(40):
            if len(groups) == GROUPS:
                break
            body = {"name": f"g{attempt}", "members": [u.pk for u in users[1:]]}
            group_id = (await asyncio.to_thread(create_group, ports[0], owner, body))["id"]
            on_shard = [shard_index(g, 2) for g in groups].count(shard_index(group_id, 2))
            if on_shard < GROUPS // 2:
                groups.append(group_id)
        assert len(groups) == GROUPS
        assert {shard_index(g, 2) for g in groups} == {0, 1}

        def added(user_id: int) -> set[int]:
            return {f["conversation"]["id"] for f in frames[user_id] if f["type"] == "conversation"}

        await until(lambda: all(set(groups) <= added(pk) for pk in sockets), "conversation frames")
        # A member is subscribed once it has the `conversation` frame; on the shard of the
        # conversation each of the two processes holds one subscription, on the other none.
        for group_id in groups:
            channel = f"{prefix}.conv.{group_id}"
            home = shard_index(group_id, 2)
            await until(
                lambda c=channel, h=home: numsub(shards[h], c) == 2, f"subscriptions of {channel}"
            )
            assert numsub(shards[1 - home], channel) == 0

        # Every member sends into every group, from both processes at once.
        sent: dict[int, set[str]] = defaultdict(set)

        async def send_all(user) -> None:
            for group_id in groups:
                for k in range(MESSAGES_PER_SENDER):
                    client_msg_id = f"{user.username}-{group_id}-{k}"
                    sent[group_id].add(client_msg_id)
                    await sockets[user.pk].send(
                        json.dumps(
                            {
                                "type": "send",
                                "conversation": group_id,
                                "client_msg_id": client_msg_id,
                                "body": client_msg_id,
                            }
                        )
                    )

        await asyncio.gather(*(send_all(u) for u in users))
        expected = len(users) * MESSAGES_PER_SENDER

        def user_messages(user_id: int, group_id: int) -> list[dict]:
            return [
                f
                for f in frames[user_id]
                if f["type"] == "message" and f["conversation"] == group_id and f["sender"]
            ]

        await until(
            lambda: all(len(user_messages(pk, g)) >= expected for pk in sockets for g in groups),
            "every message on every socket",
        )
        await asyncio.sleep(1.0)  # a late duplicate would show up here

        for pk in sockets:
            assert not [f for f in frames[pk] if f["type"] in ("error", "resync")], frames[pk]
            for group_id in groups:
                live = [
                    f
                    for f in frames[pk]
                    if f["type"] == "message" and f["conversation"] == group_id
                ]
                seqs = [f["seq"] for f in live]
                assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), (pk, group_id, seqs)
                got = [f["client_msg_id"] for f in user_messages(pk, group_id)]
                assert sorted(got) == sorted(sent[group_id]), (pk, group_id)

        # Each conversation's events went through its own shard, and only there.
        for index in (0, 1):
            assert all(shard_index(c, 2) == index for c, _ in carried[index])
            chat = [
                e["event"]
                for c, e in carried[index]
                if c in groups and e["handler"] == "message" and e["event"]["sender"]
            ]
            assert len(chat) == expected * GROUPS // 2

        for task in [*readers, *watch_tasks]:
            task.cancel()
        await asyncio.gather(*readers, *watch_tasks, return_exceptions=True)
        for socket in sockets.values():
            await socket.close()
        for pubsub, watcher in zip(pubsubs, watchers, strict=True):
            await pubsub.aclose()
            await watcher.aclose()

    with (
        redis_server(private_port, tmp_path),
        daphne(env) as port_a,
        daphne(env) as port_b,
    ):
        asyncio.run(scenario([port_a, port_b]))


def numsub(url: str, channel: str) -> int:
    with redis.Redis.from_url(url) as client:
        return dict(client.pubsub_numsub(channel)).get(channel.encode(), 0)


async def until(condition, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECEIVE_TIMEOUT
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def create_group(port: int, owner, body: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/groups/",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {access_token(owner)}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=RECEIVE_TIMEOUT) as response:  # noqa: S310
        assert response.status == 201
        return json.loads(response.read())
