"""Messages per second of a workerkit consumer next to plain aio-pika, on the same broker.

    python bench/bench_throughput.py [--messages 20000] [--prefetch 20]

Each case runs in a fresh process against a pre-loaded queue:
  (a) plain aio-pika, manual ack per message, prefetch N;
  (b) workerkit, no-op handler, concurrency N;
  then both again with a handler that awaits 10 ms at concurrency 20 (ideal: 2,000/s).
Prints rates, the ratios to plain aio-pika and to the ideal, and each process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import uuid

import aio_pika
import aiormq
from pamqp.commands import Basic

URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


async def preload(queue: str, n: int) -> None:
    conn = await aiormq.connect(URL)
    ch = await conn.channel()
    await ch.confirm_delivery()
    await ch.queue_declare(queue, durable=True)
    props = Basic.Properties(content_type="application/json", delivery_mode=2)
    for start in range(0, n, 1000):
        await asyncio.gather(
            *(
                ch.basic_publish(
                    json.dumps({"i": i, "order_id": "ORD-1", "buyers": [1, 2, 3]}).encode(),
                    routing_key=queue,
                    properties=props,
                )
                for i in range(start, min(start + 1000, n))
            )
        )
    await conn.close()


async def run_plain(queue: str, n: int, prefetch: int, sleep: float) -> float:
    conn = await aio_pika.connect(URL)
    ch = await conn.channel()
    await ch.set_qos(prefetch_count=prefetch)
    q = await ch.declare_queue(queue, durable=True)
    done = asyncio.Event()
    count = 0

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal count
        json.loads(message.body)
        if sleep:
            await asyncio.sleep(sleep)
        await message.ack()
        count += 1
        if count == n:
            done.set()

    started = time.perf_counter()
    await q.consume(on_message)
    await done.wait()
    elapsed = time.perf_counter() - started
    await conn.close()
    return elapsed


async def run_workerkit(queue: str, n: int, prefetch: int, sleep: float) -> float:
    from workerkit import App, Message
    from workerkit.worker.runner import Worker

    app = App("bench")
    done = asyncio.Event()
    count = 0

    @app.consumer(queue, concurrency=prefetch)
    async def handle(message: Message) -> None:
        nonlocal count
        if sleep:
            await asyncio.sleep(sleep)
        count += 1
        if count == n:
            done.set()

    worker = Worker(app, install_signals=False)
    task = asyncio.create_task(worker.run())
    started = time.perf_counter()
    await done.wait()
    elapsed = time.perf_counter() - started
    worker.request_stop()
    await task
    return elapsed


def child(kind: str, queue: str, n: int, prefetch: int, sleep: float) -> None:
    fn = run_plain if kind == "plain" else run_workerkit
    elapsed = asyncio.run(fn(queue, n, prefetch, sleep))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"elapsed": elapsed, "rss_mb": rss_mb}))


def case(kind: str, n: int, prefetch: int, sleep: float) -> dict[str, float]:
    queue = f"bench.{kind}.{uuid.uuid4().hex[:8]}"
    asyncio.run(preload(queue, n))
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, queue, str(n), str(prefetch), str(sleep)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    subprocess.run(["rabbitmqctl", "-q", "delete_queue", queue], capture_output=True)
    for suffix in (
        ".retriable",
        ".retriable.1s",
        ".retriable.5s",
        ".retriable.30s",
        ".retriable.120s",
        ".dead",
    ):
        subprocess.run(["rabbitmqctl", "-q", "delete_queue", queue + suffix], capture_output=True)
    result = json.loads(out.strip().splitlines()[-1])
    result["rate"] = n / result["elapsed"]
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, kind, queue, n, prefetch, sleep = sys.argv
        child(kind, queue, int(n), int(prefetch), float(sleep))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--prefetch", type=int, default=20)
    parser.add_argument("--slow-messages", type=int, default=10_000)
    args = parser.parse_args()

    print(f"no-op handler, {args.messages} messages, prefetch/concurrency {args.prefetch}")
    plain = case("plain", args.messages, args.prefetch, 0)
    wk = case("workerkit", args.messages, args.prefetch, 0)
    print(f"  plain aio-pika : {plain['rate']:8.0f} msg/s  peak RSS {plain['rss_mb']:.0f} MB")
    print(
        f"  workerkit      : {wk['rate']:8.0f} msg/s  peak RSS {wk['rss_mb']:.0f} MB"
        f"  ratio {wk['rate'] / plain['rate']:.2f} (target >= 0.9)"
    )

    print(f"10 ms handler, {args.slow_messages} messages, concurrency 20 (ideal 2000 msg/s)")
    plain_s = case("plain", args.slow_messages, 20, 0.01)
    wk_s = case("workerkit", args.slow_messages, 20, 0.01)
    print(f"  plain aio-pika : {plain_s['rate']:8.0f} msg/s  {plain_s['rate'] / 2000:.2f} of ideal")
    print(
        f"  workerkit      : {wk_s['rate']:8.0f} msg/s  {wk_s['rate'] / 2000:.2f} of ideal"
        f"  ratio to plain {wk_s['rate'] / plain_s['rate']:.2f} (target >= 0.9 of ideal)"
    )
    print(f"worker peak RSS: {max(wk['rss_mb'], wk_s['rss_mb']):.0f} MB (target < 80 MB)")


if __name__ == "__main__":
    main()
