"""What Parley adds to daphne, installed from chatsite.asgi when the `daphne` command runs it.

Close codes. autobahn, daphne's WebSocket library, refuses every server close code except 1000
and 3000-4999, so a consumer's `close(code=1012)` raised inside daphne and the socket ended
later with 1011. Parley closes with three registered codes a client can act on: 1001 (this
server is going away), 1012 (service restart: reconnect and sync) and 1013 (try again later);
they are sent as they are.

Graceful shutdown. On SIGTERM (or SIGINT) Twisted stops the reactor, and daphne's
"before shutdown" step cancels every application instance at once: consumers never ran their
`disconnect`, and clients saw the TCP connection drop (1006). With this module the same step
first stops accepting connections, closes every WebSocket with 1001, lets the applications
finish (a `send` being stored completes and is acked or, if the socket is already closing, is
resent by the client with its client_msg_id and stored once) for up to PARLEY_SHUTDOWN_GRACE
seconds, and only then cancels what is left, as before. daphne supports no ASGI lifespan, so
this hooks daphne's own shutdown.
"""

import logging
import sys
import time
from typing import Any

from django.conf import settings

from core.close_codes import SERVER_CLOSE_CODES, Close

logger = logging.getLogger(__name__)

CLOSE_GOING_AWAY = Close.GOING_AWAY


def install() -> None:
    """Patches daphne when it is the running server (a no-op under tests and other servers)."""
    if "daphne.server" not in sys.modules:
        return
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol

    if getattr(Server, "_parley_patched", False):
        return
    Server._parley_patched = True  # type: ignore[attr-defined]

    plain_server_close = WebSocketProtocol.serverClose

    def server_close(self: Any, code: int | None = None) -> None:
        if code in SERVER_CLOSE_CODES:
            # What autobahn's sendClose does after its check of the code.
            self.sendCloseFrame(code=code, isReply=False)
        else:
            plain_server_close(self, code=code)

    WebSocketProtocol.serverClose = server_close

    kill_all_applications = Server.kill_all_applications

    def shut_down_gracefully(self: Any) -> Any:
        from twisted.internet import defer

        return defer.ensureDeferred(_drain(self, kill_all_applications))

    Server.kill_all_applications = shut_down_gracefully


async def _drain(server: Any, kill_all_applications: Any) -> None:
    from twisted.internet import reactor, task, tcp

    started = time.monotonic()
    # Stop accepting: the load balancer sends new connections to the other processes.
    for reader in list(reactor.getReaders()):  # type: ignore[attr-defined]
        if isinstance(reader, tcp.Port):
            reader.stopListening()
    sockets = 0
    for protocol in list(server.connections):
        if getattr(protocol, "state", None) == getattr(protocol, "STATE_OPEN", object()):
            try:
                protocol.serverClose(code=CLOSE_GOING_AWAY)
                sockets += 1
            except Exception:
                logger.exception("closing a socket at shutdown failed")
    logger.warning("shutting down: stopped listening, closing %s sockets with 1001", sockets)
    grace = float(settings.PARLEY_SHUTDOWN_GRACE)
    while time.monotonic() - started < grace and any(
        details.get("application_instance") is not None
        and not details["application_instance"].done()
        for details in server.connections.values()
    ):
        await task.deferLater(reactor, 0.05, lambda: None)
    # daphne's own step: cancels whatever is still running, and waits for it.
    await kill_all_applications(server)
    logger.warning("shut down in %.2f s", time.monotonic() - started)
