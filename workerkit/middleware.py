"""Lifecycle hooks. Metrics, Sentry, Slack and tracing are all subclasses of :class:`Middleware`.

Every method does nothing by default and is named after the moment it runs. Hooks are plain
functions called on the event loop: keep them quick, hand slow work (HTTP posts) to a task.
A hook that raises is logged at CRITICAL and never decides a message's fate.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workerkit.context import Context

log = logging.getLogger("workerkit.middleware")


class Middleware:
    def after_worker_boot(self, queues: list[str]) -> None: ...

    def before_worker_shutdown(self, queues: list[str]) -> None: ...

    def before_process_message(self, ctx: Context) -> None: ...

    def after_process_message(
        self, ctx: Context, *, outcome: str, exception: BaseException | None, duration: float
    ) -> None:
        """``outcome`` is one of ``ok``, ``retry``, ``dead``, ``parked``, ``invalid`` or
        ``requeued`` (the failure could not be recorded; the broker redelivers it)."""

    def after_consumer_paused(self, queue: str, reasons: frozenset[str]) -> None: ...

    def after_consumer_resumed(self, queue: str) -> None: ...

    def after_concurrency_change(self, queue: str, old: int, new: int, why: str) -> None: ...

    def after_connection_state(self, state: str, detail: str) -> None: ...

    def after_breaker_state_change(self, event: Any) -> None: ...


class MiddlewareChain:
    """Calls a hook on every middleware, isolating each one's failures."""

    def __init__(self, middleware: list[Middleware]) -> None:
        self.middleware = middleware

    def emit(self, hook: str, *args: Any, **kwargs: Any) -> None:
        for m in self.middleware:
            try:
                getattr(m, hook)(*args, **kwargs)
            except Exception:
                log.critical("middleware %s failed in %s", type(m).__name__, hook, exc_info=True)
