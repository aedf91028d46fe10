"""The broker objects a consumer needs, as a plan built by small pure functions.

The plan is applied at start and again after every reconnect. Declarations are idempotent;
a queue that exists with other arguments is reported with the fix instead of a bare
PRECONDITION_FAILED.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel

from workerkit.errors import ConfigError, ConsumerDefinitionError

RETRY_SUFFIX = ".retriable"
PARKING_SUFFIX = ".dead"
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")


def validate_queue_name(name: str) -> None:
    if not isinstance(name, str) or not _QUEUE_NAME.match(name):
        raise ConsumerDefinitionError(
            f"queue {name!r}: use 1-200 letters, digits, '.', '-', '_' or ':'"
        )
    if name.startswith("amq."):
        raise ConsumerDefinitionError(f"queue {name!r}: names starting with 'amq.' are reserved")
    if RETRY_SUFFIX in name or name.endswith(PARKING_SUFFIX):
        raise ConsumerDefinitionError(
            f"queue {name!r}: '{RETRY_SUFFIX}' and '{PARKING_SUFFIX}' name workerkit's own queues"
        )


def delay_label(delay: float) -> str:
    """``30`` -> ``30s``, ``0.25`` -> ``0.25s``: readable in the management UI."""
    return f"{delay:g}s"


def retry_queue_name(queue: str, delay: float, single: bool) -> str:
    return f"{queue}{RETRY_SUFFIX}" if single else f"{queue}{RETRY_SUFFIX}.{delay_label(delay)}"


def parking_queue_name(queue: str) -> str:
    return f"{queue}{PARKING_SUFFIX}"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Binding:
    queue: str
    exchange: str
    routing_key: str
    exchange_type: str = "topic"


@dataclass
class ConsumerTopology:
    """Queues and bindings of one consumer; retry queues for ad-hoc delays are added later."""

    queue: QueueSpec
    bindings: list[Binding]
    retry_queues: dict[float, QueueSpec]
    parking: QueueSpec
    single_delay: bool

    def retry_queue_for(self, delay: float) -> tuple[QueueSpec, bool]:
        """The queue for ``delay``; the bool says whether it is new and must be declared."""
        spec = self.retry_queues.get(delay)
        if spec is not None:
            return spec, False
        name = retry_queue_name(self.queue.name, delay, single=False)
        spec = retry_queue_spec(name, self.queue.name, delay)
        self.retry_queues[delay] = spec
        return spec, True

    def all_queues(self) -> list[QueueSpec]:
        return [self.queue, *self.retry_queues.values(), self.parking]


def retry_queue_spec(name: str, target: str, delay: float) -> QueueSpec:
    # expired copies go back to the work queue through the default exchange
    return QueueSpec(
        name,
        {
            "x-message-ttl": max(1, round(delay * 1000)),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": target,
        },
    )


def plan(
    queue: str,
    *,
    queue_type: str,
    exchange: str | None,
    routing_keys: tuple[str, ...],
    exchange_type: str,
    delays: tuple[float, ...],
) -> ConsumerTopology:
    # classic is the server default; naming it would clash with queues declared without it
    args: dict[str, Any] = {"x-queue-type": queue_type} if queue_type != "classic" else {}
    single = len(delays) == 1
    retry = {d: retry_queue_spec(retry_queue_name(queue, d, single), queue, d) for d in delays}
    bindings = (
        [Binding(queue, exchange, rk, exchange_type) for rk in routing_keys] if exchange else []
    )
    return ConsumerTopology(
        QueueSpec(queue, args), bindings, retry, QueueSpec(parking_queue_name(queue), args), single
    )


class TopologyMismatch(ConfigError):
    """A queue exists with other arguments than the code asks for."""


async def declare_queue(channel: AbstractChannel, spec: QueueSpec) -> aio_pika.abc.AbstractQueue:
    try:
        return await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments)
    except aio_pika.exceptions.ChannelPreconditionFailed as exc:
        raise TopologyMismatch(
            f"queue {spec.name} exists with other arguments than {spec.arguments} ({exc}); "
            "drain and delete it (rabbitmqctl delete_queue) or change the consumer back"
        ) from None


async def apply(channel: AbstractChannel, topology: ConsumerTopology) -> aio_pika.abc.AbstractQueue:
    """Declare every queue and binding; returns the work queue."""
    work = await declare_queue(channel, topology.queue)
    for spec in topology.all_queues()[1:]:
        await declare_queue(channel, spec)
    for b in topology.bindings:
        exchange = await channel.declare_exchange(b.exchange, b.exchange_type, durable=True)
        await work.bind(exchange, routing_key=b.routing_key)
    return work
