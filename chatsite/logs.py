"""Structured logs: one JSON object per line, with the request or connection they belong to.

Every record carries `timestamp`, `level`, `logger` and `event` (the message), plus the context
bound for the current request or socket (`request_id`, `connection_id`, `user_id`,
`conversation_id`) and any `extra={...}` fields. Secrets never reach the output: tokens, passwords
and `Authorization` values are redacted from every string, and message bodies are dropped unless
DEBUG and PARLEY_LOG_MESSAGE_BODIES are both on.
"""

import json
import logging
import re
import sys
import uuid
from collections.abc import Callable
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

from asgiref.sync import iscoroutinefunction
from daphne.access import AccessLogGenerator
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware
from django.utils.functional import SimpleLazyObject, empty

_context: ContextVar[dict[str, Any]] = ContextVar("parley_log_context", default={})  # noqa: B039

REDACTED = "[redacted]"
_SECRET_PARAM = re.compile(
    r"(?i)\b(token|access|refresh|password|passwd|secret|authorization|api_key)=[^&\s\"';,]*"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
# Keys whose values are never written, whatever they hold.
_SECRET_KEYS = {
    "password",
    "token",
    "access",
    "refresh",
    "authorization",
    "secret",
    "cookie",
    "query_string",
    # Celery's task log lines carry a task's arguments and result, which may hold user content.
    "args",
    "kwargs",
    "return_value",
}
_BODY_KEYS = {"body"}
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Paths polled by machines: their request lines go out at DEBUG, not INFO.
QUIET_PATHS = ("/healthz", "/readyz", "/metrics")

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _JWT.sub(REDACTED, text)


def new_id() -> str:
    return uuid.uuid4().hex


def bind(**fields: Any) -> Token[dict[str, Any]]:
    """Adds fields to the log context of the current request, socket or task."""
    return _context.set({**_context.get(), **fields})


def unbind(token: Token[dict[str, Any]]) -> None:
    _context.reset(token)


def current(name: str) -> Any:
    return _context.get().get(name)


def bodies_allowed() -> bool:
    return bool(settings.DEBUG and getattr(settings, "PARLEY_LOG_MESSAGE_BODIES", False))


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if str(k).lower() not in _SECRET_KEYS}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def timestamp(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _message(record: logging.LogRecord) -> str:
    """The record's message, with secret or user-content fields of mapping-style arguments
    hidden (Celery formats "... succeeded in %(runtime)ss: %(return_value)s" that way)."""
    args = record.args
    if isinstance(args, dict) and any(str(key).lower() in _SECRET_KEYS for key in args):
        hidden = {
            key: "[hidden]" if str(key).lower() in _SECRET_KEYS else value
            for key, value in args.items()
        }
        try:
            return str(record.msg) % hidden
        except (TypeError, ValueError, KeyError):
            return str(record.msg)
    return record.getMessage()


class JsonFormatter(logging.Formatter):
    """One JSON object per record; see the module docstring for the fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": redact(_message(record)),
        }
        for name, value in _context.get().items():
            if value is not None:
                entry[name] = value
        keep_bodies = bodies_allowed()
        for name, value in vars(record).items():
            if name in _RECORD_ATTRS or name.startswith("_"):
                continue
            lowered = name.lower()
            if lowered in _SECRET_KEYS or (lowered in _BODY_KEYS and not keep_bodies):
                continue
            entry[name] = _clean(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """Human-readable lines for development (LOG_FORMAT=plain), redacted like the JSON ones."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# --- HTTP requests ---------------------------------------------------------------------------

request_logger = logging.getLogger("parley.request")


def _request_id_from(request: HttpRequest) -> str:
    """The caller's X-Request-ID when it is a sane token (a proxy may set one), else a new id."""
    offered = request.headers.get("X-Request-ID", "")
    return offered if _REQUEST_ID.fullmatch(offered) else new_id()


def _known_user_id(request: HttpRequest) -> int | None:
    """The user a view already resolved; never a new session lookup just for the log line."""
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return None
    return user.pk if user is not None and user.is_authenticated else None


def _log_request(request: HttpRequest, response: HttpResponse, started: float) -> None:
    user_id = _known_user_id(request)
    status = response.status_code
    if request.path.startswith(QUIET_PATHS):
        level = logging.DEBUG
    else:
        level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    request_logger.log(
        level,
        "http.request",
        extra={
            "method": request.method,
            "path": request.path,  # never the query string: it may hold a token
            "status": status,
            "latency_ms": round((perf_counter() - started) * 1000, 2),
            "user_id": user_id,
        },
    )


@sync_and_async_middleware
def request_id_middleware(get_response: Callable[..., Any]) -> Callable[..., Any]:
    """Gives every request an id: bound to its logs, returned in the X-Request-ID header."""

    def begin(request: HttpRequest) -> tuple[float, Token[dict[str, Any]]]:
        request.request_id = _request_id_from(request)  # type: ignore[attr-defined]
        return perf_counter(), bind(request_id=request.request_id)  # type: ignore[attr-defined]

    def finish(request: HttpRequest, response: HttpResponse, started: float) -> HttpResponse:
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        _log_request(request, response, started)
        return response

    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            started, token = begin(request)
            try:
                return finish(request, await get_response(request), started)
            finally:
                unbind(token)

    else:

        def middleware(request: HttpRequest) -> HttpResponse:  # type: ignore[misc]
            started, token = begin(request)
            try:
                return finish(request, get_response(request), started)
            finally:
                unbind(token)

    return middleware


# --- daphne's access log ---------------------------------------------------------------------


class JsonAccessLog(AccessLogGenerator):  # type: ignore[misc]  # daphne is untyped
    """daphne's access log as JSON lines, without query strings (`?token=` must not be logged).

    daphne writes its access log (stdout by default) in NCSA format with the full request URI;
    `install_daphne_access_log` swaps in this class when Parley runs under daphne's command line.
    """

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        path = str(details.get("path") or "").split("?", 1)[0]
        entry: dict[str, Any] = {
            "timestamp": timestamp(datetime.now(tz=UTC).timestamp()),
            "level": "info",
            "logger": "daphne.access",
            "event": f"{protocol}.{action}",
            "client": details.get("client"),
            "path": redact(path),
        }
        if protocol == "http":
            if action != "complete":
                return
            entry.update(
                method=details.get("method"),
                status=details.get("status"),
                bytes=details.get("size"),
                latency_ms=round(float(details.get("time_taken") or 0) * 1000, 2),
            )
        self.stream.write(json.dumps(entry) + "\n")
        self.stream.flush()


def install_daphne_access_log() -> None:
    """Makes daphne's command line build JsonAccessLog (it creates its access logger after it
    has imported the ASGI application, so this runs in time when called from chatsite.asgi)."""
    cli = sys.modules.get("daphne.cli")
    if cli is not None:
        cli.AccessLogGenerator = JsonAccessLog  # type: ignore[attr-defined]


class RedactingFilter(logging.Filter):
    """Redacts a record's message in place, for loggers whose handlers are not Parley's."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def install_uvicorn_log_redaction() -> None:
    """uvicorn logs each handshake as `"WebSocket /ws/?token=..." [accepted]` on `uvicorn.error`
    through its own handlers (and its access log likewise): redact those records at the source.
    Harmless under daphne (the loggers stay unused)."""
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
