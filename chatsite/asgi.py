"""ASGI entry point: `daphne chatsite.asgi:application`, or uvicorn (see docs/operations.md)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chatsite import serving  # noqa: E402
from chatsite.logs import install_daphne_access_log, install_uvicorn_log_redaction  # noqa: E402
from gateway.authentication import GatewayAuthStack  # noqa: E402
from gateway.protection import HandshakeGuard  # noqa: E402
from gateway.routing import websocket_urlpatterns  # noqa: E402
from gateway.runtime import Runtime  # noqa: E402
from messaging.partitions import partitions_ensure_in_background  # noqa: E402
from realtime.broker import process_broker  # noqa: E402

# daphne's own access log would print request URIs, query strings (?token=) included.
install_daphne_access_log()
# Close codes 1001/1012/1013, and a graceful shutdown on SIGTERM (see chatsite/serving.py).
serving.install()
# uvicorn's handshake log lines carry the query string (?token=) too.
install_uvicorn_log_redaction()
# This month's and PARLEY_PARTITIONS_AHEAD more message partitions, should beat not have run
# (PostgreSQL; on a thread of its own, so the server starts at once).
partitions_ensure_in_background()

# The process's long-lived realtime objects (hub, send batcher, ...), built once here and
# handed to every socket (gateway/runtime.py).
runtime = Runtime(process_broker())

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": HandshakeGuard(GatewayAuthStack(URLRouter(websocket_urlpatterns(runtime)))),
    }
)
