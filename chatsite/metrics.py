"""Parley's own Prometheus metrics, all defined here; features call the functions below.

Names and labels are documented in docs/operations.md ("Metrics"). Label values are always from
a small fixed set (never client input), so a misbehaving client cannot blow up the series count.

With several processes (daphne servers, Celery workers) on one host, set PROMETHEUS_MULTIPROC_DIR
in the environment of all of them: prometheus_client then keeps each process's values in files
there and `/metrics` on any process of the host reports the sum (gauges: the live processes'
sum). Without it (the embedded default), values live in this process's memory.
"""

import atexit
import logging
import os

from prometheus_client import Counter, Gauge, Histogram

from core import close_codes

logger = logging.getLogger(__name__)

# Seconds. 0.5 is a bucket boundary because the send SLO is "acked within 500 ms".
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0)

HANDSHAKE_OUTCOMES = ("accepted", "unauthorized", "forbidden", "rate_limited", "refused", "error")
# Close codes a refused handshake ends with (core/close_codes.py), and the heartbeat's.
HANDSHAKE_CLOSE_OUTCOMES = close_codes.HANDSHAKE_CLOSE_OUTCOMES
HEARTBEAT_TIMEOUT_CLOSE_CODE = close_codes.Close.HEARTBEAT_TIMEOUT

websocket_connections = Gauge(
    "parley_websocket_connections",
    "Live WebSocket connections past a successful handshake.",
    multiprocess_mode="livesum",
)
websocket_handshakes = Counter(
    "parley_websocket_handshakes",
    "WebSocket handshakes by outcome.",
    ["outcome"],
)
websocket_frames_in = Counter(
    "parley_websocket_frames_in",
    "Inbound WebSocket frames by type (a known frame type, 'unknown' or 'invalid').",
    ["type"],
)
websocket_error_frames = Counter(
    "parley_websocket_error_frames",
    "Error frames sent to clients, by error code.",
    ["code"],
)
messages_stored = Counter(
    "parley_messages_stored",
    "Messages stored (duplicates of a client_msg_id not counted), by conversation kind.",
    ["kind"],
)
ack_latency = Histogram(
    "parley_ack_latency_seconds",
    "From a send frame received to its ack sent on the socket.",
    buckets=LATENCY_BUCKETS,
)
send_batch_size = Histogram(
    "parley_send_batch_size",
    "WebSocket sends stored together in one transaction (group commit, gateway/batching.py).",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200),
)
fanout_latency = Histogram(
    "parley_fanout_latency_seconds",
    "From the after-commit publish of an event to the channel layer accepting it, by event.",
    ["event"],
    buckets=LATENCY_BUCKETS,
)
channel_layer_send_failures = Counter(
    "parley_channel_layer_send_failures",
    "Events the channel layer did not take (full channel, Redis error), by event and reason.",
    ["event", "reason"],
)
slow_socket_closes = Counter(
    "parley_websocket_slow_closes",
    "Sockets closed with 1013 because more live frames waited for them than PARLEY_OUTBOX_LIMIT.",
)
fanout_resubscribes = Counter(
    "parley_fanout_resubscribes",
    "Broken fan-out subscriptions renewed (the process's sockets then re-read from the database).",
)
realtime_loss_closes = Counter(
    "parley_realtime_loss_closes",
    "Sockets closed with 1012 because the realtime path may have lost their events, by reason.",
    ["reason"],
)
ratelimit_refusals = Counter(
    "parley_ratelimit_refusals",
    "Requests, frames or handshakes refused by a rate limit, by scope.",
    ["scope"],
)
presence_changes = Counter(
    "parley_presence_changes",
    "Users going online or offline, by the new status.",
    ["status"],
)
heartbeat_timeouts = Counter(
    "parley_heartbeat_timeouts",
    "Sockets closed by the server because they stopped heart-beating.",
)
push_notifications = Counter(
    "parley_push_notifications",
    "Offline push notifications by backend and outcome.",
    ["backend", "outcome"],
)
celery_task_duration = Histogram(
    "parley_celery_task_duration_seconds",
    "Run time of Celery tasks, by task name.",
    ["task"],
    buckets=TASK_BUCKETS,
)
celery_task_failures = Counter(
    "parley_celery_task_failures",
    "Celery tasks that raised, by task name.",
    ["task"],
)

