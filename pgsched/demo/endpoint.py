"""The tiny HTTP server the demo's http job calls, on 127.0.0.1 and a free port."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

# Loopback: the demo's workers are told to let http jobs reach it (--http-allow).
ENDPOINT_HOST = "127.0.0.1"
PATH = "/health"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.path != PATH:
            self._reply(404, {"error": f"not found; try {PATH}"})
            return
        self._reply(200, {"status": "ok", "requests": self.server.count_request()})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a line per request on stderr would scroll the live table away."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((ENDPOINT_HOST, 0), _Handler)
        self._lock = threading.Lock()
        self._requests = 0

    def count_request(self) -> int:
        with self._lock:
            self._requests += 1
            return self._requests


class DemoEndpoint:
    """Serves ``GET /health`` in a background thread while the ``with`` block runs."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="pgsched-demo-http", daemon=True
        )

    @property
    def url(self) -> str:
        """The URL the http job calls."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{PATH}"

    def __enter__(self) -> DemoEndpoint:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
