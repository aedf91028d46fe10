"""Log formats for worker processes: text for people, JSON (one object a line) for machines.

Both show the queue, message id, attempt and trace id that :class:`TraceFilter` puts on a
record, so ``grep trace=<id>`` or a log query on ``trace_id`` finds every line of a message
across the workers it passed through.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from workerkit.config import Settings
from workerkit.observability.scrub import (
    STANDARD_RECORD_ATTRS,
    Scrubber,
    ScrubFilter,
    configured_secrets,
)
from workerkit.observability.tracing import FIELDS, NONE, TraceFilter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"
#: loggers whose INFO lines are about their own internals, not about messages
# chatty at INFO: connection details, and alembic describing each schema check
# ("workerkit.zk.kazoo" is the logger ZkClient hands kazoo; plain "kazoo" for other clients)
QUIET = ("aiormq", "aio_pika", "kazoo", "workerkit.zk.kazoo", "alembic")


class TextFormatter(logging.Formatter):
    """The usual line, prefixed with the message's ids unless the line already names them
    (``ctx.log`` and the dispatcher write their own prefix)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - stdlib name
        trace = getattr(record, "trace_id", NONE)
        if trace != NONE and f"trace={trace}" not in record.message:
            record.message = (
                f"[{getattr(record, 'queue', NONE)} id={getattr(record, 'message_id', NONE)} "
                f"attempt={getattr(record, 'attempt', NONE)} trace={trace}] {record.message}"
            )
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ids that are not set are left out rather than written as
    ``-``, and any ``extra`` a caller passed is kept (repr'd when JSON cannot hold it)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, NONE)
            if value != NONE:
                data[name] = value
        for name, value in record.__dict__.items():
            if name not in STANDARD_RECORD_ATTRS and name not in FIELDS and name not in data:
                data[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, default=repr, ensure_ascii=False)


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Install one root handler in the format and level of ``settings.log``; returns it.

    Lines are scrubbed of the secrets in ``settings`` (and of URL passwords). Calling it
    again replaces the handler it installed before instead of adding a second.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(TraceFilter())
    handler.addFilter(ScrubFilter(Scrubber(configured_secrets(settings))))
    handler.setFormatter(JsonFormatter() if settings.log.format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if any(isinstance(f, TraceFilter) for f in old.filters):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log.level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
