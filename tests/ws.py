"""Helpers for driving the real ASGI application's WebSocket gateway in tests."""

import json
from typing import Any

from channels.testing import WebsocketCommunicator

from chatsite.asgi import application
from tests.factories import access_token

TIMEOUT = 3


def communicator_for(
    user=None, *, headers=None, path: str = "/ws/", client: str | None = None
) -> WebsocketCommunicator:
    """A not yet connected communicator; `client` is the peer address the server sees."""
    if headers is None:
        headers = [(b"authorization", f"Bearer {access_token(user)}".encode())] if user else []
    communicator = WebsocketCommunicator(application, path, headers=headers)
    if client is not None:
        communicator.scope["client"] = [client, 50000]
    return communicator


async def open_socket(
    user=None, *, headers=None, path: str = "/ws/", client: str | None = None
) -> WebsocketCommunicator:
    """Connects (bearer token for `user` unless headers are given) and returns the communicator."""
    communicator = communicator_for(user, headers=headers, path=path, client=client)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    return communicator


async def ready_socket(user, **kwargs) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """Connects and reads the ready frame."""
    communicator = await open_socket(user, **kwargs)
    ready = await communicator.receive_json_from(timeout=TIMEOUT)
    assert ready["type"] == "ready", ready
    return communicator, ready


# Frames that arrive whenever contacts come and go; `receive` passes over them unless asked for.
AMBIENT = {"presence"}


async def close_code(communicator: WebsocketCommunicator, wait: float = TIMEOUT) -> int:
    while True:
        output = await communicator.receive_output(timeout=wait)
        if output["type"] == "websocket.send" and json.loads(output["text"])["type"] in AMBIENT:
            continue
        assert output["type"] == "websocket.close", output
        return output.get("code", 1000)


async def receive(
    communicator: WebsocketCommunicator, frame_type: str | None = None, *, wait: float = TIMEOUT
) -> dict[str, Any]:
    while True:
        frame = await communicator.receive_json_from(timeout=wait)
        if frame["type"] in AMBIENT and frame_type not in AMBIENT:
            continue
        if frame_type is not None:
            assert frame["type"] == frame_type, frame
        return frame


async def receive_until(communicator: WebsocketCommunicator, frame_type: str) -> tuple[list, dict]:
    """Frames up to and including the first of `frame_type`: (the ones before, that one)."""
    before = []
    while True:
        frame = await receive(communicator)
        if frame["type"] == frame_type:
            return before, frame
        before.append(frame)


async def receive_nothing(communicator: WebsocketCommunicator, wait: float = 0.3) -> bool:
    """True when nothing but ambient frames (presence) arrives within `wait` seconds."""
    while not await communicator.receive_nothing(timeout=wait):
        frame = await communicator.receive_json_from(timeout=TIMEOUT)
        if frame["type"] not in AMBIENT:
            return False
    return True
