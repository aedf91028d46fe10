"""From failure to fix: messages dead-lettered by a consumer are replayed and handled.

The consumer here is a stand-in for the worker's dispatch (which builds the same
DeadLetterRecord from an incoming message), so this module checks the operator's side of
the round trip without depending on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import traceback
from collections.abc import Callable
from datetime import UTC, datetime

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage
from click.testing import CliRunner

from tests.deadletters.amqp_helpers import drain
from workerkit.cli import cli
from workerkit.deadletters.query import DeadLetterFilter
from workerkit.deadletters.record import DeadLetterRecord
from workerkit.deadletters.store import DeadLetterStore

pytestmark = pytest.mark.integration
Handler = Callable[[AbstractIncomingMessage], None]


def record_for(message: AbstractIncomingMessage, queue: str, exc: Exception) -> DeadLetterRecord:
    now = datetime.now(UTC)
    headers = dict(message.headers)
    replayed_from = headers.get("x-replayed-from")
    return DeadLetterRecord(
        queue=queue,
        consumer="handle",
        message_id=message.message_id,
        trace_id=str(headers.get("x-trace-id")),
        exchange=message.exchange or "",
        routing_key=message.routing_key or queue,
        headers=headers,
        body=message.body,
        content_type=message.content_type,
        properties={"correlation_id": message.correlation_id},
        attempts=1,
        error_type=type(exc).__qualname__,
        error_message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
        fingerprint=hashlib.sha256(type(exc).__qualname__.encode()).hexdigest()[:16],
        fault_location="tests:handle",
        reason="non_retriable",
        history=[{"attempt": 1, "error_type": type(exc).__qualname__, "at": now.isoformat()}],
        first_failed_at=now,
        last_failed_at=now,
        replayed_from=int(replayed_from) if replayed_from is not None else None,
    )


async def consume(
    amqp_url: str, queue: str, count: int, handler: Handler, store: DeadLetterStore
) -> None:
    """Handle ``count`` messages; a failure becomes a row (committed) before the ack."""
    for message in await drain(amqp_url, queue, count):
        try:
            handler(message)
        except ValueError as exc:
            await asyncio.to_thread(store.add, record_for(message, queue, exc))


async def publish(amqp_url: str, queue: str, bodies: list[bytes]) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for n, body in enumerate(bodies):
            message = aio_pika.Message(
                body, message_id=f"m{n}", headers={"x-trace-id": f"t{n}"}, content_type="text/plain"
            )
            await channel.default_exchange.publish(message, queue)


def test_dead_letters_replayed_after_a_fix_reach_the_handler_byte_identical(
    store: DeadLetterStore, migrated_url: str, amqp_url: str, queue: str
) -> None:
    bodies = [b"order %d \xff\x00" % n for n in range(20)]
    asyncio.run(publish(amqp_url, queue, bodies))

    def broken(message: AbstractIncomingMessage) -> None:
        raise ValueError("downstream rejected the order")

    asyncio.run(consume(amqp_url, queue, len(bodies), broken, store))
    assert store.count(DeadLetterFilter(queue=queue, statuses=["dead"])) == len(bodies)

    env = {"WORKERKIT_DEADLETTERS_DATABASE_URL": migrated_url, "WORKERKIT_BROKER_URL": amqp_url}
    result = CliRunner().invoke(cli, ["dead-letters", "replay", "--queue", queue, "--yes"], env=env)
    assert result.exit_code == 0, result.output

    seen: list[bytes] = []
    asyncio.run(consume(amqp_url, queue, len(bodies), lambda m: seen.append(m.body), store))
    assert sorted(seen) == sorted(bodies)
    assert store.count(DeadLetterFilter(queue=queue, statuses=["replayed"])) == len(bodies)
    assert asyncio.run(drain(amqp_url, queue, 0)) == []


def test_a_replayed_message_that_fails_again_becomes_a_new_linked_row(
    store: DeadLetterStore, migrated_url: str, amqp_url: str, queue: str
) -> None:
    asyncio.run(publish(amqp_url, queue, [b"still broken"]))

    def broken(message: AbstractIncomingMessage) -> None:
        raise ValueError("still broken")

    asyncio.run(consume(amqp_url, queue, 1, broken, store))
    (first,) = store.ids(DeadLetterFilter(queue=queue))
    env = {"WORKERKIT_DEADLETTERS_DATABASE_URL": migrated_url, "WORKERKIT_BROKER_URL": amqp_url}
    assert CliRunner().invoke(cli, ["dead-letters", "replay", str(first)], env=env).exit_code == 0
    asyncio.run(consume(amqp_url, queue, 1, broken, store))

    first_row, second_row = store.rows(DeadLetterFilter(queue=queue))[::-1]
    assert second_row.replayed_from == first_row.id and first_row.status == "replayed"
    shown = CliRunner().invoke(cli, ["dead-letters", "show", str(first_row.id)], env=env)
    assert f"#{second_row.id} from #{first_row.id}" in shown.stdout
