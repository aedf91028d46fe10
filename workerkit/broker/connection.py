"""Opening a connection, with the failure said in one line that names the fix."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import cast

import aio_pika
import aiormq
from aio_pika.abc import AbstractRobustConnection

from workerkit.config import BrokerSettings, mask_url
from workerkit.errors import BrokerUnavailable

log = logging.getLogger("workerkit.broker")

#: what a call on a channel or connection raises when the broker side went away: AMQP
#: errors, a call on a channel already closed (a RuntimeError in aiormq), and the socket's own
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    OSError,
)

HOW_TO_START = "start RabbitMQ with 'bash scripts/services.sh' (or 'rabbitmq-server -detached')"


async def connect(
    settings: BrokerSettings, *, name: str = "workerkit"
) -> aio_pika.abc.AbstractConnection:
    """A plain (not robust) connection: the worker runs its own reconnect loop, so that it
    re-declares its whole topology and logs each state change once."""
    return await _open(aio_pika.connect, settings, name)


async def connect_robust(settings: BrokerSettings, *, name: str) -> AbstractRobustConnection:
    """For short-lived publishers (CLI, ``app.publish``) that want aio-pika's reconnects."""
    return cast(AbstractRobustConnection, await _open(aio_pika.connect_robust, settings, name))


async def _open(
    factory: Callable[..., Awaitable[aio_pika.abc.AbstractConnection]],
    settings: BrokerSettings,
    name: str,
) -> aio_pika.abc.AbstractConnection:
    url = settings.url.get_secret_value()
    try:
        return await asyncio.wait_for(
            factory(
                url,
                timeout=settings.connect_timeout,
                client_properties={"connection_name": name},
                heartbeat=settings.heartbeat,
            ),
            timeout=settings.connect_timeout + 1,
        )
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
        reason = type(exc).__name__ if not str(exc) else str(exc).replace(url, mask_url(url))
        raise BrokerUnavailable(
            f"cannot reach RabbitMQ at {mask_url(url)} ({reason:.200}); {HOW_TO_START}"
        ) from None
