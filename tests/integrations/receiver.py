"""A real HTTP receiver on 127.0.0.1 for outgoing webhooks and slash commands: records every
POST and answers as the test scripts it (status, body, and a delay to provoke timeouts)."""

import contextlib
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


Answer = tuple[int, bytes, float]  # status, body, seconds to wait before answering


@dataclass
class Receiver:
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    respond: Callable[[int, Received], Answer] = lambda n, r: (200, b"", 0.0)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_for(self, count: int, *, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
                self.arrived.wait(left)
            return list(self.requests)


def signature_valid(secret: str, request: Received) -> bool:
    """The test's own check of X-Parley-Signature: sha256=HMAC(secret, timestamp "." body)."""
    timestamp = request.headers["x-parley-timestamp"]
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256)
    return hmac.compare_digest(request.headers["x-parley-signature"], f"sha256={mac.hexdigest()}")


@contextlib.contextmanager
def http_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            with receiver.arrived:
                receiver.requests.append(received)
                number = len(receiver.requests)
                receiver.arrived.notify_all()
            status, answer, delay = receiver.respond(number, received)
            if delay:
                time.sleep(delay)  # the sender's timeout is what is tested
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass  # the sender gave up (timeout)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
