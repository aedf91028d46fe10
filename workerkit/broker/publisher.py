"""Confirmed, persistent, mandatory publishing: a message is either taken or an error raised."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, DeliveryMode

from workerkit.errors import PublishNotConfirmed, Unroutable
from workerkit.message import TRACE_HEADER, encode_body, new_id

#: AMQP basic properties a caller may pass through ``properties=``.
PROPERTY_NAMES = frozenset(
    {
        "content_encoding",
        "correlation_id",
        "reply_to",
        "expiration",
        "timestamp",
        "message_type",
        "user_id",
        "app_id",
        "priority",
    }
)


class Publisher:
    """Publishes on one channel opened with publisher confirms.

    ``publish`` returns only after the broker confirmed the message, so a caller that acks an
    incoming message afterwards never loses it.
    """

    def __init__(self, channel: AbstractChannel, *, confirm_timeout: float = 10.0) -> None:
        self.channel = channel
        self.confirm_timeout = confirm_timeout
        self._exchanges: dict[str, AbstractExchange] = {}

    @classmethod
    async def open(
        cls, connection: aio_pika.abc.AbstractConnection, *, confirm_timeout: float = 10.0
    ) -> Publisher:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        return cls(channel, confirm_timeout=confirm_timeout)

    async def _exchange(self, name: str) -> AbstractExchange:
        if not name:
            return self.channel.default_exchange
        exchange = self._exchanges.get(name)
        if exchange is None:
            exchange = await self.channel.get_exchange(name, ensure=False)
            self._exchanges[name] = exchange
        return exchange

    async def publish(
        self,
        routing_key: str,
        body: bytes,
        *,
        exchange: str = "",
        headers: Mapping[str, Any] | None = None,
        message_id: str | None = None,
        content_type: str | None = None,
        properties: Mapping[str, Any] | None = None,
        mandatory: bool = True,
    ) -> str:
        """Send and wait for the confirm; returns the message id. Raises
        :class:`Unroutable` when no queue took it and :class:`PublishNotConfirmed` on a nack
        or timeout."""
        message_id = message_id or new_id()
        extra = {
            ("type" if k == "message_type" else k): v
            for k, v in (properties or {}).items()
            if k in PROPERTY_NAMES and v is not None
        }
        message = aio_pika.Message(
            body,
            headers=dict(headers or {}),
            content_type=content_type,
            message_id=message_id,
            delivery_mode=DeliveryMode.PERSISTENT,
            **extra,
        )
        target = await self._exchange(exchange)
        try:
            await target.publish(
                message, routing_key, mandatory=mandatory, timeout=self.confirm_timeout
            )
        except aiormq.exceptions.PublishError as exc:
            raise Unroutable(
                f"no queue is bound for exchange {exchange or '(default)'!r} and routing key "
                f"{routing_key!r}; the message was returned, not lost"
            ) from exc
        except aiormq.exceptions.DeliveryError as exc:
            raise PublishNotConfirmed(f"broker refused message {message_id}: {exc}") from exc
        except TimeoutError as exc:
            raise PublishNotConfirmed(
                f"no confirm for message {message_id} within {self.confirm_timeout} s"
            ) from exc
        return message_id

    async def send(
        self,
        routing_key: str,
        body: Any,
        *,
        trace_id: str,
        exchange: str = "",
        headers: Mapping[str, Any] | None = None,
        message_id: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """``publish`` for application values: encodes ``body`` (bytes as they are, else
        JSON) and stamps the trace id, which wins over one passed in ``headers``."""
        raw, default_type = encode_body(body)
        return await self.publish(
            routing_key,
            raw,
            exchange=exchange,
            headers={**(headers or {}), TRACE_HEADER: trace_id},
            message_id=message_id,
            content_type=content_type or default_type,
        )
