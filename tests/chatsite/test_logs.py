"""JSON logs: one object per line, ids to find a user's report by, and no secrets or bodies."""

import asyncio
import io
import json
import logging
import os
import urllib.request

import pytest
import websockets
from channels.db import database_sync_to_async as db
from django.test import AsyncClient

from chatsite.celery import app
from chatsite.logs import JsonFormatter, PlainFormatter
from tests.conftest import postgres_env_for_subprocess
from tests.factories import PASSWORD, access_token, make_direct, make_user
from tests.servers import daphne
from tests.ws import open_socket, receive, receive_until

BODY = "PLANTED-BODY-do-not-log-7f3a"
REST_BODY = "PLANTED-REST-BODY-c41e"


@pytest.fixture
def captured_logs():
    """Everything logged during the test, through Parley's JSON formatter, at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def lines_of(text: str) -> list[dict]:
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    for entry in entries:
        assert {"timestamp", "level", "event"} <= set(entry), entry
    return entries


def send_frame(conversation: int, client_msg_id: str, body: str) -> dict:
    return {
        "type": "send",
        "conversation": conversation,
        "client_msg_id": client_msg_id,
        "body": body,
    }


@pytest.mark.django_db(transaction=True)
async def test_a_session_leaves_json_lines_with_ids_and_no_secrets(captured_logs):
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    direct = await db(make_direct)(alice, bob)
    token = access_token(alice)

    socket = await open_socket(headers=[], path=f"/ws/?token={token}")
    await receive(socket, "ready")
    await socket.send_json_to(send_frame(direct.pk, "m-1", BODY))
    await receive_until(socket, "ack")
    await socket.send_json_to({"type": "send", "conversation": direct.pk, "body": BODY})
    _, error = await receive_until(socket, "error")
    await socket.disconnect()

    client = AsyncClient()
    login = await client.post(
        "/api/auth/token/",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
    )
    assert login.status_code == 200
    issued = login.json()
    me = await client.get(
        f"/api/me/?token={token}",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "report-42"},
    )
    assert me.status_code == 200
    assert me["X-Request-ID"] == "report-42"
    sent = await client.post(
        f"/api/conversations/{direct.pk}/messages/",
        {"client_msg_id": "r-1", "body": REST_BODY},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert sent.status_code == 201
    generated = sent["X-Request-ID"]
    assert generated and generated != "report-42"

    text = captured_logs.getvalue()
    for secret in (token, issued["access"], issued["refresh"], PASSWORD, BODY, REST_BODY):
        assert secret not in text
    entries = lines_of(text)

    # The error frame's request_id finds the log line, with who and where.
    frame_lines = [e for e in entries if e.get("request_id") == error["request_id"]]
    assert [e["event"] for e in frame_lines] == ["ws.frame", "ws.error"]
    logged_error = frame_lines[-1]
    assert logged_error["code"] == error["code"] == "bad_request"
    assert logged_error["user_id"] == alice.pk
    assert logged_error["conversation_id"] == direct.pk
    assert logged_error["connection_id"]
    [ack] = [e for e in entries if e["event"] == "ws.ack"]
    assert ack["conversation_id"] == direct.pk and ack["latency_ms"] >= 0
    assert ack["connection_id"] == logged_error["connection_id"]

    # The REST request id, offered or generated, is on the request's log line.
    [request] = [e for e in entries if e.get("request_id") == "report-42"]
    assert request["event"] == "http.request"
    assert request["path"] == "/api/me/"
    assert request["status"] == 200 and request["user_id"] == alice.pk
    assert request["latency_ms"] >= 0
    assert any(e.get("request_id") == generated and e["event"] == "http.request" for e in entries)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("debug", "allowed", "logged"), [(True, True, True), (False, True, False)])
async def test_bodies_are_logged_only_when_debug_allows_them(
    settings, captured_logs, debug, allowed, logged
):
    settings.DEBUG = debug
    settings.PARLEY_LOG_MESSAGE_BODIES = allowed
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    direct = await db(make_direct)(alice, bob)
    socket = await open_socket(alice)
    await receive(socket, "ready")
    await socket.send_json_to(send_frame(direct.pk, "m-1", BODY))
    await receive_until(socket, "ack")
    await socket.disconnect()
    frames = [e for e in lines_of(captured_logs.getvalue()) if e["event"] == "ws.frame"]
    assert frames and frames[0]["frame_type"] == "send"
    assert ("body" in frames[0]) is logged
    assert (BODY in captured_logs.getvalue()) is logged


@app.task(name="tests.logs.echo")
def echo(body: str) -> str:
    logging.getLogger("parley.test").info("echoing")
    return body


def test_celery_task_lines_carry_the_task_and_not_its_arguments(captured_logs):
    result = echo.apply(args=(BODY,))
    assert result.get() == BODY
    text = captured_logs.getvalue()
    assert BODY not in text
    [line] = [e for e in lines_of(text) if e["event"] == "echoing"]
    assert line["task_id"] == result.id and line["task"] == "tests.logs.echo"


def test_secrets_in_any_log_line_are_redacted(captured_logs):
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjo3fQ.c2lnbmF0dXJlLXNpZw"
    logger = logging.getLogger("parley.test")
    logger.info("GET /ws/?token=%s&x=1", "opaque-token-value")
    logger.info("header Authorization: Bearer %s", jwt)
    logger.warning("odd", extra={"password": "hunter2-pass", "token": jwt, "detail": jwt})
    text = captured_logs.getvalue()
    for secret in ("opaque-token-value", jwt, "hunter2-pass"):
        assert secret not in text
    first, second, third = lines_of(text)
    assert first["event"] == "GET /ws/?token=[redacted]&x=1"
    assert "Bearer [redacted]" in second["event"]
    assert "password" not in third and "token" not in third
    assert third["detail"] == "[redacted]"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_server_writes_only_clean_json_to_stdout(tmp_path):
    """daphne's own access log included: its request URIs would carry `?token=`."""
    alice, bob = make_user("alice"), make_user("bob")
    direct = make_direct(alice, bob)
    token = access_token(alice)
    env = postgres_env_for_subprocess()
    env.update(LOG_LEVEL="DEBUG", PYTHONUNBUFFERED="1")
    env.pop("LOG_FORMAT", None)
    stdout_path = tmp_path / "stdout.log"

    async def session(port: int) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/?token={token}") as socket:
            while json.loads(await socket.recv())["type"] != "ready":
                pass
            await socket.send(json.dumps(send_frame(direct.pk, "m-1", BODY)))
            while json.loads(await socket.recv())["type"] != "ack":
                pass

    with stdout_path.open("w") as stdout, daphne(env, stdout=stdout) as port:
        asyncio.run(session(port))
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/me/?token={token}",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 200
            request_id = response.headers["X-Request-ID"]

    text = stdout_path.read_text()
    assert token not in text and BODY not in text
    entries = lines_of(text)
    access = [e for e in entries if e.get("logger") == "daphne.access"]
    assert {"websocket.connected", "http.complete"} <= {e["event"] for e in access}
    assert all("?" not in e["path"] for e in access)
    assert any(e.get("request_id") == request_id and e["path"] == "/api/me/" for e in entries)
    assert any(e["event"] == "ws.ack" for e in entries)
    assert os.path.getsize(stdout_path) > 0


def test_the_plain_development_format_is_redacted_too():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PlainFormatter())
    logger = logging.getLogger("parley.test.plain")
    logger.addHandler(handler)
    try:
        logger.warning("HTTP GET /ws/?token=%s 101", "opaque-token-value")
    finally:
        logger.removeHandler(handler)
    assert "opaque-token-value" not in stream.getvalue()
    assert "/ws/?token=[redacted] 101" in stream.getvalue()
