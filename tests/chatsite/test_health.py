"""/healthz and /readyz: liveness touches nothing; readiness follows the database, the channel
layer and the cache, and comes back by itself when Redis does."""

import asyncio
import json
import os
import time
import urllib.error
import urllib.request

import pytest
import websockets
from django.test import AsyncClient

from tests.conftest import REAL_SERVICES, postgres_env_for_subprocess
from tests.factories import access_token, make_user
from tests.servers import daphne, free_port, redis_server


def test_healthz_answers_without_touching_anything(client):
    # No django_db mark: any database access here would raise, also for a session cookie
    # (the request log line must not look the session's user up).
    client.cookies["sessionid"] = "a-session-key"
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["X-Request-ID"]


@pytest.mark.django_db(transaction=True)
async def test_readyz_is_200_when_everything_answers():
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {
        "status": "ok",
        "checks": {"database": "ok", "channel_layer": "ok", "cache": "ok"},
    }


@pytest.mark.django_db(transaction=True)
async def test_readyz_is_503_naming_a_cache_that_does_not_answer(settings):
    # A cache on a closed port: only that check fails, and the answer says so.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["cache"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["channel_layer"] == "ok"
    assert "ConnectionError" in body["checks"]["cache"]


def readyz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for_status(port: int, status: int, *, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got, body = readyz(port)
        if got == status:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz stayed {got} {body}, expected {status}")
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_readyz_follows_redis_going_away_and_coming_back(tmp_path):
    redis_port = free_port()
    if REAL_SERVICES:
        env = postgres_env_for_subprocess()
    else:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["PARLEY_VAR_DIR"] = str(tmp_path / "var")  # SQLite answers SELECT 1 unmigrated
    env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    env["PARLEY_READYZ_TIMEOUT"] = "2"
    with redis_server(redis_port, tmp_path) as redis_process, daphne(env) as port:
        assert wait_for_status(port, 200)["status"] == "ok"
        redis_process.terminate()
        redis_process.wait(timeout=10)
        body = wait_for_status(port, 503)
        assert body["status"] == "unavailable"
        assert "channel_layer" in body["failed"] and "cache" in body["failed"]
        assert "database" not in body["failed"]
        with redis_server(redis_port, tmp_path):
            assert wait_for_status(port, 200)["checks"] == {
                "database": "ok",
                "channel_layer": "ok",
                "cache": "ok",
            }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_readyz_is_200_while_the_process_serves_sockets(tmp_path):
    """The channel-layer check shares the receive loop of the sockets' channels: with sockets
    connected (their receivers take turns on the layer's receive lock) it must still answer."""
    users = [make_user() for _ in range(3)]
    redis_port = free_port()
    env = postgres_env_for_subprocess()
    env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    env["PARLEY_READYZ_TIMEOUT"] = "2"

    async def connected_then_ready(port: int) -> None:
        sockets = [
            await websockets.connect(f"ws://127.0.0.1:{port}/ws/?token={access_token(u)}")
            for u in users
        ]
        for socket in sockets:
            assert json.loads(await socket.recv())["type"] == "ready"
        for _ in range(5):
            status, body = await asyncio.to_thread(readyz, port)
            assert (status, body["checks"]["channel_layer"]) == (200, "ok"), body
        for socket in sockets:
            await socket.close()

    with redis_server(redis_port, tmp_path), daphne(env) as port:
        asyncio.run(connected_then_ready(port))
