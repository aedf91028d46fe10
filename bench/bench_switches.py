"""Benchmark of SwitchManager against baselines measured in the same run (not a test).

    PYTHONPATH=. python bench/bench_switches.py [--hosts 127.0.0.1:2181] [--flips 100]

1. ``is_on`` cost per call next to a plain dict lookup and a cachetools TTLCache lookup.
2. Flip-to-callback latency (p50/p99): a ``set`` of a switch node until our listener runs,
   next to a ``set`` of another node until a kazoo DataWatch callback runs, interleaved.
Uses its own ZooKeeper root and removes it afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import timeit

from cachetools import TTLCache
from kazoo.client import KazooClient
from kazoo.recipe.watchers import DataWatch

from workerkit.switches import SwitchManager
from workerkit.zk import ZkClient

DIGEST = "bench:bench-secret"


def ns_per_call(stmt: str, number: int = 1_000_000, **names: object) -> float:
    """Best of 5 timeit runs of ``stmt`` (a call expression on ``names``)."""
    return min(timeit.repeat(stmt, number=number, repeat=5, globals=names)) / number * 1e9


def bench_reads(manager: SwitchManager) -> None:
    plain = {"checkout-v2": True}
    ttl: TTLCache[str, bool] = TTLCache(maxsize=1024, ttl=3600)
    ttl["checkout-v2"] = True
    rows = [
        ("dict.get (baseline)", ns_per_call("get('checkout-v2')", get=plain.get)),
        ("TTLCache.get (baseline)", ns_per_call("get('checkout-v2')", get=ttl.get)),
        ("is_on(name)", ns_per_call("is_on('checkout-v2')", is_on=manager.is_on)),
        ("is_on(missing name)", ns_per_call("is_on('nope')", is_on=manager.is_on)),
        ("is_on(name, key) 30% rollout", ns_per_call("is_on('ramp', key=42)", is_on=manager.is_on)),
    ]
    base = rows[0][1]
    print("\nis_on cost, best of 5 x 1,000,000 calls")
    for label, ns in rows:
        print(f"  {label:<30} {ns:7.1f} ns/call   {ns / base:5.1f}x dict")
    print(f"  is_on / TTLCache = {rows[2][1] / rows[1][1]:.2f}   (target: is_on < 250 ns)")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def bench_flips(hosts: str, root: str, manager: SwitchManager, flips: int) -> None:
    writer = KazooClient(hosts=hosts, auth_data=[("digest", DIGEST)])
    watcher = KazooClient(hosts=hosts)
    writer.start(timeout=10)
    watcher.start(timeout=10)
    writer.ensure_path(f"{root}/plain")
    fired = threading.Event()
    seen_at: list[float] = []

    def on_switch(name: str, old: object, new: object) -> None:
        seen_at.append(time.perf_counter())
        fired.set()

    def on_data(data: bytes | None, stat: object, event: object = None) -> None:
        if event is not None:
            seen_at.append(time.perf_counter())
            fired.set()

    manager.add_listener("flip", on_switch)
    DataWatch(watcher, f"{root}/plain", on_data)
    ours: list[float] = []
    kazoos: list[float] = []
    for i in range(flips):
        for path, sink in ((f"{root}/switches/flip", ours), (f"{root}/plain", kazoos)):
            fired.clear()
            seen_at.clear()
            started = time.perf_counter()
            writer.set(path, json.dumps({"on": i % 2 == 0}).encode())
            if not fired.wait(5):
                raise SystemExit(f"no callback for {path} within 5 s")
            sink.append((seen_at[0] - started) * 1000)
    writer.stop()
    watcher.stop()
    print(f"\nflip-to-callback latency over {flips} flips (ms)")
    for label, xs in (("kazoo set -> DataWatch", kazoos), ("switch set -> listener", ours)):
        print(
            f"  {label:<24} p50 {percentile(xs, 50):6.2f}   p99 {percentile(xs, 99):6.2f}"
            f"   mean {statistics.fmean(xs):6.2f}"
        )
    print(
        f"  ratio ours/kazoo: p50 {percentile(ours, 50) / percentile(kazoos, 50):.2f}x, "
        f"p99 {percentile(ours, 99) / percentile(kazoos, 99):.2f}x   (target: p99 <= 2x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", default="127.0.0.1:2181")
    parser.add_argument("--flips", type=int, default=100)
    args = parser.parse_args()
    root = f"/workerkit-bench-{os.getpid()}"
    admin = ZkClient(args.hosts, admin_digest=DIGEST)
    admin.start()
    from workerkit.switches.admin import SwitchAdmin

    switch_admin = SwitchAdmin(admin, root)
    for name, fields in (("checkout-v2", {}), ("ramp", {"percent": 30}), ("flip", {})):
        switch_admin.update(name, fields, by="bench", reason="benchmark")
    with tempfile.TemporaryDirectory() as tmp:
        manager = SwitchManager(hosts=args.hosts, root=root, snapshot_path=f"{tmp}/s.json")
        manager.start()
        try:
            if not manager.wait_synced(10):
                raise SystemExit(f"ZooKeeper on {args.hosts} did not answer")
            bench_reads(manager)
            bench_flips(args.hosts, root, manager, args.flips)
        finally:
            manager.stop()
            cleaner = KazooClient(hosts=args.hosts, auth_data=[("digest", DIGEST)])
            cleaner.start(timeout=10)
            cleaner.delete(root, recursive=True)
            cleaner.stop()
            admin.stop()


if __name__ == "__main__":
    main()
