"""Parley settings, read once from the environment.

With nothing set, Parley runs on the embedded default: SQLite under var/, the in-memory channel
layer, the local-memory cache and eager Celery. DATABASE_URL and REDIS_URL switch it to
PostgreSQL, channels_redis, the Redis cache and Celery on Redis.
"""

import os
import secrets
import socket
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from . import redis_url
from .env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PARLEY_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in var/."""
    configured = env_str("SECRET_KEY")
    if configured:
        return configured
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_prometheus",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Before the apps: their start-up and code reach its Redis clients (chatsite/apps.py).
    "chatsite",
    "accounts",
    "messaging",
    "conversations",
    "groups",
    "presence",
    "moderation",
    "audit",
    "announcements",
    "push",
    "receipts",
    "search",
    "web",
    "protection",
    "realtime",
    "uploads",
    "previews",
    "integrations",
    "notifications",
    "lifecycle",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]

MIDDLEWARE = [
    # First: every response gets an X-Request-ID and every request one JSON log line.
    "chatsite.logs.request_id_middleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Then: a blacklisted address gets its 403 before any other work.
    "protection.middleware.AddressGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "web.middleware.ContentSecurityPolicyMiddleware",
    # The admin's change lists read from a replica when there are any (DATABASE_REPLICA_URLS).
    "chatsite.db.replicas.admin_lists_middleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
# PostgreSQL connections per process, bounded whatever the load (docs/operations.md, "Database
# connections"): Django's psycopg pool, shared by REST requests (a thread each under ASGI) and
# the sockets' database hops. A thread takes a connection for a request or hop and gives it back
# at its end (CONN_MAX_AGE 0); one that finds none free waits up to DB_POOL_TIMEOUT seconds,
# then answers 503 `unavailable`. Without the pool every ASGI request thread left a persistent
# connection behind (Django does not reuse them under ASGI): 99 connections and "too many
# clients" within two minutes of ordinary load on one process.
DB_POOL_MIN_SIZE = env_int("DB_POOL_MIN_SIZE", 2)
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10)  # 0: no pool, DB_CONN_MAX_AGE as before
DB_POOL_TIMEOUT = env_float("DB_POOL_TIMEOUT", 30.0)
# How often each process copies its pool's stats into the parley_db_pool_* metrics.
DB_POOL_STATS_INTERVAL = env_float("DB_POOL_STATS_INTERVAL", 5.0)
# Names this process's connections in pg_stat_activity (the host shows in client_addr).
DB_APPLICATION_NAME = env_str("DB_APPLICATION_NAME") or f"parley-{os.getpid()}"
# PgBouncer in transaction pooling mode between the processes and PostgreSQL (docs/operations.md,
# "PgBouncer"): a server connection belongs to a client only for one transaction, so nothing may
# rely on session state. Django already binds parameters client-side and prepares nothing
# (psycopg's prepare_threshold None); this turns off the server-side cursors of `.iterator()`,
# which live across transactions.
DATABASE_PGBOUNCER = env_bool("DATABASE_PGBOUNCER", False)
# Read-only streaming replicas for the reads that tolerate lag (chatsite/db/replicas.py): REST
# history pages, search, the admin's lists; never the send path or sync. Read-your-writes: a
# user's replica reads wait for the replica to replay their last write, else go to the primary.
DATABASE_REPLICA_URLS = env_list("DATABASE_REPLICA_URLS", [])
REPLICA_LSN_TTL = env_int("REPLICA_LSN_TTL", 3600)
REPLICA_RETRY_SECONDS = env_float("REPLICA_RETRY_SECONDS", 5.0)


def _database(url: str, *, alias: str) -> dict:
    database = dj_database_url.parse(
        url,
        # Without the pool: long-lived sockets hop into threads for each frame; channels
        # closes connections older than CONN_MAX_AGE around each hop.
        conn_max_age=0 if DB_POOL_MAX_SIZE else env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
    if database["ENGINE"].endswith("postgresql"):
        options = database.setdefault("OPTIONS", {})
        options.setdefault("application_name", DB_APPLICATION_NAME[:63])
        if DB_POOL_MAX_SIZE:
            options["pool"] = {
                "min_size": min(DB_POOL_MIN_SIZE, DB_POOL_MAX_SIZE),
                "max_size": DB_POOL_MAX_SIZE,
                "timeout": DB_POOL_TIMEOUT,
                "name": alias,
            }
        database["DISABLE_SERVER_SIDE_CURSORS"] = DATABASE_PGBOUNCER
    # The same backend wrapped by django-prometheus (query counts, errors, latency); on
    # PostgreSQL Parley's subclass of it, whose pool tells load from an outage.
    database["ENGINE"] = database["ENGINE"].replace(
        "django.db.backends.", "django_prometheus.db.backends.", 1
    )
    if database["ENGINE"].endswith("postgresql"):
        database["ENGINE"] = "chatsite.db.postgresql"
    return database


if DATABASE_URL:
    DATABASES = {"default": _database(DATABASE_URL, alias="default")}
    for _n, _url in enumerate(DATABASE_REPLICA_URLS):
        DATABASES[f"replica{_n}"] = {
            **_database(_url, alias=f"replica{_n}"),
            # Tests run against the primary's test database through this alias.
            "TEST": {"MIRROR": "default"},
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django_prometheus.db.backends.sqlite3",
            "NAME": VAR_DIR / "parley.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so concurrent senders queue on the
                # lock (up to the timeout) instead of failing with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USES_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
DATABASE_REPLICAS = [alias for alias in DATABASES if alias != "default"]
if DATABASE_REPLICAS and not USES_POSTGRES:
    raise ImproperlyConfigured("DATABASE_REPLICA_URLS needs a PostgreSQL DATABASE_URL")
DATABASE_ROUTERS = ["chatsite.db.replicas.ReplicaRouter"]

# --- Redis: channel layer, cache, Celery ----------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
REDIS_POOL = env_int("REDIS_POOL", 1000)
# The realtime tier (channel layer, conversation fan-out) sharded over these Redis instances;
# every server process must list the same URLs in the same order. Shared state (presence,
# rate limits, cache, Celery) stays on REDIS_URL. Empty: REDIS_URL alone.
REDIS_SHARD_URLS = redis_url.split_urls(env_str("REDIS_SHARD_URLS")) or (
    [REDIS_URL] if REDIS_URL else []
)
# Each of these may be a Sentinel address, `redis+sentinel://h1:26379,h2:26379/<master>/<db>`
# (chatsite/redis_url.py, docs/operations.md "High availability"): every client then asks the
# sentinels for the primary and follows failovers. A bad address stops the start-up here.
for _url in [REDIS_URL, *REDIS_SHARD_URLS] if REDIS_URL else []:
    redis_url.validate(_url)
# Async Redis connections of the realtime tier (channel layer, fan-out subscriptions) run with
# no socket timeout. redis-py 8 defaults to 5 s, and any timeout sends each command through
# asyncio.wait_for, which on Python 3.11 loses a cancellation that arrives as the write completes
# (CPython gh-86296, fixed in 3.12): the layer receive of a closed socket then never ends and
# polls Redis forever (measured: 8 of 30 cancelled receives). Reads are bounded anyway (the
# layer's blocking pop times out after 5 s, pub/sub reads pass their own timeout); TCP keepalive
# finds a peer that vanished without a reset in about 25 s.
REALTIME_REDIS_OPTIONS = {
    "max_connections": REDIS_POOL,
    "socket_timeout": None,
    "socket_keepalive": True,
    "socket_keepalive_options": {
        socket.TCP_KEEPIDLE: 10,
        socket.TCP_KEEPINTVL: 5,
        socket.TCP_KEEPCNT: 3,
    },
}
# The channel layer forgets a group membership this many seconds after its group_add; sockets
# renew theirs every half of it, and daphne's --websocket_timeout stays at or below it (see
# docs/operations.md, "Timeouts along the path").
CHANNEL_GROUP_EXPIRY = env_int("CHANNEL_GROUP_EXPIRY", 86400)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # A dict host lets us size the connection pool: redis-py caps a pool at 100
                # connections by default, which many simultaneous handshakes exhaust.
                "hosts": [
                    redis_url.channel_layer_host(url, **REALTIME_REDIS_OPTIONS)
                    for url in REDIS_SHARD_URLS
                ],
                "prefix": env_str("CHANNEL_LAYER_PREFIX", "parley"),
                "capacity": env_int("CHANNEL_CAPACITY", 1000),
                "expiry": 60,
                "group_expiry": CHANNEL_GROUP_EXPIRY,
            },
        }
    }
    CACHES = {
        "default": {
            # Django's RedisCache with one connection pool per process (see chatsite/cache.py).
            "BACKEND": "chatsite.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "parley",
        }
    }
    # A Sentinel address becomes kombu's `sentinel://` transport with its `master_name`.
    # (chatsite/celery.py moves a Sentinel CELERY_BROKER_URL to PARLEY_CELERY_BROKER_URL.)
    CELERY_BROKER_URL, _broker_options = redis_url.celery_broker(
        env_str("CELERY_BROKER_URL") or env_str("PARLEY_CELERY_BROKER_URL", REDIS_URL)
    )
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"group_expiry": CHANNEL_GROUP_EXPIRY},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL, _broker_options = "memory://", {}
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers log through LOGGING below (JSON lines) instead of Celery's own text format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A task taken by a worker that died (kill -9, lost machine) goes back to the queue after this
# many seconds; it must exceed the longest countdown Parley schedules (push delay + window).
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # How often a worker sweeps for such tasks: about a quarter of the timeout, at most 100 s.
    "unacked_restore_interval": max(1, min(10, CELERY_VISIBILITY_TIMEOUT // 40)),
    "unacked_restore_throttle": max(1, min(10, CELERY_VISIBILITY_TIMEOUT // 40)),
    **_broker_options,
}
CELERY_BEAT_SCHEDULE = {
    "partitions-ensure": {
        "task": "messaging.tasks.partitions_ensure",
        # A fixed time of day (not "every 24 h since start"), so restarts never postpone it.
        "schedule": crontab(minute=17, hour=3),
    },
    "message-keys-prune": {
        "task": "messaging.tasks.message_keys_prune",
        "schedule": crontab(minute=47, hour=3),
    },
    # Uploads never attached to a message, older than a day (uploads/services.py).
    "uploads-prune-unattached": {
        "task": "uploads.tasks.uploads_prune_unattached",
        "schedule": crontab(minute=23),
    },
    # Outgoing webhook retries due later than a countdown, and lanes whose worker died.
    "webhook-deliveries-due": {
        "task": "integrations.tasks.webhook_deliveries_due",
        "schedule": 60.0,
    },
    "email-digests": {
        "task": "notifications.tasks.email_digests_send",
        "schedule": 60.0,
    },
    # Retention (lifecycle/retention.py): messages past their conversation's retention, and
    # exports past their 7 days.
    "retention-apply": {
        "task": "lifecycle.tasks.retention_apply",
        "schedule": crontab(minute=37, hour=2),
    },
    "exports-expire": {
        "task": "lifecycle.tasks.exports_expire",
        "schedule": crontab(minute=53),
    },
}

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Every way in (token API, browser form, admin) authenticates here: names in any case, and the
# login limits per address and per account name (protection.services.login_attempt_check).
AUTHENTICATION_BACKENDS = ["accounts.backends.UsernameBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Bearer values starting with `parley_` are API tokens; others are JWTs.
        "integrations.authentication.ApiTokenAuthentication",
        "accounts.authentication.RevocableJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "chatsite.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["protection.throttles.RestWriteThrottle"],
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 10)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
    # A refresh answers with a new refresh token and the used one is blacklisted, so a stolen
    # refresh token works at most once; logout blacklists the current one.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Parley API",
    "DESCRIPTION": "REST API of Parley, a real-time chat server. The WebSocket protocol is "
    "described in docs/protocol.md.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "GroupRoleEnum": "messaging.models.Membership.Role",
        "JobStatusEnum": "lifecycle.models.Job.Status",
    },
    # chatsite.converters.DatabaseIdConverter: ids in paths are 64-bit database integers.
    "PATH_CONVERTER_OVERRIDES": {
        "dbid": {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**63 - 1}
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "protection.schema.document_refusals",
    ],
}

# --- Parley ---------------------------------------------------------------------------------
# Seconds between client pings, announced in the ready frame.
PARLEY_HEARTBEAT_INTERVAL: float = env_float("PARLEY_HEARTBEAT_INTERVAL", 25)
if float(PARLEY_HEARTBEAT_INTERVAL).is_integer():
    PARLEY_HEARTBEAT_INTERVAL = int(PARLEY_HEARTBEAT_INTERVAL)  # "25" is announced as 25
# A socket silent for this many heartbeat intervals is closed (4408) and its presence dropped;
# a presence entry not refreshed for as long lapses by itself (e.g. its process was killed).
PARLEY_HEARTBEAT_TIMEOUT_FACTOR = env_float("PARLEY_HEARTBEAT_TIMEOUT_FACTOR", 2.5)
# Conversations with more members than this push each member's receipts at most once a second.
PARLEY_RECEIPT_COALESCE_MEMBERS = env_int("PARLEY_RECEIPT_COALESCE_MEMBERS", 50)
# Presence changes are pushed live through direct chats and through groups of at most this
# many members (a mass reconnect of a big group would otherwise cost members² frames); the
# members of larger groups read presence with GET /api/presence/.
PARLEY_PRESENCE_PUSH_MAX_MEMBERS = env_int("PARLEY_PRESENCE_PUSH_MAX_MEMBERS", 25)
# Seconds between two relayed typing notices of one user in one conversation.
PARLEY_TYPING_THROTTLE = env_float("PARLEY_TYPING_THROTTLE", 2.0)
# Largest inbound WebSocket text frame, in bytes.
PARLEY_MAX_FRAME_BYTES = env_int("PARLEY_MAX_FRAME_BYTES", 64 * 1024)
# How long a socket holds a message that arrived ahead of its predecessor before it reads the
# missing ones from the database.
PARLEY_REORDER_WAIT = env_float("PARLEY_REORDER_WAIT", 0.5)
# How long the server remembers the state a `ready` cursor names (`?since=`, messaging/ready.py).
PARLEY_READY_CURSOR_TTL = env_int("PARLEY_READY_CURSOR_TTL", 7 * 86400)
# Live frames queued for one socket before it counts as too slow and is closed with 1013.
PARLEY_OUTBOX_LIMIT = env_int("PARLEY_OUTBOX_LIMIT", 2000)
# Group commit of the gateway's sends (gateway/batching.py): the most sends stored in one
# transaction, and how many such transactions a server process runs at once (measured with
# 200 chatting pairs: 1 gave 2,051 messages/s, 2 gave 1,958-1,990, 4 gave 1,687; and at
# 1,000 messages/s offered, ack p99 40 ms with 1 against 67 ms with 2: docs/performance.md).
PARLEY_SEND_BATCH_MAX = env_int("PARLEY_SEND_BATCH_MAX", 100)
PARLEY_SEND_BATCHES_IN_FLIGHT = env_int("PARLEY_SEND_BATCHES_IN_FLIGHT", 1)
# `delivered` and `read` frames stored together in one transaction (gateway/batching.py).
PARLEY_MARK_BATCH_MAX = env_int("PARLEY_MARK_BATCH_MAX", 200)
# On SIGTERM, seconds daphne waits for closed sockets' consumers to finish before cancelling
# them (chatsite/serving.py); keep it below the orchestrator's kill timeout.
PARLEY_SHUTDOWN_GRACE: float = env_float("PARLEY_SHUTDOWN_GRACE", 5)
# Prefix of the Redis pub/sub channels of the conversation fan-out. Redis pub/sub ignores the
# database number (a message published on DB 3 reaches subscribers connected to DB 5), so two
# deployments sharing one Redis server on different databases would deliver each other's
# events (same conversation ids, other messages): the default carries REDIS_URL's database
# number when it is not 0 (`parley.db3`); DB 0 keeps plain `parley`.
_FANOUT_DB = redis_url.db_index(REDIS_URL) if REDIS_URL else 0
PARLEY_FANOUT_PREFIX = env_str(
    "PARLEY_FANOUT_PREFIX",
    env_str("CHANNEL_LAYER_PREFIX", "parley") + (f".db{_FANOUT_DB}" if _FANOUT_DB else ""),
)
# Node number (0..1023) inside message ids; distinct per process avoids id collisions.
PARLEY_NODE_ID = env_int("PARLEY_NODE_ID", -1)

# --- Protection (rate limits, IP lists): see docs/operations.md ----------------------------
# Token buckets, "<count>/<s|m|h>[:<burst>]" (burst defaults to count).
PARLEY_RATE_LIMITS = {
    "ws_send": env_str("PARLEY_RATE_WS_SEND", "10/s:30"),
    "ws_typing": env_str("PARLEY_RATE_WS_TYPING", "10/s:20"),
    "ws_handshake": env_str("PARLEY_RATE_WS_HANDSHAKE", "30/m:30"),
    "login": env_str("PARLEY_RATE_LOGIN", "10/m"),
    # Login attempts per account name, from any address (whitelisted ones too): 10, then one
    # more every 6 minutes; a successful login refills it (docs/security.md, "Logins").
    "login_account": env_str("PARLEY_RATE_LOGIN_ACCOUNT", "10/h"),
    "register": env_str("PARLEY_RATE_REGISTER", "10/m"),
    "rest_write": env_str("PARLEY_RATE_REST_WRITE", "10/s:30"),
    # Message search per user: the most expensive read (GET /api/search/).
    "search": env_str("PARLEY_RATE_SEARCH", "5/s:20"),
    # Posts to one incoming webhook (/hooks/<secret>/), whoever sends them (Slack allows
    # about one a second with short bursts).
    "webhook": env_str("PARLEY_RATE_WEBHOOK", "1/s:30"),
    # Password-reset mails per address asked for, from any client (no mail bombing).
    "password_reset": env_str("PARLEY_RATE_PASSWORD_RESET", "3/h"),
}
# A socket refused this many times within the window (seconds) is closed with 4429.
PARLEY_ABUSE_REFUSALS = env_int("PARLEY_ABUSE_REFUSALS", 100)
PARLEY_ABUSE_WINDOW = env_float("PARLEY_ABUSE_WINDOW", 60)
# Seconds a process trusts its copy of the IP lists before checking the shared version stamp.
PARLEY_IP_LISTS_REFRESH = env_float("PARLEY_IP_LISTS_REFRESH", 2)
# Where that stamp is read: "cache" (Redis, shared by every process: no database query) or
# "database" (the one store the embedded default's processes share: its cache is per process).
PARLEY_IP_LISTS_STAMP = env_str("PARLEY_IP_LISTS_STAMP", "cache" if REDIS_URL else "database")
if PARLEY_IP_LISTS_STAMP not in {"cache", "database"}:
    raise ImproperlyConfigured("PARLEY_IP_LISTS_STAMP is `cache` or `database`")
# Peers (addresses or CIDR) whose X-Forwarded-For is believed, e.g. the load balancer.
PARLEY_TRUSTED_PROXIES = env_list("PARLEY_TRUSTED_PROXIES", [])

# --- HTTPS deployment: `HTTPS=1` behind TLS; `manage.py check --deploy` passes with it ------
HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    # Only behind a proxy that sets this header itself (and strips a client's copy).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- I18n, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Serve straight from the app and project static folders too, so no collectstatic is needed to
# run; `collectstatic` still works for a deployment that prefers it.
WHITENOISE_USE_FINDERS = True

# --- Observability (docs/operations.md: Metrics, Health, Logs) --------------------------------
# One JSON object per line on stdout (chatsite/logs.py); LOG_FORMAT=plain for a human-readable
# console while developing.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "chatsite.logs.JsonFormatter"},
        "plain": {"()": "chatsite.logs.PlainFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain" if env_str("LOG_FORMAT", "json") == "plain" else "json",
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
# Message bodies appear in logs (the DEBUG-level `ws.frame` line) only with DEBUG on as well.
PARLEY_LOG_MESSAGE_BODIES = env_bool("PARLEY_LOG_MESSAGE_BODIES", False)
# /metrics answers requests from these networks, or bearing PARLEY_METRICS_TOKEN.
PARLEY_METRICS_ALLOWED_NETWORKS = env_list(
    "PARLEY_METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"]
)
PARLEY_METRICS_TOKEN = env_str("PARLEY_METRICS_TOKEN")
# Seconds each /readyz check may take before it counts as failed.
PARLEY_READYZ_TIMEOUT = env_float("PARLEY_READYZ_TIMEOUT", 2.0)
# Counting unapplied migrations at start-up would touch the database in every process.
PROMETHEUS_EXPORT_MIGRATIONS = False

# --- Storage, push, caches (docs/operations.md) ---------------------------------------------
# Months of message partitions kept ready beyond the current one (beat runs `ensure` daily).
PARLEY_PARTITIONS_AHEAD = env_int("PARLEY_PARTITIONS_AHEAD", 2)
# Each server process also ensures them when it starts (a missed beat must not stop sends).
PARLEY_PARTITIONS_ENSURE_AT_START = env_bool("PARLEY_PARTITIONS_ENSURE_AT_START", True)
# Seconds the ack of a send is kept for the dedup fast path.
PARLEY_DEDUP_CACHE_SECONDS = env_int("PARLEY_DEDUP_CACHE_SECONDS", 86400)
# Messages in the cached newest page of each conversation, and how long an entry lives.
PARLEY_HISTORY_CACHE_SIZE = env_int("PARLEY_HISTORY_CACHE_SIZE", 50)
PARLEY_HISTORY_CACHE_SECONDS = env_int("PARLEY_HISTORY_CACHE_SECONDS", 3600)
# Message search on PostgreSQL: the text-search configuration of the stored tsvector and of
# queries. "simple" (no stemming, no stop words) suits teams writing in several languages;
# "english" (or another language) stems and drops stop words. Changing it needs
# `manage.py search_rebuild` (docs/operations.md, "Message search").
PARLEY_SEARCH_CONFIG = env_str("PARLEY_SEARCH_CONFIG", "simple")
# Offline push: a member who has not marked a message delivered this many seconds after it was
# sent is notified, at most once per conversation per window.
PARLEY_PUSH_DELAY_SECONDS = env_float("PARLEY_PUSH_DELAY_SECONDS", 30)
PARLEY_PUSH_COALESCE_SECONDS = env_int("PARLEY_PUSH_COALESCE_SECONDS", 60)
PARLEY_PUSH_MAX_ATTEMPTS = env_int("PARLEY_PUSH_MAX_ATTEMPTS", 8)
PARLEY_PUSH_RETRY_BACKOFF = env_float("PARLEY_PUSH_RETRY_BACKOFF", 2)
PARLEY_PUSH_RETRY_BACKOFF_MAX = env_float("PARLEY_PUSH_RETRY_BACKOFF_MAX", 600)
PARLEY_PUSH_TIMEOUT = env_float("PARLEY_PUSH_TIMEOUT", 10)
# Webhook channel: enabled when the URL is set; POSTs are signed with the secret.
PARLEY_PUSH_WEBHOOK_URL = env_str("PARLEY_PUSH_WEBHOOK_URL")
PARLEY_PUSH_WEBHOOK_SECRET = env_str("PARLEY_PUSH_WEBHOOK_SECRET")
# Web Push channel: enabled when the VAPID private key (PEM or base64url raw) is set.
PARLEY_VAPID_PRIVATE_KEY = env_str("PARLEY_VAPID_PRIVATE_KEY")
PARLEY_VAPID_PUBLIC_KEY = env_str("PARLEY_VAPID_PUBLIC_KEY")
PARLEY_VAPID_SUBJECT = env_str("PARLEY_VAPID_SUBJECT", "mailto:admin@localhost")
# Tests and development only: let Web Push endpoints be on private or loopback addresses and
# any port (and plain http at send time) (push/endpoints.py). Never in production: subscription
# endpoints come from users, and this lets them make the server POST into its own network.
PARLEY_PUSH_ALLOW_PRIVATE_ENDPOINTS = env_bool("PARLEY_PUSH_ALLOW_PRIVATE_ENDPOINTS", False)
PARLEY_PUSH_BACKENDS = env_list(
    "PARLEY_PUSH_BACKENDS", ["push.backends.WebhookBackend", "push.backends.WebPushBackend"]
)

# --- Integrations (docs/integrations.md) -----------------------------------------------------
# Outgoing webhooks and slash commands POST only to public addresses, and to these internal
# hosts (names, addresses or CIDR networks), e.g. an intranet CI server; tests list 127.0.0.1.
PARLEY_WEBHOOK_ALLOWED_HOSTS = env_list("PARLEY_WEBHOOK_ALLOWED_HOSTS", [])
# Retries of a failed delivery (5xx, 408, 425, 429, timeouts, connection errors), the first
# after PARLEY_WEBHOOK_RETRY_BASE seconds, doubling up to PARLEY_WEBHOOK_RETRY_MAX: with the
# defaults 8 retries over about 21 hours. A delivery that fails them all disables its webhook.
PARLEY_WEBHOOK_RETRIES = env_int("PARLEY_WEBHOOK_RETRIES", 8)
PARLEY_WEBHOOK_RETRY_BASE = env_float("PARLEY_WEBHOOK_RETRY_BASE", 300)
PARLEY_WEBHOOK_RETRY_MAX = env_float("PARLEY_WEBHOOK_RETRY_MAX", 12 * 3600)
# Seconds a receiver has to answer one delivery (connect and read).
PARLEY_WEBHOOK_TIMEOUT = env_float("PARLEY_WEBHOOK_TIMEOUT", 10)

# Most members a group may have (the creator included).
PARLEY_GROUP_MEMBER_LIMIT = env_int("PARLEY_GROUP_MEMBER_LIMIT", 10_000)
# Seconds after sending during which the sender may edit a message.
PARLEY_EDIT_WINDOW = env_int("PARLEY_EDIT_WINDOW", 15 * 60)

# Paths served without Parley's Content-Security-Policy: third-party pages with inline script.
PARLEY_CSP_EXEMPT_PATHS = env_list("PARLEY_CSP_EXEMPT_PATHS", ["/admin/", "/api/docs/"])

# --- Uploads (docs/operations.md, "Files and images") ----------------------------------------
# Largest file accepted (413 `file_too_large` above it) and the bytes one user may keep stored
# (413 `quota_exceeded` past it).
PARLEY_UPLOAD_MAX_BYTES = env_int("PARLEY_UPLOAD_MAX_BYTES", 25 * 1024 * 1024)
PARLEY_UPLOAD_QUOTA_BYTES = env_int("PARLEY_UPLOAD_QUOTA_BYTES", 1024 * 1024 * 1024)
# Programs (PE, ELF, Mach-O, scripts with #!) are refused with 415 `unsupported_file_type`.
PARLEY_UPLOAD_REFUSE_EXECUTABLES = env_bool("PARLEY_UPLOAD_REFUSE_EXECUTABLES", True)
# Images with more pixels than this are refused (400 `image_too_large`) before being decoded.
PARLEY_UPLOAD_MAX_IMAGE_PIXELS = env_int("PARLEY_UPLOAD_MAX_IMAGE_PIXELS", 50_000_000)
# Unattached uploads older than this many seconds are removed by the periodic task.
PARLEY_UPLOAD_UNATTACHED_SECONDS = env_int("PARLEY_UPLOAD_UNATTACHED_SECONDS", 86400)
# Behind nginx: downloads answer with X-Accel-Redirect: <prefix><storage key> and no body, and
# nginx sends the file from an `internal` location (docs/operations.md). Local storage only.
PARLEY_UPLOAD_X_ACCEL_PREFIX = env_str("PARLEY_UPLOAD_X_ACCEL_PREFIX")
# Where uploads are stored: `local` (MEDIA_ROOT, var/media/) or `s3` (django-storages).
PARLEY_UPLOAD_STORAGE = env_str("PARLEY_UPLOAD_STORAGE", "local")
MEDIA_ROOT = Path(env_str("PARLEY_MEDIA_ROOT") or VAR_DIR / "media")
MEDIA_URL = "/media/"  # never routed: files are served by uploads.api.views only
_UPLOADS_STORAGE: dict = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": MEDIA_ROOT, "base_url": MEDIA_URL},
}
if PARLEY_UPLOAD_STORAGE == "s3":
    _UPLOADS_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("PARLEY_S3_BUCKET"),
            "endpoint_url": env_str("PARLEY_S3_ENDPOINT_URL") or None,
            "region_name": env_str("PARLEY_S3_REGION") or None,
            "access_key": env_str("PARLEY_S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("PARLEY_S3_SECRET_ACCESS_KEY") or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
elif PARLEY_UPLOAD_STORAGE != "local":
    raise ImproperlyConfigured("PARLEY_UPLOAD_STORAGE is `local` or `s3`")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed names after collectstatic (chatsite/staticfiles.py); plain names while
    # developing with DEBUG on, so an edited file is served at once.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "chatsite.staticfiles.ParleyStaticStorage"
    },
    "uploads": _UPLOADS_STORAGE,
}

# --- Link previews (docs/operations.md, "Link previews") ---------------------------------------
# Previews of http(s) links in messages, fetched by a Celery task (public addresses only).
PARLEY_LINK_PREVIEWS = env_bool("PARLEY_LINK_PREVIEWS", True)
# Tests and development only: also fetch from loopback addresses (127.0.0.0/8, ::1), any port.
PARLEY_LINK_PREVIEWS_ALLOW_LOOPBACK = env_bool("PARLEY_LINK_PREVIEWS_ALLOW_LOOPBACK", False)

# --- Mail (accounts.mail): SMTP when EMAIL_HOST is set, else printed to the console ----------
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Parley <parley@localhost>")
# Where links in mails point: the address users reach the browser UI at.
PARLEY_PUBLIC_URL = env_str("PARLEY_PUBLIC_URL", "http://localhost:8000").rstrip("/")
# Seconds a password-reset link works (it also stops once used: Django's token generator).
PASSWORD_RESET_TIMEOUT = env_int("PARLEY_PASSWORD_RESET_TIMEOUT", 3600)
# Seconds an email-verification link works.
PARLEY_EMAIL_VERIFY_MAX_AGE = env_int("PARLEY_EMAIL_VERIFY_MAX_AGE", 3 * 24 * 3600)

# --- Data lifecycle (lifecycle/; docs/operations.md, "Data lifecycle") ----------------------
# Days messages are kept everywhere unless a conversation says otherwise; 0 keeps them forever.
PARLEY_RETENTION_DAYS = env_int("PARLEY_RETENTION_DAYS", 0)
# Messages deleted per statement by the retention task (short transactions, no long locks).
PARLEY_RETENTION_BATCH = env_int("PARLEY_RETENTION_BATCH", 1000)
# A deleted account's messages: kept, shown as "Deleted user" (false), or deleted (true).
PARLEY_DELETE_USER_MESSAGES = env_bool("PARLEY_DELETE_USER_MESSAGES", False)
# Days an export's download link works.
PARLEY_EXPORT_DAYS = env_int("PARLEY_EXPORT_DAYS", 7)
# Slack imports: the largest zip accepted, the most bytes its files may unpack to, and the
# highest compression ratio of one file (beyond it the zip is treated as a zip bomb).
PARLEY_IMPORT_MAX_BYTES = env_int("PARLEY_IMPORT_MAX_BYTES", 2 * 1024**3)
PARLEY_IMPORT_MAX_UNPACKED_BYTES = env_int("PARLEY_IMPORT_MAX_UNPACKED_BYTES", 8 * 1024**3)
PARLEY_IMPORT_MAX_RATIO = env_int("PARLEY_IMPORT_MAX_RATIO", 200)

# --- Notification levels and email digests (notifications/) ---------------------------------
# Groups with more members than this default to notify = "mentions".
PARLEY_LARGE_GROUP = env_int("PARLEY_LARGE_GROUP", 50)
# Unread direct messages and mentions are mailed once they are this old (seconds) and the user
# is offline; at most one mail per PARLEY_EMAIL_NOTIFY_INTERVAL seconds per user.
PARLEY_EMAIL_NOTIFY_DELAY = env_int("PARLEY_EMAIL_NOTIFY_DELAY", 600)
PARLEY_EMAIL_NOTIFY_INTERVAL = env_int("PARLEY_EMAIL_NOTIFY_INTERVAL", 1800)

# --- Two-factor login (accounts/twofactor.py, django-otp) -----------------------------------
OTP_TOTP_ISSUER = env_str("PARLEY_OTP_ISSUER", "Parley")
# django-otp's own per-device backoff is off: every code counts against the account's login
# budget instead (PARLEY_RATE_LOGIN_ACCOUNT), the same limit as passwords.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# Seconds between the password step and the code step of a login.
PARLEY_OTP_STEP_SECONDS = env_int("PARLEY_OTP_STEP_SECONDS", 300)
# Staff reach the admin only with two-factor login on and the code given in this session.
PARLEY_STAFF_2FA = env_bool("PARLEY_STAFF_2FA", False)

# --- Single sign-on with OpenID Connect (accounts/sso.py, mozilla-django-oidc) ---------------
OIDC_RP_CLIENT_ID = env_str("PARLEY_OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("PARLEY_OIDC_CLIENT_SECRET")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("PARLEY_OIDC_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env_str("PARLEY_OIDC_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env_str("PARLEY_OIDC_USERINFO_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env_str("PARLEY_OIDC_JWKS_ENDPOINT")
OIDC_RP_SIGN_ALGO = env_str("PARLEY_OIDC_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("PARLEY_OIDC_SCOPES", "openid email profile")
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_TIMEOUT = env_int("PARLEY_OIDC_TIMEOUT", 10)
OIDC_AUTHENTICATION_CALLBACK_URL = "sso-callback"
LOGIN_REDIRECT_URL_FAILURE = "/login/?sso=failed"
PARLEY_OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID and OIDC_OP_AUTHORIZATION_ENDPOINT)
# Create an account for a provider user no account matches (by verified email); else refuse.
PARLEY_OIDC_CREATE_USERS = env_bool("PARLEY_OIDC_CREATE_USERS", True)
# Hide the password login form: the browser logs in through the provider only.
PARLEY_OIDC_ONLY = env_bool("PARLEY_OIDC_ONLY", False)
PARLEY_OIDC_NAME = env_str("PARLEY_OIDC_NAME", "single sign-on")
AUTHENTICATION_BACKENDS = [*AUTHENTICATION_BACKENDS, "accounts.sso.OIDCBackend"]
