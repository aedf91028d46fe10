"""Make kazoo's logging safe and quiet: no credentials, and one line per repeat a minute.

kazoo logs every request it sends at DEBUG, including the auth packet, whose repr holds the
admin digest ``user:password`` in clear: :class:`RedactAuth` masks it, so turning on DEBUG
logging can never leak the secret. While ZooKeeper is down kazoo also warns on every
connection attempt, several per second at first; :class:`RepeatFilter` lets each message
through once a minute, since :class:`workerkit.zk.client.ZkClient` logs the state
transitions (suspended, lost, connected) once each anyway.
"""

from __future__ import annotations

import logging
import threading
import time


class RepeatFilter(logging.Filter):
    """Drops a record whose message was already let through less than ``every`` seconds ago."""

    def __init__(self, every: float = 60.0) -> None:
        super().__init__()
        self.every = every
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        key = record.getMessage()
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, float("-inf")) < self.every:
                return False
            if len(self._last) > 256:  # messages embed addresses; keep the memo small
                self._last.clear()
            self._last[key] = now
        return True


class RedactAuth(logging.Filter):
    """Replaces kazoo's ``Auth(auth_type, scheme, auth)`` arguments with a masked text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(_is_auth(a) for a in record.args):
            record.args = tuple(
                f"Auth(scheme={getattr(a, 'scheme', '?')!r}, auth='***')" if _is_auth(a) else a
                for a in record.args
            )
        return True


def _is_auth(arg: object) -> bool:
    return getattr(arg, "_fields", None) == ("auth_type", "scheme", "auth")


def quiet_kazoo_logger(name: str) -> logging.Logger:
    """The logger to hand kazoo, with both filters installed once."""
    logger = logging.getLogger(name)
    for kind in (RedactAuth, RepeatFilter):
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
    return logger
