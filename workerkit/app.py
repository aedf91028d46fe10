"""The App: settings, the consumer registry, middleware, and publishing from outside a handler."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import aio_pika

from workerkit.breakers import BreakerRegistry, CircuitBreaker, Fallback
from workerkit.breakers.events import StateChange
from workerkit.broker.connection import connect_robust
from workerkit.broker.publisher import Publisher
from workerkit.config import Settings
from workerkit.consumer import Consumer, build_consumer
from workerkit.errors import ConsumerDefinitionError
from workerkit.middleware import Middleware, MiddlewareChain
from workerkit.switches.manager import SwitchManager

H = TypeVar("H", bound=Callable[..., Any])


class App:
    """Holds what a worker process needs. Nothing connects until a worker runs or you publish.

    Without ``settings`` the App reads ``$WORKERKIT_CONFIG`` (if set) and the environment,
    so ``workerkit run --config`` and the environment apply to every app alike.
    """

    def __init__(
        self,
        name: str = "workerkit",
        *,
        settings: Settings | None = None,
        middleware: Sequence[Middleware] = (),
    ) -> None:
        self.name = name
        self.settings = settings if settings is not None else Settings.load()
        self.consumers: dict[str, Consumer] = {}
        self.middleware = MiddlewareChain(list(middleware))
        #: one circuit breaker per downstream dependency, configured by ``[breakers]``
        self.breakers = BreakerRegistry(self.settings.breakers)
        self.breakers.add_listener(self._breaker_changed)
        self._switches: SwitchManager | None = None
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._publisher: Publisher | None = None
        self._publisher_lock = asyncio.Lock()

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str] | None = None, *, name: str = "workerkit", **kwargs: Any
    ) -> App:
        """Settings from a TOML file (or ``$WORKERKIT_CONFIG``) plus environment overrides."""
        return cls(name, settings=Settings.load(path), **kwargs)

    def add_middleware(self, middleware: Middleware) -> None:
        self.middleware.middleware.append(middleware)

    def consumer(self, queue: str, **options: Any) -> Callable[[H], H]:
        """Register ``async def handle(message, ctx)`` (or a plain ``def``, run in a thread)
        as the consumer of ``queue``. Options are validated here, at import time."""

        def register(handler: H) -> H:
            if queue in self.consumers:
                raise ConsumerDefinitionError(
                    f"queue {queue!r} already has a consumer ({self.consumers[queue].name})"
                )
            self.consumers[queue] = build_consumer(queue, handler, self.settings, options)
            return handler

        return register

    @property
    def switches(self) -> SwitchManager:
        """Feature switches from ZooKeeper (``[zookeeper]``), read from memory.

        Created on first use and started by the worker (or by you with ``.start()``, which
        returns at once: reads serve the snapshot or defaults until ZooKeeper answers)."""
        if self._switches is None:
            self._switches = SwitchManager(self.settings.zookeeper)
        return self._switches

    @property
    def switches_started(self) -> bool:
        return self._switches is not None

    def breaker(
        self,
        name: str,
        *,
        fallback: Fallback | None = None,
        record: tuple[type[BaseException], ...] = (Exception,),
        ignore: tuple[type[BaseException], ...] = (),
    ) -> CircuitBreaker:
        """Configure the breaker guarding dependency ``name`` (settings come from
        ``[breakers]`` and ``[breakers.overrides.<name>]``)."""
        return self.breakers.register(name, fallback=fallback, record=record, ignore=ignore)

    def _breaker_changed(self, event: StateChange) -> None:
        self.middleware.emit("after_breaker_state_change", event)

    async def publish(
        self,
        routing_key: str,
        body: Any,
        *,
        exchange: str = "",
        headers: Mapping[str, Any] | None = None,
        message_id: str | None = None,
        trace_id: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """Publish one persistent message and wait for the broker's confirm.

        ``body`` may be bytes (sent as they are) or anything JSON-serialisable or a pydantic
        model; ``content_type`` overrides the type for bytes (e.g. JSON text sent as is).
        Raises :class:`workerkit.Unroutable` when no queue would receive it.
        """
        publisher = await self._get_publisher()
        return await publisher.send(
            routing_key,
            body,
            trace_id=trace_id,
            exchange=exchange,
            headers=headers,
            message_id=message_id,
            content_type=content_type,
        )

    async def _get_publisher(self) -> Publisher:
        async with self._publisher_lock:
            if self._publisher is None or self._publisher.channel.is_closed:
                if self._connection is None:
                    self._connection = await connect_robust(
                        self.settings.broker, name=f"{self.name} publisher"
                    )
                self._publisher = await Publisher.open(
                    self._connection, confirm_timeout=self.settings.broker.confirm_timeout
                )
            return self._publisher

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        self._connection = None
        self._publisher = None

    async def __aenter__(self) -> App:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
