"""Elastic concurrency against a real broker: the controller follows a backlog up and down,
and the prefetch window follows it, on classic and quorum queues."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from typing import Any

import pytest

from workerkit.app import App
from workerkit.message import Message
from workerkit.middleware import Middleware
from workerkit.worker.concurrency import Change
from workerkit.worker.consuming import prefetch_for
from workerkit.worker.scaling import Decision

pytestmark = pytest.mark.integration


def direction_reversals(history: list[Change]) -> int:
    ups = [c.new > c.old for c in history]
    return sum(a != b for a, b in zip(ups, ups[1:], strict=False))


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
async def test_concurrency_rises_to_the_maximum_under_a_backlog_and_falls_back_after_it(
    queue_name: str, queue_type: str, running: Any, until: Any, publish_many: Any
) -> None:
    app = App("elastic-test")
    handled: set[str] = set()
    in_flight = [0, 0]  # now, peak

    @app.consumer(queue_name, queue_type=queue_type, min_concurrency=5, max_concurrency=20)
    async def handle(message: Message) -> None:
        in_flight[0] += 1
        in_flight[1] = max(in_flight[1], in_flight[0])
        await asyncio.sleep(0.05)
        in_flight[0] -= 1
        assert message.message_id is not None
        handled.add(message.message_id)

    async with running(app) as worker:
        runtime = worker.runtimes[queue_name]
        controller = worker.controllers[queue_name]
        assert runtime.target == 5
        backlog_at = time.monotonic()
        await publish_many(app, queue_name, [{"n": i} for i in range(400)])
        await until(lambda: len(handled) == 400, 30, "400 messages handled")
        drained_at = time.monotonic()
        await until(lambda: runtime.target == 5, 10, "concurrency back at the minimum")
        state = runtime.state()
        history = list(controller.history)

    assert history[0].old == 5
    reached_max = next(c for c in history if c.new == 20)
    assert reached_max.at - backlog_at <= 2.0, history
    assert history[-1].new == 5
    assert history[-1].at - drained_at <= 5.0, history
    assert direction_reversals(history) == 1, history
    assert in_flight[1] == 20
    assert state["target"] == 5 and state["handled"] == 400 and state["backlog"] == 0


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
async def test_the_prefetch_window_follows_the_concurrency(
    queue_name: str, queue_type: str, running: Any, until: Any
) -> None:
    app = App("elastic-test")

    @app.consumer(queue_name, queue_type=queue_type)
    async def handle(message: Message) -> None: ...

    async with running(app) as worker:
        controller = worker.controllers[queue_name]
        assert consumers_prefetch(queue_name) == [prefetch_for(5)]
        await controller.apply(Decision(12, "test"))
        assert consumers_prefetch(queue_name) == [prefetch_for(12)]
        await controller.apply(Decision(5, "test"))
        assert consumers_prefetch(queue_name) == [prefetch_for(5)]


def rabbitmqctl(*args: str) -> str:
    return subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout


def consumers_prefetch(queue: str) -> list[int]:
    """The prefetch count of each consumer the broker has on ``queue``."""
    out = rabbitmqctl("list_consumers", "-q", "queue_name", "prefetch_count")
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    return [int(row[1]) for row in rows if row[0] == queue]


async def test_a_fixed_concurrency_consumer_gets_no_controller(
    queue_name: str, running: Any
) -> None:
    app = App("elastic-test")

    @app.consumer(queue_name, concurrency=3)
    async def handle(message: Message) -> None: ...

    async with running(app) as worker:
        assert worker.controllers == {}
        assert worker.runtimes[queue_name].state()["concurrency"] == 3


async def test_a_sync_handler_gets_threads_as_concurrency_rises_and_never_more_than_the_max(
    queue_name: str, running: Any, until: Any, publish_many: Any
) -> None:
    app = App("elastic-test")
    threads: set[str] = set()
    handled: list[int] = []

    @app.consumer(queue_name, min_concurrency=5, max_concurrency=20)
    def handle(message: Message) -> None:
        time.sleep(0.05)
        threads.add(threading.current_thread().name)
        handled.append(1)

    async with running(app) as worker:
        await publish_many(app, queue_name, [{"n": i} for i in range(400)])
        await until(lambda: len(handled) == 400, 30, "400 messages handled")
        history = list(worker.controllers[queue_name].history)

    assert any(c.new == 20 for c in history), history
    assert 5 < len(threads) <= 20


class ConnectionStates(Middleware):
    def __init__(self) -> None:
        self.states: list[str] = []

    def after_connection_state(self, state: str, detail: str) -> None:
        self.states.append(state)


def close_this_process_connections() -> None:
    """Have the broker close this process's worker connection, as a broker restart would.
    Only the connection named after this process: other tests may share the broker."""
    listing = rabbitmqctl("list_connections", "-q", "pid", "client_properties")
    mine = f'"workerkit {os.getpid()}"'
    pids = [line.split("\t")[0] for line in listing.splitlines() if mine in line]
    assert pids, f"no connection named {mine}"
    for pid in pids:
        rabbitmqctl("close_connection", pid, "test")


async def test_after_a_reconnect_the_consumer_resubscribes_with_the_current_target(
    queue_name: str, running: Any, until: Any
) -> None:
    recorder = ConnectionStates()
    app = App("elastic-test", middleware=[recorder])

    @app.consumer(queue_name)
    async def handle(message: Message) -> None: ...

    async with running(app) as worker:
        controller = worker.controllers[queue_name]
        controller.stop()  # hold the value the test sets
        await controller.apply(Decision(12, "test"))
        close_this_process_connections()
        await until(lambda: recorder.states.count("connected") == 2, 20, "a reconnect")
        assert consumers_prefetch(queue_name) == [prefetch_for(12)]
        assert worker.runtimes[queue_name].slots == 12


async def test_the_controller_keeps_working_after_a_reconnect(
    queue_name: str, running: Any, until: Any, publish_many: Any
) -> None:
    recorder = ConnectionStates()
    app = App("elastic-test", middleware=[recorder])
    handled: set[str] = set()

    @app.consumer(queue_name)
    async def handle(message: Message) -> None:
        await asyncio.sleep(0.05)
        assert message.message_id is not None
        handled.add(message.message_id)

    async with running(app) as worker:
        controller = worker.controllers[queue_name]
        close_this_process_connections()
        await until(lambda: recorder.states.count("connected") == 2, 20, "a reconnect")
        reconnected_at = time.monotonic()
        await publish_many(app, queue_name, [{"n": i} for i in range(400)])
        await until(lambda: len(handled) == 400, 30, "400 messages handled")
        assert any(c.new == 20 and c.at > reconnected_at for c in controller.history)
