"""Keep kazoo's reconnect chatter to one line per message per minute.

While ZooKeeper is down kazoo logs a warning for every connection attempt ("Connection
dropped: ... refused"), several per second at first and one per ``max_reconnect_delay``
after; a long outage would bury everything else a worker logs. The state transitions
(suspended, lost, connected) are logged once each by :class:`workerkit.zk.client.ZkClient`,
so repeats here carry no news.
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


def quiet_kazoo_logger(name: str) -> logging.Logger:
    """The logger to hand kazoo, with the repeat filter installed once."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RepeatFilter) for f in logger.filters):
        logger.addFilter(RepeatFilter())
    return logger
