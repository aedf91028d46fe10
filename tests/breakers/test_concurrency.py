"""Many callers at once: never serialised, and the counts stay exact."""

from __future__ import annotations

import asyncio
import threading
import time

from breaker_support import FakeClock, MakeBreaker

from workerkit.breakers import CircuitBreaker, State
from workerkit.config import BreakerSettings


async def test_a_thousand_coroutines_run_through_one_breaker_at_the_same_time() -> None:
    breaker = CircuitBreaker("tms-api", BreakerSettings(slow_call_duration=10.0))
    in_flight = 0
    peak = 0

    @breaker
    async def call() -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return "ok"

    started = time.perf_counter()
    results = await asyncio.gather(*(call() for _ in range(1000)))
    elapsed = time.perf_counter() - started

    assert results == ["ok"] * 1000
    assert peak == 1000  # all were inside the breaker together
    assert elapsed < 1.0  # serialised, the thousand calls would take 50 s
    assert breaker.status().calls == 100  # the default window holds the last 100


async def test_concurrent_half_open_coroutines_get_only_the_permitted_probes(
    make_breaker: MakeBreaker, clock: FakeClock
) -> None:
    breaker = make_breaker(half_open_calls=3, fallback=None)
    breaker.set_override("force_open")
    breaker.set_override("auto")  # leaving force_open enters half-open
    release = asyncio.Event()

    async def probe() -> str:
        await release.wait()
        return "ok"

    tasks = [asyncio.create_task(breaker.acall(probe)) for _ in range(10)]
    await asyncio.sleep(0)  # let every task reach the breaker
    release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert outcomes.count("ok") == 3
    assert breaker.rejected == 7
    assert breaker.state is State.CLOSED


def test_threads_calling_a_sync_function_keep_exact_counts(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(window_size=100_000, minimum_calls=100_000)
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(2_000):
            breaker.call(lambda: None)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.status().calls == 16_000
