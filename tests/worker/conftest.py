"""Fixtures for driving a real worker: run it in a task, wait on conditions with a deadline.

Offered as fixtures, not importable helpers, so they work whether or not tests/ is a package.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import pytest

from workerkit.app import App
from workerkit.broker import topology as topo
from workerkit.worker.runner import Worker


async def _until(condition: Callable[[], bool], within: float, what: str) -> None:
    """Return as soon as ``condition()`` holds; fail naming ``what`` after ``within`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def _running(app: App, amqp_url: str) -> AsyncIterator[Worker]:
    """A worker running every consumer of ``app``; stopped, and its queues deleted, after."""
    worker = Worker(app, install_signals=False)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.connected.wait(), 10)
        yield worker
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 30)
        await app.close()
        await _delete_queues(amqp_url, [r.topology for r in worker.runtimes.values()])


async def _delete_queues(amqp_url: str, plans: list[topo.ConsumerTopology]) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for plan in plans:
            for spec in plan.all_queues():
                await channel.queue_delete(spec.name)


async def _publish_many(app: App, queue: str, bodies: list[dict[str, object]]) -> None:
    """Publish concurrently in chunks: order across the chunk is not kept."""
    for i in range(0, len(bodies), 100):
        chunk = bodies[i : i + 100]
        await asyncio.gather(*(app.publish(queue, b, message_id=str(b["n"])) for b in chunk))


@pytest.fixture
def until() -> Callable[..., Any]:
    return _until


@pytest.fixture
def running(amqp_url: str) -> Callable[[App], Any]:
    """``async with running(app) as worker``: every consumer of ``app``, stopped after."""
    return lambda app: _running(app, amqp_url)


@pytest.fixture
def publish_many() -> Callable[..., Any]:
    return _publish_many
