"""Elastic concurrency next to fixed concurrency, on the same broker, in one run.

    python bench/bench_concurrency.py [--messages 5000] [--rounds 3] [--idle 6]

Each case drains a pre-loaded queue with a handler that awaits 10 ms: fixed 5, fixed 20,
and elastic 5-20 (ideal at 20 slots: 2,000 msg/s). The rounds interleave the cases and the
median time is reported, so one slow moment on the machine does not decide a ratio. After
each elastic drain the worker stays up with an empty queue for ``--idle`` seconds; the mean
concurrency over that time (sampled every 50 ms) shows whether it returns to the minimum.

Targets (issue 5): elastic within 10% of fixed 20 under backlog; idle mean = the minimum.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aio_pika

from workerkit import App, Message
from workerkit.worker.runner import Worker

URL = "amqp://guest:guest@127.0.0.1:5672/"
CASES: dict[str, dict[str, int]] = {
    "fixed 5": {"concurrency": 5},
    "fixed 20": {"concurrency": 20},
    "elastic 5-20": {"min_concurrency": 5, "max_concurrency": 20},
}


@dataclass
class Result:
    seconds: float
    reached_max_after: float | None = None
    back_to_min_after: float | None = None
    idle_samples: list[int] = field(default_factory=list)


async def preload(worker: Worker, queue: str, n: int) -> None:
    """Declare the consumer's own topology, then publish ``n`` confirmed messages."""
    from workerkit.broker import topology as topo

    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await topo.apply(channel, worker.runtimes[queue].topology)
        body = json.dumps({"order_id": "ORD-000001"}).encode()
        for start in range(0, n, 1000):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(body, content_type="application/json"), queue
                    )
                    for _ in range(min(1000, n - start))
                )
            )


async def delete(worker: Worker) -> None:
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        for runtime in worker.runtimes.values():
            for spec in runtime.topology.all_queues():
                await channel.queue_delete(spec.name)


async def run_case(options: dict[str, int], n: int, idle: float) -> Result:
    queue = f"bench.concurrency.{uuid.uuid4().hex[:8]}"
    app = App("bench")
    done = asyncio.Event()
    count = 0

    @app.consumer(queue, **options)
    async def handle(message: Message) -> None:
        nonlocal count
        await asyncio.sleep(0.01)
        count += 1
        if count == n:
            done.set()

    worker = Worker(app, install_signals=False)
    await preload(worker, queue, n)
    started = time.monotonic()
    task = asyncio.create_task(worker.run())
    await done.wait()
    drained = time.monotonic()
    result = Result(seconds=drained - started)
    controller = worker.controllers.get(queue)
    if controller is not None:
        runtime = worker.runtimes[queue]
        while time.monotonic() - drained < idle:
            result.idle_samples.append(runtime.slots)
            await asyncio.sleep(0.05)
        history = list(controller.history)
        top = next((c for c in history if c.new == controller.policy.maximum), None)
        result.reached_max_after = top.at - started if top else None
        low = [c for c in history if c.new == controller.policy.minimum]
        result.back_to_min_after = low[-1].at - drained if low else None
    worker.request_stop()
    await task
    await app.close()
    await delete(worker)
    return result


async def main(n: int, rounds: int, idle: float) -> None:
    results: dict[str, list[Result]] = {name: [] for name in CASES}
    for r in range(rounds):
        order = list(CASES) if r % 2 == 0 else list(reversed(CASES))
        for name in order:
            results[name].append(await run_case(CASES[name], n, idle))
            print(f"  round {r + 1}: {name:<13} {results[name][-1].seconds:6.2f} s", flush=True)

    median = {name: statistics.median(x.seconds for x in rs) for name, rs in results.items()}
    ref = median["fixed 20"]
    print(f"\n{n} messages, 10 ms handler, median of {rounds} rounds", end="")
    print(f" (ideal at 20 slots: {n / 2000:.2f} s)")
    for name, seconds in median.items():
        print(
            f"  {name:<13} {seconds:6.2f} s  {n / seconds:6.0f} msg/s  "
            f"time / fixed 20 = {seconds / ref:.2f}"
        )
    elastic = results["elastic 5-20"]
    ratio = median["elastic 5-20"] / ref
    verdict = "ok" if ratio <= 1.10 else "MISSED"
    print(f"elastic time / fixed 20 time: {ratio:.2f} (target <= 1.10): {verdict}")
    print(f"elastic reached 20 after: {_fmt([e.reached_max_after for e in elastic])} s from start")
    print(f"elastic back at 5 after:  {_fmt([e.back_to_min_after for e in elastic])} s from drain")
    for label, skip in (("whole idle period", 0.0), ("idle, after the first 1.5 s", 1.5)):
        samples = [s for e in elastic for s in e.idle_samples[int(skip / 0.05) :]]
        print(f"elastic mean concurrency, {label}: {statistics.fmean(samples):.2f} (min 5)")


def _fmt(values: list[Any]) -> str:
    return ", ".join("-" if v is None else f"{v:.2f}" for v in values)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=6.0)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds, args.idle))
