"""The frame protocol (docs/protocol.md): parsing an inbound frame, checking its fields, and the
shape of the `error` frame. Error codes and their wording are core/errors.py's, close codes
core/close_codes.py's: one table each, shared with REST."""

import json
from typing import Any
from urllib.parse import parse_qs

from core.errors import BadRequest, WireError

MAX_ID = 2**63 - 1
# A client_msg_id longer than this is not echoed as an error's `ref`.
MAX_REF = 64


class TooLarge(BadRequest):
    code = "too_large"
    status = 413


def parse_frame(text_data: str | None, bytes_data: bytes | None, *, limit: int) -> dict[str, Any]:
    """The JSON object a text frame carries; BadRequest (or TooLarge) for anything else."""
    if bytes_data is not None:
        raise BadRequest("binary frames are not supported; send JSON text")
    text = text_data or ""
    if len(text) > limit or len(text.encode()) > limit:
        raise TooLarge(f"frames are limited to {limit} bytes")
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        raise BadRequest("malformed JSON") from None
    if not isinstance(frame, dict):
        raise BadRequest("a frame must be a JSON object")
    return frame


def frame_ref(frame: dict[str, Any]) -> str | None:
    """The frame's client_msg_id, echoed as `ref` in its error."""
    ref = frame.get("client_msg_id")
    return ref if isinstance(ref, str) and len(ref) <= MAX_REF else None


def unknown_type_detail(frame_type: object) -> str:
    if not isinstance(frame_type, str):
        return "missing or non-string type"
    return f"unknown type {frame_type[:40]!r}"


def error_frame(wire: WireError, *, ref: str | None, request_id: str | None) -> dict[str, Any]:
    """REST's error body as a frame: `ref` names the frame answered, `request_id` the log line;
    `field` is the frame field at fault (null when no one field is)."""
    return {"type": "error", **wire.body, "ref": ref, "request_id": request_id}


def int_field(
    frame: dict[str, Any], name: str, *, minimum: int = 0, required: bool = True
) -> int | None:
    value = frame.get(name)
    if value is None and not required:
        return None
    # bool is an int in Python; JSON true is not a number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"{name} must be an integer", field=name)
    if value < minimum or value > MAX_ID:
        raise BadRequest(f"{name} must be between {minimum} and {MAX_ID}", field=name)
    return value


def required_int(frame: dict[str, Any], name: str, *, minimum: int = 0) -> int:
    value = int_field(frame, name, minimum=minimum)
    assert value is not None  # noqa: S101 (required: int_field raised otherwise)
    return value


def message_id_field(frame: dict[str, Any], name: str = "id") -> int:
    """A message id: the string the server sends (or, leniently, a JSON integer)."""
    value = frame.get(name)
    # isascii: str.isdigit() also accepts digits int() refuses ("²").
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID:
        raise BadRequest(f"{name} must be a message id (a string of digits)", field=name)
    return value


def ready_since(scope: dict[str, Any]) -> str | None:
    """The `?since=` cursor of the socket's URL (docs/protocol.md): None when absent, else its
    value (maybe empty: "a cursor, please, and the full list")."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    since = values.get("since")
    return since[-1] if since else None
