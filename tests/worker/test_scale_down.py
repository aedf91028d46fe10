"""Scaling down in the middle of work: surplus slots leave only after their message is acked,
so every message is handled exactly once."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest

from workerkit.app import App
from workerkit.message import Message
from workerkit.middleware import Middleware
from workerkit.worker.scaling import Decision

pytestmark = pytest.mark.integration


class HandledAtChange(Middleware):
    """Records how many messages had been handled when the concurrency changed."""

    def __init__(self, counts: Counter[str]) -> None:
        self.counts = counts
        self.changes: list[tuple[int, int, int]] = []

    def after_concurrency_change(self, queue: str, old: int, new: int, why: str) -> None:
        self.changes.append((old, new, len(self.counts)))


def counting_consumer(
    app: App, queue: str, counts: Counter[str], redelivered: list[str], **options: Any
) -> None:
    """Counts each message id; redeliveries are recorded for the test to assert on (an assert
    in the handler would only turn a duplicate into a retry the test never sees)."""
    rng = random.Random(7)

    @app.consumer(queue, **options)
    async def handle(message: Message) -> None:
        await asyncio.sleep(rng.uniform(0.01, 0.06))
        assert message.message_id is not None
        if message.redelivered:
            redelivered.append(message.message_id)
        counts[message.message_id] += 1


async def test_the_controller_scales_down_while_messages_are_in_flight_without_losing_any(
    queue_name: str, running: Any, until: Any, publish_many: Any
) -> None:
    counts: Counter[str] = Counter()
    recorder = HandledAtChange(counts)
    app = App("scale-down-test", middleware=[recorder])
    redelivered: list[str] = []
    counting_consumer(app, queue_name, counts, redelivered, min_concurrency=5, max_concurrency=20)

    async with running(app):
        await publish_many(app, queue_name, [{"n": i} for i in range(300)])
        for n in range(300, 450):  # a burst, then a trickle that needs about two slots
            await app.publish(queue_name, {"n": n}, message_id=str(n))
            await asyncio.sleep(0.02)
        await until(lambda: len(counts) == 450, 20, "450 messages handled")

    assert any(new > old for old, new, _ in recorder.changes), recorder.changes
    cuts_midway = [c for c in recorder.changes if c[1] < c[0] and c[2] < 450]
    assert cuts_midway, recorder.changes
    assert set(counts) == {str(n) for n in range(450)}
    assert set(counts.values()) == {1}
    assert redelivered == [], redelivered


async def test_shrinking_and_growing_every_few_milliseconds_handles_each_message_once(
    queue_name: str, running: Any, until: Any, publish_many: Any
) -> None:
    app = App("scale-down-test")
    counts: Counter[str] = Counter()
    redelivered: list[str] = []
    counting_consumer(app, queue_name, counts, redelivered, min_concurrency=1, max_concurrency=20)

    async with running(app) as worker:
        controller = worker.controllers[queue_name]
        controller.stop()  # the test drives the changes itself
        runtime = worker.runtimes[queue_name]
        await publish_many(app, queue_name, [{"n": i} for i in range(600)])
        cuts_while_busy = 0
        for i in range(1000):
            if len(counts) == 600:
                break
            if i % 2 and runtime.busy > 1:
                cuts_while_busy += 1
            await controller.apply(Decision(1 if i % 2 else 20, "churn"))
            await asyncio.sleep(0.02)
        await until(lambda: len(counts) == 600, 20, "600 messages handled")
        await until(lambda: runtime.slots == runtime.target, 5, "surplus slots gone")

    assert cuts_while_busy > 10
    assert set(counts) == {str(n) for n in range(600)}
    assert set(counts.values()) == {1}
    assert redelivered == [], redelivered
