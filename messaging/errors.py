"""Errors the chat services raise; both transports turn them into their own error shape.

WebSocket: {"type": "error", "code": code, "detail": detail, "ref": ...}.
REST: HTTP `status` with {"code": code, "detail": detail, "field": field}.
"""


class ChatError(Exception):
    code = "bad_request"
    status = 400

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "detail": self.detail, "field": self.field}


class BadRequest(ChatError):
    code = "bad_request"
    status = 400


class Forbidden(ChatError):
    code = "forbidden"
    status = 403


class NotFound(ChatError):
    code = "not_found"
    status = 404


class Conflict(ChatError):
    code = "conflict"
    status = 409


class Unavailable(ChatError):
    code = "unavailable"
    status = 503


class EditWindowClosed(Forbidden):
    code = "edit_window_closed"
    status = 403


class MemberLimit(BadRequest):
    code = "member_limit"
    status = 400
