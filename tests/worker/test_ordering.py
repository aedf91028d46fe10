"""Ordering by key: the same key one at a time in arrival order, different keys in parallel."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Hashable
from typing import Any

import pytest

from workerkit.app import App
from workerkit.message import Message

pytestmark = pytest.mark.integration


def account_of(message: Message) -> Hashable:
    return message.body["account"]


@pytest.mark.parametrize("ordering_key", ["x-account", account_of], ids=["header", "function"])
async def test_each_keys_messages_are_handled_one_at_a_time_in_publish_order(
    queue_name: str, ordering_key: Any, running: Any, until: Any
) -> None:
    app = App("ordering-test")
    seen: defaultdict[str, list[int]] = defaultdict(list)
    running_keys: set[str] = set()
    stats = {"overlaps": 0, "most_keys_at_once": 0}
    delays = random.Random(11)

    @app.consumer(queue_name, ordering_key=ordering_key)
    async def handle(message: Message) -> None:
        key = message.body["account"]
        if key in running_keys:
            stats["overlaps"] += 1
        running_keys.add(key)
        stats["most_keys_at_once"] = max(stats["most_keys_at_once"], len(running_keys))
        await asyncio.sleep(delays.uniform(0, 0.005))
        seen[key].append(message.body["seq"])
        running_keys.discard(key)

    async with running(app):
        keys = random.Random(3)
        for seq in range(1000):  # one at a time: the publish order is the order of the awaits
            account = f"acct-{keys.randrange(10)}"
            body = {"account": account, "seq": seq}
            await app.publish(queue_name, body, headers={"x-account": account})
        await until(lambda: sum(map(len, seen.values())) == 1000, 30, "1000 messages handled")

    assert len(seen) == 10
    for key, seqs in seen.items():
        assert seqs == sorted(seqs), f"{key} out of order"
    assert stats["overlaps"] == 0
    assert stats["most_keys_at_once"] > 1


async def test_messages_without_a_key_are_not_held_back(
    queue_name: str, running: Any, until: Any
) -> None:
    app = App("ordering-test")
    started: list[int] = []
    release = asyncio.Event()

    @app.consumer(queue_name, ordering_key="x-account", concurrency=5)
    async def handle(message: Message) -> None:
        started.append(message.body["n"])
        await release.wait()

    async with running(app):
        for n in range(5):
            await app.publish(queue_name, {"n": n})
        await until(lambda: len(started) == 5, 10, "five keyless messages running at once")
        release.set()


async def test_a_key_stays_held_across_a_pause_while_its_message_is_still_running(
    queue_name: str, running: Any, until: Any
) -> None:
    app = App("ordering-test")
    order: list[int | str] = []
    release = asyncio.Event()

    @app.consumer(queue_name, ordering_key="x-account", concurrency=5)
    async def handle(message: Message) -> None:
        order.append(message.body["n"])
        if message.body["n"] == 0:
            await release.wait()

    async with running(app) as worker:
        runtime = worker.runtimes[queue_name]
        for n in range(3):
            await app.publish(queue_name, {"n": n}, headers={"x-account": "a"})
        await until(lambda: runtime.busy == 1 and runtime.waiting == 2, 10, "two held back")
        await runtime.pause("test")  # the two held messages go back to the queue
        await runtime.resume("test")
        await until(lambda: runtime.waiting == 2, 10, "the two redelivered")
        # the inbox is first in, first out: had 1 been released, a slot would take it first
        await app.publish(queue_name, {"n": "keyless"})
        await until(lambda: "keyless" in order, 10, "the keyless message handled")
        assert order == [0, "keyless"]
        release.set()
        await until(lambda: len(order) == 4, 10, "all handled")
    assert order == [0, "keyless", 1, 2]
