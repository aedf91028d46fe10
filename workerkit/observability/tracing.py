"""Trace ids in every log line written while a message is handled.

:class:`TracingMiddleware` puts the message's queue, id, attempt and trace id in a context
variable for the duration of the handler; :class:`TraceFilter`, installed on a log handler,
copies them onto each record. Library code and handlers can then log with a plain module
logger and still be found by trace id. Each handler slot is its own asyncio task with its
own copy of the context, so concurrent messages never see each other's ids.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING

from workerkit.middleware import Middleware

if TYPE_CHECKING:
    from workerkit.context import Context

#: the fields a record gets, and their value outside a message
FIELDS = ("queue", "message_id", "attempt", "trace_id")
NONE = "-"

_current: ContextVar[dict[str, str] | None] = ContextVar("workerkit_message", default=None)


def current_message() -> dict[str, str] | None:
    """Queue, message id, attempt and trace id of the message handled here, if any."""
    return _current.get()


class TracingMiddleware(Middleware):
    """Sets the logging context before a handler runs and clears it after.

    Put it first in the middleware list, so that what the others log carries the ids too.
    """

    def before_process_message(self, ctx: Context) -> None:
        _current.set(
            {
                "queue": ctx.queue,
                "message_id": ctx.message.message_id or NONE,
                "attempt": str(ctx.attempt),
                "trace_id": ctx.trace_id,
            }
        )

    def after_process_message(
        self, ctx: Context | None, *, outcome: str, exception: BaseException | None, duration: float
    ) -> None:
        _current.set(None)


class TraceFilter(logging.Filter):
    """Adds ``queue``, ``message_id``, ``attempt`` and ``trace_id`` to every record.

    Values a record already has (``ctx.log`` passes them as ``extra``) are kept, so the lines
    of a synchronous handler running in a thread still carry their ids. Install it on a
    handler, not a logger: logger filters do not see records from child loggers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        current = _current.get() or {}
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, current.get(name, NONE))
        return True
