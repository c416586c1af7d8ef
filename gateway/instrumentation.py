"""Metrics and logs of the WebSocket gateway, kept out of the consumer's own logic.

The consumer calls one method per moment of a socket's life: the handshake (`handshake_started`,
`handshake_done`), each inbound frame (`frame_started`, `frame_parsed`, `frame_done`), each
reply it puts in its outbox (`reply`), its close and its disconnect.

Per socket it binds `connection_id` and `user_id` to the log context; per inbound frame a fresh
`request_id` (echoed in error frames) and, when the frame names one, `conversation_id`.
"""

import logging
from contextvars import Token
from time import perf_counter
from typing import Any

from chatsite import logs, metrics
from core.close_codes import HANDSHAKE_CLOSE_OUTCOMES, Close

logger = logging.getLogger("parley.gateway")


class Instrumentation:
    def __init__(self) -> None:
        self.connection_id = logs.new_id()
        self.opened_at = perf_counter()
        # Set while an inbound frame is handled; error frames echo it.
        self.request_id: str | None = None
        self.frame_began: float | None = None
        self.frame_type = "invalid"
        self.close_code: int | None = None
        self.counted = False
        self.frame_token: Token[dict[str, Any]] | None = None

    def handshake_started(self) -> None:
        # The consumer runs as one task for the socket's life: this binding lasts as long.
        logs.bind(connection_id=self.connection_id)

    def handshake_failed(self) -> None:
        metrics.handshake(outcome="error")

    def handshake_done(self, user_id: int | None) -> None:
        if user_id is not None and self.close_code is None:
            metrics.handshake(outcome="accepted")
            metrics.connection_opened()
            self.counted = True
            logs.bind(user_id=user_id)
            logger.info("ws.connect")
        else:
            outcome = HANDSHAKE_CLOSE_OUTCOMES.get(self.close_code or 0, "refused")
            metrics.handshake(outcome=outcome)
            logger.info("ws.refused", extra={"close_code": self.close_code, "outcome": outcome})

    def frame_started(self) -> None:
        self.request_id = logs.new_id()
        self.frame_began = perf_counter()
        self.frame_type = "invalid"
        self.frame_token = logs.bind(request_id=self.request_id)

    def frame_parsed(self, frame_type: str, frame: dict[str, Any]) -> None:
        """The frame's type is known: a handled type or "unknown"."""
        self.frame_type = frame_type
        conversation = frame.get("conversation")
        if isinstance(conversation, int) and not isinstance(conversation, bool):
            logs.bind(conversation_id=conversation)  # undone when the frame is done
        if logger.isEnabledFor(logging.DEBUG):
            extra: dict[str, Any] = {"frame_type": frame_type}
            if logs.bodies_allowed() and "body" in frame:
                extra["body"] = frame["body"]  # DEBUG and PARLEY_LOG_MESSAGE_BODIES only
            logger.debug("ws.frame", extra=extra)

    def frame_done(self) -> None:
        if self.counted:
            metrics.frame_received(frame_type=self.frame_type)
        if self.frame_token is not None:
            logs.unbind(self.frame_token)
            self.frame_token = None
        self.request_id = None
        self.frame_began = None

    def reply(self, frame: dict[str, Any]) -> None:
        """A frame answering the client's: acks and errors are counted and logged."""
        kind = frame.get("type")
        if kind == "ack" and self.frame_began is not None:
            seconds = perf_counter() - self.frame_began
            metrics.ack_sent(seconds=seconds)
            logger.info(
                "ws.ack",
                extra={
                    "conversation_id": frame.get("conversation"),
                    "message_id": frame.get("id"),
                    "duplicate": frame.get("duplicate"),
                    "latency_ms": round(seconds * 1000, 2),
                },
            )
        elif kind == "error":
            metrics.error_frame_sent(code=str(frame.get("code")))
            logger.info(
                "ws.error", extra={"code": frame.get("code"), "detail": frame.get("detail")}
            )

    def closing(self, code: int | None) -> None:
        self.close_code = code
        if code == Close.HEARTBEAT_TIMEOUT:
            metrics.heartbeat_timed_out()

    def disconnected(self, code: int | None) -> None:
        if self.counted:
            self.counted = False
            metrics.connection_closed()
            logger.info(
                "ws.disconnect",
                extra={
                    "close_code": code if code is not None else self.close_code,
                    "duration_ms": round((perf_counter() - self.opened_at) * 1000, 2),
                },
            )
