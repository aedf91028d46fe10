"""Overhead per call of a closed breaker, next to the bare call and pybreaker, in one run.

Not a timed test: the numbers belong to the machine. From the repository root:

    PYTHONPATH=$PWD python bench/bench_breakers.py [--calls 100000] [--rounds 15]

Candidates are measured in turns, round after round, and each keeps its best round: a
busy neighbour then slows every candidate alike instead of whichever ran at the wrong
moment, and the ratios stay honest. Overhead is a figure minus its bare call's.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import pybreaker

from workerkit.breakers import CircuitBreaker
from workerkit.config import BreakerSettings


def noop() -> None:
    return None


async def anoop() -> None:
    return None


def sync_round(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - start) / calls


async def async_round(fn: Callable[[], Awaitable[object]], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        await fn()
    return (time.perf_counter_ns() - start) / calls


def measure(calls: int, rounds: int) -> dict[str, float]:
    ours = CircuitBreaker("bench", BreakerSettings())
    theirs = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
    sync: dict[str, Callable[[], object]] = {
        "sync bare call": noop,
        "sync workerkit @protect": ours.protect(noop),
        "sync lambda: bare call": lambda: noop(),
        "sync lambda: workerkit .call": lambda: ours.call(noop),
        "sync lambda: pybreaker .call": lambda: theirs.call(noop),
    }
    asynchronous: dict[str, Callable[[], Awaitable[object]]] = {
        "async bare await": anoop,
        "async workerkit @protect": ours.protect(anoop),
        "async lambda: workerkit .acall": lambda: ours.acall(anoop),
    }
    best = dict.fromkeys([*sync, *asynchronous], float("inf"))

    async def async_rounds() -> None:
        for label, fn in asynchronous.items():
            best[label] = min(best[label], await async_round(fn, calls))

    for _ in range(rounds):
        for label, fn in sync.items():
            best[label] = min(best[label], sync_round(fn, calls))
        asyncio.run(async_rounds())
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args()
    best = measure(options.calls, options.rounds)

    print(f"{'path':34} {'ns/call':>8} {'overhead':>9} {'x bare':>7}")
    for label, ns in best.items():
        kind = label.split()[0]
        bare_label = f"{kind} lambda: bare call" if "lambda" in label else f"{kind} bare call"
        bare = best.get(bare_label, best["async bare await"])
        print(f"{label:34} {ns:8.0f} {ns - bare:9.0f} {ns / bare:7.1f}")

    ours = best["sync workerkit @protect"] - best["sync bare call"]
    theirs = best["sync lambda: pybreaker .call"] - best["sync lambda: bare call"]
    print(
        f"\nsync overhead per call: workerkit {ours:.0f} ns, pybreaker {theirs:.0f} ns "
        f"(pybreaker costs {theirs / ours:.2f}x workerkit); target < 1000 ns: "
        f"{'met' if ours < 1000 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
