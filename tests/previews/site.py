"""A small website on 127.0.0.1 for the link preview tests (unit and browser)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = b"""<!doctype html><html><head>
<title>Fallback title</title>
<meta property="og:title" content="The Garden &amp; the Shed">
<meta property="og:description" content="Pictures from the weekend.">
<meta property="og:image" content="/images/garden.jpg">
<meta name="twitter:title" content="not this one">
</head><body>hello</body></html>"""


class Site:
    """A small website on 127.0.0.1: pages, redirects, a text file; it records each path."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.paths.append(self.path)
                if self.path == "/page":
                    self._answer(200, "text/html; charset=utf-8", PAGE)
                elif self.path == "/notes.txt":
                    self._answer(200, "text/plain", b"<title>not a page</title>")
                elif self.path == "/to-metadata":
                    self._redirect("http://169.254.169.254/latest/meta-data/")
                elif self.path.startswith("/hop/"):
                    left = int(self.path.rsplit("/", 1)[1])
                    self._redirect(f"/hop/{left - 1}" if left > 0 else "/page")
                else:
                    self._answer(404, "text/html", b"")

            def _answer(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
