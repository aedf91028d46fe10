"""A stand-in for a notification service: it logs each notice and counts them.

``python -m workers.notifier`` serves POST /notices on 127.0.0.1:8099. It fails one request
in twenty with a 503 so that the example shows in-process retries, broker retries and,
for the unlucky, dead letters.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("notifier")
FAIL_EVERY = int(os.environ.get("NOTIFIER_FAIL_EVERY", "20"))
_counter = itertools.count(1)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length", "0"))
        notice = json.loads(self.rfile.read(length) or b"{}")
        n = next(_counter)
        if FAIL_EVERY and n % FAIL_EVERY == 0:
            self.send_response(503)
            self.end_headers()
            return
        log.info("notice #%d to %s: %s", n, notice.get("to"), notice.get("text"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s notifier %(message)s")
    port = int(os.environ.get("NOTIFIER_PORT", "8099"))
    host = os.environ.get("NOTIFIER_HOST", "127.0.0.1")
    server = ThreadingHTTPServer((host, port), Handler)
    log.info("listening on %s:%d", host, port)
    server.serve_forever()


if __name__ == "__main__":
    main()
