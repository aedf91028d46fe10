"""Background tasks a worker starts on its own: kept while they run, dropped when they end,
and never dying silently."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.helpers import delete_queues, running_worker, wait_for
from workerkit import App, Message, Settings
from workerkit.config import BrokerSettings, SecretUrl
from workerkit.worker.runner import Worker


def make_app(queue: str, amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/") -> App:
    app = App("t", settings=Settings(broker=BrokerSettings(url=SecretUrl(amqp_url))))

    @app.consumer(queue, concurrency=4)
    async def handle(message: Message) -> None:
        pass

    return app


class FlakyGate:
    """Stands in for a PauseGate whose first question about timing fails."""

    def __init__(self) -> None:
        self.asked = 0
        self.checks = 0

    def next_check_in(self) -> float | None:
        self.asked += 1
        if self.asked == 1:
            raise RuntimeError("clock went away")
        return 0.01

    def check(self) -> None:
        self.checks += 1


async def test_the_breaker_ticker_keeps_looking_after_a_failing_next_check_in(
    queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    coordination = Worker(make_app(queue_name), install_signals=False).coordination
    gate = FlakyGate()
    ticker = asyncio.create_task(coordination._tick(gate))  # type: ignore[arg-type]
    try:
        await wait_for(lambda: gate.checks >= 3 or ticker.done(), 5, what="three checks")
        assert not ticker.done(), ticker.exception()
        assert "when to look failed" in caplog.text
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)


async def test_breaker_limit_changes_leave_no_finished_tasks_behind(queue_name: str) -> None:
    worker = Worker(make_app(queue_name), install_signals=False)
    coordination, runtime = worker.coordination, worker.runtimes[queue_name]
    for n in range(50):
        coordination._apply_limit(runtime, None if n % 2 else 0)  # ends on None
    await wait_for(lambda: len(coordination._tasks) == 0, 5, what="every task dropped")
    assert not runtime.paused


@pytest.mark.integration
async def test_a_failed_prefetch_change_after_a_new_cap_is_logged(
    amqp_url: str, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(queue_name, amqp_url)
    try:
        async with running_worker(app) as worker:
            runtime = worker.runtimes[queue_name]
            await wait_for(lambda: runtime._consumer_tag is not None, 5, what="consuming")

            async def refused(n: int) -> None:
                await asyncio.sleep(0)
                raise RuntimeError("qos refused")

            runtime.set_prefetch = refused  # type: ignore[method-assign]
            with caplog.at_level(logging.ERROR, logger="workerkit.worker"):
                runtime.set_cap(1)
                await wait_for(
                    lambda: "moving the prefetch window" in caplog.text, 5, what="logged"
                )
            assert "qos refused" in caplog.text
            assert not runtime._background
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.dead")
