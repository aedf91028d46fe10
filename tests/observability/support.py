"""A real HTTP server standing in for Slack and Sentry, and small builders for hook tests."""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from workerkit.context import Context
from workerkit.message import Message


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes  # decompressed


class RecordingServer:
    """Records every POST on 127.0.0.1; ``status`` and ``delay`` shape its answers."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.status = 200
        self.delay = 0.0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                with outer._lock:
                    outer.requests.append(Recorded(self.path, dict(self.headers), raw))
                if outer.delay:
                    time.sleep(outer.delay)
                try:
                    self.send_response(outer.status)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting, as a test of timeouts wants

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads the requests; stderr stays clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bodies(self) -> list[bytes]:
        with self._lock:
            return [r.body for r in self.requests]

    def start(self) -> RecordingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_ctx(
    queue: str = "orders.delay-notice",
    *,
    message_id: str | None = "m-1",
    trace_id: str = "trace-1",
    retry_count: int = 0,
) -> Context:
    message = Message(
        body={},
        raw=b"{}",
        headers={},
        message_id=message_id,
        content_type="application/json",
        routing_key=queue,
        exchange="",
        retry_count=retry_count,
        trace_id=trace_id,
    )
    return Context(message, queue=queue, consumer=f"handle_{queue}", publisher=None)
