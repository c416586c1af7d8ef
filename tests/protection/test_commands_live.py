"""`manage.py blacklist|whitelist` run as its own process reaches a running server.

On both configurations: the command is a separate process from the daphne serving the test
(on the embedded default they share only the SQLite file), as when an operator runs it next to
`make run`. The server applies the change within PARLEY_IP_LISTS_REFRESH seconds.
"""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets

from tests.conftest import REAL_SERVICES, postgres_env_for_subprocess
from tests.servers import ROOT, daphne

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-passphrase-42"
REFRESH = "0.5"  # seconds: PARLEY_IP_LISTS_REFRESH of the server under test
# Generous, for two cores shared with other work; the change is due after REFRESH seconds.
DEADLINE = 15.0


def server_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """This run's configuration for a server and the commands run against it."""
    extra = {"PARLEY_IP_LISTS_REFRESH": REFRESH, **extra}
    if REAL_SERVICES:
        return {**postgres_env_for_subprocess(), **extra}
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        {
            **extra,
            "PARLEY_VAR_DIR": str(var_dir),  # its own SQLite file, shared by server and command
            "SECRET_KEY": "command-tests-only",
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        }
    )
    manage(env, "migrate", "--noinput")
    return env


def manage(env: dict[str, str], *args: str) -> str:
    """Runs `python manage.py <args>` as a process of its own; its output."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def call(
    port: int, method: str, path: str, body: dict | None = None, token: str = ""
) -> tuple[int, dict]:
    """One request to the live server: (status, JSON body)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def http(port: int, method: str, path: str, body: dict | None = None, token: str = "") -> int:
    return call(port, method, path, body, token)[0]


def register(port: int) -> tuple[str, str]:
    """A new account on the live server: (username, access token)."""
    username = f"ops{secrets.token_hex(3)}"
    credentials = {"username": username, "password": PASSWORD}
    assert http(port, "POST", "/api/auth/register/", credentials) == 201
    status, tokens = call(port, "POST", "/api/auth/token/", credentials)
    assert status == 200
    return username, tokens["access"]


def eventually(check, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {DEADLINE} s"
        time.sleep(0.1)


async def ready(socket) -> None:  # type: ignore[no-untyped-def]
    while json.loads(await asyncio.wait_for(socket.recv(), timeout=10))["type"] != "ready":
        pass


def test_blacklist_add_in_another_process_refuses_requests_and_closes_sockets(tmp_path):
    env = server_env(tmp_path)
    with daphne(env) as port:
        _, token = register(port)
        assert http(port, "GET", "/api/me/", token=token) == 200

        async def scenario() -> None:
            url = f"ws://127.0.0.1:{port}/ws/?token={token}"
            async with websockets.connect(url) as socket:
                await ready(socket)
                await asyncio.to_thread(
                    manage, env, "blacklist", "add", "127.0.0.1", "--reason", "test"
                )
                # The live socket is closed by the server, with no message to it.
                await asyncio.wait_for(socket.wait_closed(), timeout=DEADLINE)
                assert socket.close_code == 4403
            # The close can come first (on Redis the command also tells every process at once);
            # handshakes follow within the refresh interval.
            deadline = time.monotonic() + DEADLINE
            status = None
            while status is None:
                try:
                    async with websockets.connect(url):
                        pass
                except websockets.InvalidStatus as refused:
                    status = refused.response.status_code
                    continue
                assert time.monotonic() < deadline, f"handshakes not refused within {DEADLINE} s"
                await asyncio.sleep(0.2)
            assert status == 403

        asyncio.run(scenario())
        assert http(port, "GET", "/api/me/", token=token) == 403

        manage(env, "blacklist", "remove", "127.0.0.1")
        eventually(lambda: http(port, "GET", "/api/me/", token=token) == 200, "unblocked")


def test_whitelist_add_in_another_process_exempts_from_the_login_limit(tmp_path):
    env = server_env(tmp_path, PARLEY_RATE_LOGIN="3/h", PARLEY_RATE_REGISTER="100/m")
    with daphne(env) as port:
        username, _ = register(port)  # one login of the three
        wrong = {"username": username, "password": "not-the-password"}
        assert http(port, "POST", "/api/auth/token/", wrong) == 401
        assert http(port, "POST", "/api/auth/token/", wrong) == 401
        assert http(port, "POST", "/api/auth/token/", wrong) == 429

        manage(env, "whitelist", "add", "127.0.0.1", "--reason", "monitoring")
        right = {"username": username, "password": PASSWORD}
        eventually(lambda: http(port, "POST", "/api/auth/token/", right) == 200, "exempted")
        for _ in range(5):  # well past the limit: the whitelist exempts from it
            assert http(port, "POST", "/api/auth/token/", wrong) == 401

        manage(env, "whitelist", "remove", "127.0.0.1")
        eventually(lambda: http(port, "POST", "/api/auth/token/", wrong) == 429, "limited again")
