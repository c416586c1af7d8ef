"""Metrics and logs of the WebSocket gateway, kept out of the consumer's own logic.

GatewayConsumer inherits this mixin first. It wraps channels' dispatch methods, so it sees every
handshake, inbound frame, outbound frame and close without the consumer calling it, except for
one hint: the consumer calls `note_frame` once it knows an inbound frame's type.

Per socket it binds `connection_id` and `user_id` to the log context; per inbound frame a fresh
`request_id` (echoed in error frames) and, when the frame names one, `conversation_id`.
"""

import logging
from time import perf_counter
from typing import Any

from chatsite import logs, metrics

logger = logging.getLogger("parley.gateway")


class GatewayInstrumentation:
    # Set while an inbound frame is handled; error frames echo it.
    request_id: str | None = None
    frame_started: float | None = None
    frame_type: str = "invalid"
    close_code: int | None = None
    counted = False

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.connection_id = logs.new_id()
        self.opened_at = perf_counter()
        # The consumer runs as one task for the socket's life: this binding lasts as long.
        logs.bind(connection_id=self.connection_id)
        try:
            await super().websocket_connect(message)  # type: ignore[misc]
        except Exception:
            metrics.handshake(outcome="error")
            raise
        user = getattr(self, "user", None)
        if user is not None and self.close_code is None:
            metrics.handshake(outcome="accepted")
            metrics.connection_opened()
            self.counted = True
            logs.bind(user_id=user.pk)
            logger.info("ws.connect")
        else:
            outcome = metrics.HANDSHAKE_CLOSE_OUTCOMES.get(self.close_code or 0, "refused")
            metrics.handshake(outcome=outcome)
            logger.info("ws.refused", extra={"close_code": self.close_code, "outcome": outcome})

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        self.request_id = logs.new_id()
        self.frame_started = perf_counter()
        self.frame_type = "invalid"
        token = logs.bind(request_id=self.request_id)
        try:
            await super().websocket_receive(message)  # type: ignore[misc]
        finally:
            if self.counted:
                metrics.frame_received(frame_type=self.frame_type)
            logs.unbind(token)
            self.request_id = None
            self.frame_started = None

    def note_frame(self, frame_type: str, frame: dict[str, Any]) -> None:
        """The consumer parsed a frame: `frame_type` is a handled type or "unknown"."""
        self.frame_type = frame_type
        conversation = frame.get("conversation")
        if isinstance(conversation, int) and not isinstance(conversation, bool):
            logs.bind(conversation_id=conversation)  # undone when the frame is done
        if logger.isEnabledFor(logging.DEBUG):
            extra: dict[str, Any] = {"frame_type": frame_type}
            if logs.bodies_allowed() and "body" in frame:
                extra["body"] = frame["body"]  # DEBUG and PARLEY_LOG_MESSAGE_BODIES only
            logger.debug("ws.frame", extra=extra)

    async def send_json(self, content: dict[str, Any], close: bool = False) -> None:
        kind = content.get("type")
        if kind == "ack" and self.frame_started is not None:
            seconds = perf_counter() - self.frame_started
            metrics.ack_sent(seconds=seconds)
            logger.info(
                "ws.ack",
                extra={
                    "conversation_id": content.get("conversation"),
                    "message_id": content.get("id"),
                    "duplicate": content.get("duplicate"),
                    "latency_ms": round(seconds * 1000, 2),
                },
            )
        elif kind == "error":
            metrics.error_frame_sent(code=str(content.get("code")))
            logger.info(
                "ws.error", extra={"code": content.get("code"), "detail": content.get("detail")}
            )
        await super().send_json(content, close)  # type: ignore[misc]

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        self.close_code = code
        if code == metrics.HEARTBEAT_TIMEOUT_CLOSE_CODE:
            metrics.heartbeat_timed_out()
        await super().close(code, reason)  # type: ignore[misc]

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        try:
            await super().websocket_disconnect(message)  # type: ignore[misc]
        finally:
            if self.counted:
                self.counted = False
                metrics.connection_closed()
                logger.info(
                    "ws.disconnect",
                    extra={
                        "close_code": message.get("code", self.close_code),
                        "duration_ms": round((perf_counter() - self.opened_at) * 1000, 2),
                    },
                )
