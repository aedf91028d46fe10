"""The failure paths next to the success path, in one run on the same broker.

    python bench/bench_retries.py [--retry-messages 5000] [--dead-messages 2000]

  success:   N messages, no-op handler (the baseline)
  retry:     N messages that fail once, then succeed (retry queue delay 0.05 s): each one is
             a confirmed copy to the retry queue plus an ack, then a second delivery
  dead:      M messages that always fail with max_attempts 1, into a PostgreSQL
             dead_letters table (a schema of its own, dropped afterwards)

Rates are messages per second from the worker's start to the last outcome; ratios are to the
success path. BENCH_CONCURRENCY (default 20) sets the handler slots.
Targets: retry >= 0.45 of success; dead >= 1,200 msg/s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

from bench_throughput import preload  # noqa: E402 - same folder
from sqlalchemy import create_engine, text

from workerkit import App, Message, Settings
from workerkit.config import BrokerSettings, SecretUrl
from workerkit.deadletters.schema import upgrade
from workerkit.deadletters.store import DeadLetterStore
from workerkit.worker.runner import Worker

URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PG = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


async def drain(kind: str, n: int, store: DeadLetterStore | None) -> float:
    app = App("bench", settings=Settings(broker=BrokerSettings(url=SecretUrl(URL))))
    queue = f"bench.{kind}.{uuid.uuid4().hex[:8]}"
    done = asyncio.Event()
    seen: set[int] = set()
    outcomes = 0

    def finish() -> None:
        nonlocal outcomes
        outcomes += 1
        if outcomes == n:
            done.set()

    options = {
        "concurrency": int(os.environ.get("BENCH_CONCURRENCY", "20")),
        "max_attempts": 1 if kind == "dead" else 3,
        "retry_delays": [0.05],
    }

    @app.consumer(queue, **options)
    async def handle(message: Message) -> None:
        i = message.body["i"]
        if kind == "retry" and i not in seen:
            seen.add(i)
            raise ConnectionError("first attempt fails")
        if kind == "dead":
            raise ValueError("always fails")
        finish()

    class Count:
        def after_process_message(self, ctx, *, outcome, exception, duration):  # noqa: ANN001
            if kind == "dead" and outcome in ("dead", "parked"):
                finish()

    if kind == "dead":
        from workerkit.middleware import Middleware

        app.add_middleware(type("CountDead", (Count, Middleware), {})())
    await preload(queue, n)
    worker = Worker(app, install_signals=False, store=store)
    started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    await done.wait()
    elapsed = time.perf_counter() - started
    worker.request_stop()
    await task
    await app.close()
    return elapsed


async def timed(kind: str, n: int, store: DeadLetterStore | None) -> float:
    return n / await drain(kind, n, store)


async def main(retry_n: int, dead_n: int) -> None:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG}?options=-csearch_path%3D{schema}"
    upgrade(url)
    store = DeadLetterStore(url)
    try:
        success = await timed("success", retry_n, None)
        retry = await timed("retry", retry_n, None)
        success_dead = await timed("success", dead_n, None)
        dead = await timed("dead", dead_n, store)
    finally:
        store.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    print(f"success path : {success:7.0f} msg/s ({retry_n} messages, concurrency 20)")
    print(f"retry path   : {retry:7.0f} msg/s  ratio {retry / success:.2f} (target >= 0.45)")
    print(f"success path : {success_dead:7.0f} msg/s ({dead_n} messages)")
    print(
        f"dead path    : {dead:7.0f} msg/s  ratio {dead / success_dead:.2f}"
        f" (target >= 1200 msg/s on PostgreSQL)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--retry-messages", type=int, default=5000)
    parser.add_argument("--dead-messages", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.retry_messages, args.dead_messages))
