"""Bulk replay throughput against a plain confirmed publish of the same messages.

Usage (RabbitMQ and PostgreSQL running; a throwaway schema and two queues are created and
removed)::

    python bench/bench_replay.py [--rows 10000] [--postgres URL] [--amqp URL]

Both sides publish with publisher confirms, ``mandatory``, and the same number of messages
in flight, so the ratio shows what the database work of a replay (claim, decode, mark)
costs on top of publishing. The plain publish runs before and after the replay and the
faster run is the baseline, which builds each ``aio_pika.Message`` from ready Python values
as an application would (no JSON decoding). Not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aio_pika
from sqlalchemy import create_engine, text

from workerkit.deadletters import DeadLetterFilter, DeadLetterRecord, DeadLetterStore
from workerkit.deadletters.message import replay_message
from workerkit.deadletters.replay import ReplayOptions, replay_async
from workerkit.deadletters.schema import upgrade

WINDOW = 250


def record(queue: str, n: int) -> DeadLetterRecord:
    now = datetime.now(UTC)
    return DeadLetterRecord(
        queue=queue,
        consumer="bench",
        message_id=f"bench-{n}",
        trace_id=uuid.uuid4().hex,
        exchange="",
        routing_key=queue,
        headers={"x-retry-count": 4, "x-trace-id": uuid.uuid4().hex, "tenant": "acme"},
        body=(b'{"order": %d, "payload": "' % n) + b"x" * 400 + b'"}',
        content_type="application/json",
        properties={"delivery_mode": 2, "correlation_id": f"c{n}"},
        attempts=5,
        error_type="builtins.TimeoutError",
        error_message="downstream timed out",
        traceback="Traceback (most recent call last):\n  ...\nTimeoutError\n" * 5,
        fingerprint="0123456789abcdef",
        fault_location="bench:handler",
        reason="exhausted",
        history=[
            {"attempt": a, "error_type": "TimeoutError", "at": now.isoformat()} for a in range(5)
        ],
        first_failed_at=now,
        last_failed_at=now,
        replayed_from=None,
    )


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
    parser.add_argument("--postgres", default="postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    args = parser.parse_args()

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{args.postgres}?options=-csearch_path%3D{schema}"
    replay_queue, plain_queue = f"bench.replay.{schema}", f"bench.plain.{schema}"
    asyncio.run(declare(args.amqp, replay_queue, plain_queue))
    store = DeadLetterStore(url)
    try:
        upgrade(url)
        ids = store.add_many([record(replay_queue, n) for n in range(args.rows)])
        rows = store.rows(DeadLetterFilter(limit=args.rows))
        messages = [_values(replay_message(r)) for r in rows]

        before = asyncio.run(plain_publish(args.amqp, plain_queue, messages))
        started = time.perf_counter()
        report = asyncio.run(replay_async(store, args.amqp, ids, ReplayOptions(by="bench")))
        replayed = len(report.replayed) / (time.perf_counter() - started)
        assert len(report.replayed) == args.rows, report.failed or report.skipped
        after = asyncio.run(plain_publish(args.amqp, plain_queue, messages))
        plain = max(before, after)  # the broker's speed drifts; compare with its best

        print(f"rows                      {args.rows}")
        print(f"plain confirmed publish   {plain:8.0f} msg/s  (runs: {before:.0f}, {after:.0f})")
        print(f"bulk replay (PostgreSQL)  {replayed:8.0f} msg/s")
        print(f"ratio replay / plain      {replayed / plain:8.2f}  (target >= 0.5)")
    finally:
        store.close()
        asyncio.run(remove(args.amqp, replay_queue, plain_queue))
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
