"""What a handler receives beside the message: attempt, trace id, a logger and ``publish``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from workerkit.message import Message

if TYPE_CHECKING:
    from workerkit.broker.publisher import Publisher


#: the trace id of the message this task (or a sync handler's thread) is handling
HANDLING: ContextVar[str | None] = ContextVar("workerkit_handling", default=None)


def current_trace_id() -> str | None:
    """The trace id of the message being handled here, if any.

    ``App.publish`` copies it, as ``ctx.publish`` does, so a handler that publishes through a
    service function that only knows the app still keeps the trace unbroken.
    """
    return HANDLING.get()


class MessageLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every line with queue, message id, attempt and trace id."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        e = self.extra or {}
        prefix = f"[{e['queue']} id={e['message_id']} attempt={e['attempt']} trace={e['trace_id']}]"
        kwargs.setdefault("extra", {}).update(e)
        return f"{prefix} {msg}", kwargs


class Context:
    __slots__ = ("message", "queue", "consumer", "_publisher", "_log", "fallbacks")

    def __init__(
        self, message: Message, *, queue: str, consumer: str, publisher: Publisher | None
    ) -> None:
        self.message = message
        self.queue = queue
        self.consumer = consumer
        self._publisher = publisher
        self._log: MessageLogger | None = None
        #: names of circuit breakers whose fallback answered during this message
        self.fallbacks: list[str] = []

    @property
    def attempt(self) -> int:
        return self.message.attempt

    @property
    def trace_id(self) -> str:
        return self.message.trace_id

    @property
    def log(self) -> MessageLogger:
        if self._log is None:
            self._log = MessageLogger(
                logging.getLogger("workerkit.handler"),
                {
                    "queue": self.queue,
                    "message_id": self.message.message_id,
                    "attempt": self.message.attempt,
                    "trace_id": self.message.trace_id,
                },
            )
        return self._log

    async def publish(
        self,
        routing_key: str,
        body: Any,
        *,
        exchange: str = "",
        headers: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> str:
        """Publish (confirmed) a follow-up message that carries this message's trace id."""
        if self._publisher is None:
            raise RuntimeError("this context has no broker connection to publish on")
        return await self._publisher.send(
            routing_key,
            body,
            trace_id=self.message.trace_id,
            exchange=exchange,
            headers=headers,
            message_id=message_id,
        )