# The process's PostgreSQL connection pool (chatsite/dbpool.py copies psycopg_pool's stats here
# every DB_POOL_STATS_INTERVAL seconds). Gauges add up over the host's live processes.
db_pool_connections = Gauge(
    "parley_db_pool_connections",
    "PostgreSQL connections the pool holds open (in use and idle).",
    multiprocess_mode="livesum",
)
db_pool_available = Gauge(
    "parley_db_pool_available_connections",
    "Pooled PostgreSQL connections idle, ready to hand out.",
    multiprocess_mode="livesum",
)
db_pool_max = Gauge(
    "parley_db_pool_max_connections",
    "Most PostgreSQL connections the pool may open (DB_POOL_MAX_SIZE).",
    multiprocess_mode="livesum",
)
db_pool_waiting = Gauge(
    "parley_db_pool_waiting_requests",
    "Threads waiting for a pooled connection right now.",
    multiprocess_mode="livesum",
)
db_pool_requests = Counter(
    "parley_db_pool_requests",
    "Connections asked of the pool (one per request or database hop that queries).",
)
db_pool_waits = Counter(
    "parley_db_pool_waits",
    "Requests for a connection that found none idle and had to wait.",
)
db_pool_wait_seconds = Counter(
    "parley_db_pool_wait_seconds",
    "Time spent waiting for a pooled connection, summed.",
)
db_pool_timeouts = Counter(
    "parley_db_pool_timeouts",
    "Requests for a connection that failed (none within DB_POOL_TIMEOUT): answered 503.",
)
db_pool_connect_errors = Counter(
    "parley_db_pool_connect_errors",
    "Failed attempts of the pool to open a PostgreSQL connection.",
)
db_pool_connections_lost = Counter(
    "parley_db_pool_connections_lost",
    "Pooled connections found broken by the health check and replaced.",
)


# --- what the gateway and the services call ---------------------------------------------------


def handshake(*, outcome: str) -> None:
    """One handshake's outcome (HANDSHAKE_OUTCOMES). The gateway counts the handshakes that
    reach the consumer; code that refuses one before it (e.g. in ASGI middleware) calls this."""
    websocket_handshakes.labels(outcome=outcome).inc()


def connection_opened() -> None:
    websocket_connections.inc()


def connection_closed() -> None:
    websocket_connections.dec()


def frame_received(*, frame_type: str) -> None:
    websocket_frames_in.labels(type=frame_type).inc()


def error_frame_sent(*, code: str) -> None:
    websocket_error_frames.labels(code=code).inc()


def message_stored(*, kind: str) -> None:
    messages_stored.labels(kind=kind).inc()


def send_batch_stored(size: int) -> None:
    send_batch_size.observe(size)


def ack_sent(*, seconds: float) -> None:
    ack_latency.observe(seconds)


def fanout_done(*, event: str, seconds: float) -> None:
    fanout_latency.labels(event=event).observe(seconds)


def channel_layer_send_failed(*, event: str, reason: str) -> None:
    channel_layer_send_failures.labels(event=event, reason=reason).inc()


def slow_socket_closed() -> None:
    slow_socket_closes.inc()


def fanout_resubscribed() -> None:
    fanout_resubscribes.inc()


REALTIME_LOSS_REASONS = ("redis_restarted",)


def realtime_loss_closed(*, reason: str) -> None:
    """One socket closed with 1012: `reason` one of REALTIME_LOSS_REASONS."""
    realtime_loss_closes.labels(reason=reason).inc()


# --- for the features built on other branches -------------------------------------------------


def ratelimit_refused(*, scope: str) -> None:
    """A rate limit refused something; `scope` is the limit's name (e.g. `ws_send`, `rest_write`,
    `handshake_ip`): a fixed set from settings, never client input."""
    ratelimit_refusals.labels(scope=scope).inc()


def presence_changed(*, status: str) -> None:
    """A user went `online` or `offline` (not a second tab: only real changes)."""
    presence_changes.labels(status=status).inc()


def heartbeat_timed_out() -> None:
    """Counted by the gateway itself when it closes a socket with 4408; do not call it again."""
    heartbeat_timeouts.inc()


def push_notified(*, backend: str, outcome: str) -> None:
    """One push notification attempt: `backend` e.g. `webhook`, `webpush`; `outcome` one of
    `sent`, `failed`, `retried`, `gone` (the endpoint no longer exists), `skipped`."""
    push_notifications.labels(backend=backend, outcome=outcome).inc()


def celery_task_finished(*, task: str, seconds: float) -> None:
    celery_task_duration.labels(task=task).observe(seconds)


def celery_task_failed(*, task: str) -> None:
    celery_task_failures.labels(task=task).inc()


def db_pool_observed(*, stats: dict[str, int]) -> None:
    """One reading of psycopg_pool's `pop_stats()`: gauges as they are now, counters since the
    last reading."""
    db_pool_connections.set(stats.get("pool_size", 0))
    db_pool_available.set(stats.get("pool_available", 0))
    db_pool_max.set(stats.get("pool_max", 0))
    db_pool_waiting.set(stats.get("requests_waiting", 0))
    db_pool_counted(stats=stats)


def db_pool_counted(*, stats: dict[str, int]) -> None:
    """The counters of one `pop_stats()` reading alone."""
    db_pool_requests.inc(stats.get("requests_num", 0))
    db_pool_waits.inc(stats.get("requests_queued", 0))
    db_pool_wait_seconds.inc(stats.get("requests_wait_ms", 0) / 1000)
    db_pool_timeouts.inc(stats.get("requests_errors", 0))
    db_pool_connect_errors.inc(stats.get("connections_errors", 0))
    db_pool_connections_lost.inc(stats.get("connections_lost", 0))


def multiprocess_dir() -> str | None:
    """The directory shared by this host's processes, when multiprocess mode is on."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def process_exited(pid: int | None = None) -> None:
    """Drops a finished process's live gauges from the shared directory (multiprocess mode)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]


# A server process that exits normally takes its live gauges with it (Celery's pool processes
# end without atexit; chatsite.celery handles them).
atexit.register(process_exited)
