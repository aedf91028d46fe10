"""DeadLetterStore.add throughput from many threads, one committed row per call.

This is the database half of the worker's dead-letter path (the worker calls ``add`` through
``asyncio.to_thread``), measured alone so a slow run of the full path can be blamed on the
right half. Target: at least 1,200 rows/s on PostgreSQL from 20 threads.

    python bench/bench_store_add.py [--rows 4000] [--threads 20] [--postgres URL]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from deadletter_fixtures import POSTGRES, migrated_schema, sample_record

from workerkit.deadletters.store import DeadLetterStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--postgres", default=POSTGRES)
    args = parser.parse_args()

    records = [sample_record("bench", n, body_size=2000) for n in range(args.rows)]
    with migrated_schema(args.postgres) as url:
        store = DeadLetterStore(url, pool_size=args.threads)
        try:
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(store.add, records[: args.threads * 2]))  # open the connections
                started, cpu = time.perf_counter(), time.process_time()
                ids = list(pool.map(store.add, records))
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            store.close()
    assert len(set(ids)) == args.rows
    print(f"rows {args.rows}, threads {args.threads}")
    print(f"add() on PostgreSQL   {args.rows / elapsed:8.0f} rows/s  (target >= 1200)")
    print(f"client CPU per row    {cpu / args.rows * 1000:8.2f} ms (this process, all threads)")


if __name__ == "__main__":
    main()
