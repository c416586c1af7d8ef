"""Production settings pass Django's deployment checklist, and tokens never reach the logs."""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import urllib.request

import pytest
import websockets

from tests.conftest import postgres_env_for_subprocess
from tests.factories import PASSWORD
from tests.servers import ROOT, free_port, wait_http

APP = "chatsite.asgi:application"


def production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "DEBUG": "0",
            "HTTPS": "1",
            "SECRET_KEY": secrets.token_urlsafe(60),
            "ALLOWED_HOSTS": "chat.example.com",
            "CSRF_TRUSTED_ORIGINS": "https://chat.example.com",
            # Not contacted by `check`: only the configuration is examined.
            "DATABASE_URL": "postgres://parley@db.invalid:5432/parley",
            "REDIS_URL": "redis://redis.invalid:6379/0",
            **extra,
        }
    )
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_check_deploy_with_no_warnings():
    result = check_deploy(production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_does_flag_a_plain_http_configuration():
    result = check_deploy(production_env(HTTPS="0"))
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_tokens_never_appear_in_server_logs(tmp_path):
    """A real daphne at DEBUG log level: log in, refresh, open sockets with header and ?token=."""
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {**postgres_env_for_subprocess(), "LOG_LEVEL": "DEBUG"}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-v", "2", "-b", "127.0.0.1", "-p", str(port), APP],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/")
            secrets_seen = exercise_auth(port)
        finally:
            process.terminate()
            process.wait(timeout=10)
    text = log_path.read_text()
    assert "WSCONNECT" in text or "/ws/" in text, "the server did not log the sockets at all"
    for secret in secrets_seen:
        assert secret not in text
        # The signature part alone identifies a token too.
        assert secret.rsplit(".", 1)[-1] not in text


def exercise_auth(port: int) -> list[str]:
    base = f"http://127.0.0.1:{port}"

    def post(path: str, payload: dict) -> tuple[int, dict]:
        request = urllib.request.Request(  # noqa: S310 (loopback test server)
            base + path, json.dumps(payload).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    # Registered through the server: its password hasher, not the test suite's fast one.
    assert post("/api/auth/register/", {"username": "alice", "password": PASSWORD})[0] == 201
    status, tokens = post("/api/auth/token/", {"username": "alice", "password": PASSWORD})
    assert status == 200
    status, rotated = post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]})
    assert status == 200
    # A replayed (blacklisted) refresh and a failed login are logged as warnings: no token.
    assert post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]})[0] == 401
    assert post("/api/auth/token/", {"username": "alice", "password": "wrong-pass"})[0] == 401

    async def sockets() -> None:
        url = f"ws://127.0.0.1:{port}/ws/"
        async with websockets.connect(f"{url}?token={rotated['access']}") as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
        headers = {"Authorization": f"Bearer {tokens['access']}"}
        async with websockets.connect(url, additional_headers=headers) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
        async with websockets.connect(f"{url}?token={tokens['access']}x") as ws:
            await ws.wait_closed()
            assert ws.close_code == 4401

    asyncio.run(sockets())
    status, _ = post("/api/auth/logout/", {"refresh": rotated["refresh"]})
    assert status == 204
    return [tokens["access"], tokens["refresh"], rotated["access"], rotated["refresh"]]
