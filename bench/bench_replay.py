"""Bulk replay throughput against a plain confirmed publish of the same messages.

Usage (RabbitMQ and PostgreSQL running; a throwaway schema and two queues are created and
removed)::

    python bench/bench_replay.py [--rows 10000] [--postgres URL] [--amqp URL]

Both sides publish with publisher confirms, ``mandatory``, and the same number of messages
in flight, so the ratio shows what the database work of a replay (claim, decode, mark)
costs on top of publishing. The plain publish runs before and after the replay and their
mean is the baseline (the ratio to the faster run is printed too); it builds each
``aio_pika.Message`` from ready Python values as an application would (no JSON decoding).
Not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import aio_pika
from deadletter_fixtures import POSTGRES, migrated_schema, sample_record

from workerkit.deadletters.message import replay_message
from workerkit.deadletters.query import DeadLetterFilter
from workerkit.deadletters.replay import ReplayOptions, replay_async
from workerkit.deadletters.store import DeadLetterStore

WINDOW = 250


async def plain_publish(amqp_url: str, queue: str, messages: list[dict[str, Any]]) -> float:
    """What an application does: build each message from its values and publish it."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = channel.default_exchange
        started = time.perf_counter()
        for start in range(0, len(messages), WINDOW):
            await asyncio.gather(
                *(
                    exchange.publish(aio_pika.Message(**m), queue, mandatory=True)
                    for m in messages[start : start + WINDOW]
                )
            )
        return len(messages) / (time.perf_counter() - started)


async def declare(amqp_url: str, *names: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for name in names:
            await channel.declare_queue(name, arguments={"x-expires": 600_000})


async def remove(amqp_url: str, *names: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)


def _values(message: aio_pika.Message) -> dict[str, Any]:
    return {
        "body": message.body,
        "headers": dict(message.headers),
        "content_type": message.content_type,
        "message_id": message.message_id,
        "correlation_id": message.correlation_id,
        "delivery_mode": message.delivery_mode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--postgres", default=POSTGRES)
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    args = parser.parse_args()

    replay_queue = f"bench.replay.{uuid.uuid4().hex[:8]}"
    plain_queue = f"bench.plain.{uuid.uuid4().hex[:8]}"
    asyncio.run(declare(args.amqp, replay_queue, plain_queue))
    try:
        with migrated_schema(args.postgres) as url:
            store = DeadLetterStore(url)
            try:
                measure(store, args.amqp, args.rows, replay_queue, plain_queue)
            finally:
                store.close()
    finally:
        asyncio.run(remove(args.amqp, replay_queue, plain_queue))


def measure(
    store: DeadLetterStore, amqp: str, count: int, replay_queue: str, plain_queue: str
) -> None:
    ids = store.add_many([sample_record(replay_queue, n, body_size=400) for n in range(count)])
    messages = [_values(replay_message(r)) for r in store.rows(DeadLetterFilter(limit=count))]

    before = asyncio.run(plain_publish(amqp, plain_queue, messages))
    started = time.perf_counter()
    report = asyncio.run(replay_async(store, amqp, ids, ReplayOptions(by="bench")))
    replayed = len(report.replayed) / (time.perf_counter() - started)
    assert len(report.replayed) == count, report.failed or report.skipped
    after = asyncio.run(plain_publish(amqp, plain_queue, messages))
    plain = (before + after) / 2  # the broker's speed drifts during a run; bracket the replay

    print(f"rows                      {count}")
    print(f"plain confirmed publish   {plain:8.0f} msg/s  (runs: {before:.0f}, {after:.0f})")
    print(f"bulk replay (PostgreSQL)  {replayed:8.0f} msg/s")
    print(f"ratio replay / plain      {replayed / plain:8.2f}  (target >= 0.5)")
    print(f"ratio to the faster plain {replayed / max(before, after):8.2f}  (the pessimistic view)")


if __name__ == "__main__":
    main()
