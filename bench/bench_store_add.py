"""DeadLetterStore.add throughput from many threads, one committed row per call.

This is the database half of the worker's dead-letter path (the worker calls ``add`` through
``asyncio.to_thread``), measured alone so a slow run of the full path can be blamed on the
right half. Target: at least 1,200 rows/s on PostgreSQL from 20 threads.

    python bench/bench_store_add.py [--rows 4000] [--threads 20] [--postgres URL]
"""

from __future__ import annotations

import argparse
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from workerkit.deadletters import DeadLetterRecord, DeadLetterStore
from workerkit.deadletters.schema import upgrade


def record(n: int) -> DeadLetterRecord:
    now = datetime.now(UTC)
    return DeadLetterRecord(
        queue="bench",
        consumer="bench",
        message_id=uuid.uuid4().hex,
        trace_id=uuid.uuid4().hex,
        exchange="",
        routing_key="bench",
        headers={"x-retry-count": 4, "tenant": "acme"},
        body=b'{"n": %d, "pad": "' % n + b"x" * 2000 + b'"}',
        content_type="application/json",
        properties={"delivery_mode": 2},
        attempts=5,
        error_type="builtins.TimeoutError",
        error_message="downstream timed out",
        traceback="Traceback (most recent call last):\n  ...\nTimeoutError\n",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--postgres", default="postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{args.postgres}?options=-csearch_path%3D{schema}"
    store = DeadLetterStore(url, pool_size=args.threads)
    try:
        upgrade(url)
        records = [record(n) for n in range(args.rows)]
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(store.add, records[: args.threads * 2]))  # open the pool's connections
            started, cpu = time.perf_counter(), time.process_time()
            ids = list(pool.map(store.add, records))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert len(set(ids)) == args.rows
        print(f"rows {args.rows}, threads {args.threads}")
        print(f"add() on PostgreSQL   {args.rows / elapsed:8.0f} rows/s  (target >= 1200)")
        print(f"client CPU per row    {cpu / args.rows * 1000:8.2f} ms (this process, all threads)")
    finally:
        store.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
