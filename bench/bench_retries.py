"""The failure paths next to the success path, in one run on the same broker.

    python bench/bench_retries.py [--retry-messages 5000] [--dead-messages 2000]

  success:   N messages, no-op handler (the baseline)
  retry:     N messages that fail once, then succeed (retry queue delay 0.05 s). Two figures:
             the retry step (every message delivered, failed, copied to the retry queue with
             the copy confirmed, then acked) and end to end (every message also came back and
             succeeded: two deliveries and a confirmed copy per message)
  dead:      M messages that always fail with max_attempts 1, into a PostgreSQL
             dead_letters table (a schema of its own, dropped afterwards)
  raw:       the same success and retry shapes written directly on aio-pika (no framework),
             so the broker's own share of the cost shows in the same run

Rates are messages per second from the consumer's start to the last outcome; ratios are to the
success path of the same client. Logging goes through configure_logging, as in `workerkit run`,
into /dev/null. BENCH_CONCURRENCY (default 20) sets the handler slots (and the raw prefetch).
Targets: retry >= 0.45 of success; dead >= 1,200 msg/s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import aio_pika
from bench_throughput import preload  # noqa: E402 - same folder
from deadletter_fixtures import POSTGRES, migrated_schema, sample_record

from workerkit import App, Message, Settings
from workerkit.config import BrokerSettings, SecretUrl
from workerkit.deadletters.store import DeadLetterStore
from workerkit.middleware import Middleware
from workerkit.observability import configure_logging
from workerkit.worker.runner import Worker

URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PG = os.environ.get("BENCH_POSTGRES_URL", POSTGRES)
SLOTS = int(os.environ.get("BENCH_CONCURRENCY", "20"))
DELAY = 0.05


class Timings:
    """When the first outcome of each kind reached n."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.started = time.perf_counter()
        self.counts: dict[str, int] = {}
        self.at: dict[str, float] = {}
        self.done = asyncio.Event()

    def count(self, outcome: str, last: str) -> None:
        seen = self.counts[outcome] = self.counts.get(outcome, 0) + 1
        if seen == self.n:
            self.at[outcome] = time.perf_counter() - self.started
            if outcome == last:
                self.done.set()

    def rate(self, outcome: str) -> float:
        return self.n / self.at[outcome]


async def drain(kind: str, n: int, store: DeadLetterStore | None) -> Timings:
    settings = Settings(broker=BrokerSettings(url=SecretUrl(URL)))
    app = App("bench", settings=settings)
    queue = f"bench.{kind}.{uuid.uuid4().hex[:8]}"
    seen: set[int] = set()
    last = {"success": "ok", "retry": "ok", "dead": "dead"}[kind]
    timings = Timings(n)

    @app.consumer(
        queue,
        concurrency=SLOTS,
        max_attempts=1 if kind == "dead" else 3,
        retry_delays=[DELAY],
    )
    async def handle(message: Message) -> None:
        i = message.body["i"]
        if kind == "retry" and i not in seen:
            seen.add(i)
            raise ConnectionError("first attempt fails")
        if kind == "dead":
            raise ValueError("always fails")

    class Count(Middleware):
        def after_process_message(self, ctx, *, outcome, exception, duration):  # noqa: ANN001
            timings.count("dead" if outcome == "parked" else outcome, last)

    app.add_middleware(Count())
    await preload(queue, n)
    worker = Worker(app, install_signals=False, store=store)
    timings.started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    await timings.done.wait()
    worker.request_stop()
    await task
    await app.close()
    return timings


async def raw(kind: str, n: int) -> Timings:
    """The same shapes on aio-pika alone: ack, or a confirmed copy with x-retry-count, then ack."""
    queue = f"bench.raw.{uuid.uuid4().hex[:8]}"
    await preload(queue, n)
    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=SLOTS)
    source = await channel.declare_queue(queue, durable=True)
    publisher = await connection.channel(publisher_confirms=True)
    retry_queue = await publisher.declare_queue(
        f"{queue}.retriable",
        durable=True,
        arguments={
            "x-message-ttl": int(DELAY * 1000),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queue,
        },
    )
    timings = Timings(n)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        headers = dict(message.headers)
        if kind == "retry" and not headers.get("x-retry-count"):
            copy = aio_pika.Message(
                message.body,
                headers={**headers, "x-retry-count": 1},
                message_id=message.message_id,
                content_type=message.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await publisher.default_exchange.publish(copy, routing_key=retry_queue.name)
            await message.ack()
            timings.count("retry", "ok")
            return
        await message.ack()
        timings.count("ok", "ok")

    timings.started = time.perf_counter()
    await source.consume(on_message)
    await timings.done.wait()
    await source.delete(if_unused=False)
    await retry_queue.delete(if_unused=False)
    await connection.close()
    return timings


def store_alone(store: DeadLetterStore, n: int) -> float:
    """The issue's reference: one committed 2 KB row per transaction, from as many threads as
    the worker has slots."""
    records = [sample_record("bench.reference", i, body_size=2000) for i in range(n)]
    with ThreadPoolExecutor(SLOTS) as pool:
        list(pool.map(store.add, records[: SLOTS * 2]))  # open the connections
        started = time.perf_counter()
        list(pool.map(store.add, records))
        return n / (time.perf_counter() - started)


async def main(retry_n: int, dead_n: int) -> None:
    with migrated_schema(PG) as url:
        store = DeadLetterStore(url)
        try:
            raw_success = (await raw("success", retry_n)).rate("ok")
            raw_retry = await raw("retry", retry_n)
            success = (await drain("success", retry_n, None)).rate("ok")
            retry = await drain("retry", retry_n, None)
            success_dead = (await drain("success", dead_n, None)).rate("ok")
            dead = (await drain("dead", dead_n, store)).rate("dead")
            reference = store_alone(store, dead_n)
        finally:
            store.close()

    def line(name: str, rate: float, base: float, note: str = "") -> None:
        print(f"  {name:<34}{rate:7.0f} msg/s  {rate / base:5.2f} of success{note}")

    print(f"{retry_n} messages, {SLOTS} slots (raw: prefetch {SLOTS}), retry delay {DELAY} s")
    print("workerkit")
    line("success path", success, success)
    line("retry step (copy confirmed, ack)", retry.rate("retry"), success)
    line("retry end to end (fail, succeed)", retry.rate("ok"), success, "  (target >= 0.45)")
    print("plain aio-pika, same shapes")
    line("success path", raw_success, raw_success)
    line("retry step (copy confirmed, ack)", raw_retry.rate("retry"), raw_success)
    line("retry end to end (fail, succeed)", raw_retry.rate("ok"), raw_success)
    print("workerkit / plain aio-pika")
    for name, ours, theirs in (
        ("success path", success, raw_success),
        ("retry step", retry.rate("retry"), raw_retry.rate("retry")),
        ("retry end to end", retry.rate("ok"), raw_retry.rate("ok")),
    ):
        print(f"  {name:<34}{ours / theirs:5.2f}")
    print(f"dead-letter path, {dead_n} messages, PostgreSQL")
    line("success path", success_dead, success_dead)
    line("dead path", dead, success_dead, "  (target >= 1,200 msg/s)")
    print(
        f"  {'store alone, 1 row per commit':<34}{reference:7.0f} rows/s"
        f"  dead path / store alone {dead / reference:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--retry-messages", type=int, default=5000)
    parser.add_argument("--dead-messages", type=int, default=2000)
    args = parser.parse_args()
    configure_logging(Settings(), stream=open(os.devnull, "w"))  # noqa: SIM115 - process-wide
    asyncio.run(main(args.retry_messages, args.dead_messages))
