"""Consumers that stop for a switch or an open breaker, with a real worker, broker and
ZooKeeper: messages wait in the queue, none is rejected or dead-lettered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient

from tests.helpers import delete_queues, queue_depth, running_worker, wait_for
from workerkit import App, Message, Settings
from workerkit.config import BrokerSettings, SecretUrl, ZooKeeperSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def kazoo(zookeeper_hosts: str) -> Iterator[KazooClient]:
    client = KazooClient(hosts=zookeeper_hosts)
    client.start(timeout=10)
    yield client
    client.stop()
    client.close()


def settings(amqp_url: str, hosts: str, root: str, tmp_path: Path) -> Settings:
    return Settings(
        broker=BrokerSettings(url=SecretUrl(amqp_url)),
        zookeeper=ZooKeeperSettings(
            hosts=hosts, root=root, snapshot_path=tmp_path / "switches.json"
        ),
    )


def set_switch(kazoo: KazooClient, root: str, name: str, on: bool) -> None:
    path = f"{root}/switches/{name}"
    data = json.dumps({"on": on, "reason": "test"}).encode()
    if kazoo.exists(path):
        kazoo.set(path, data)
    else:
        kazoo.create(path, data, makepath=True)


async def test_a_consumer_bound_to_a_switch_stops_while_it_is_off_and_drains_after_on(
    amqp_url: str,
    queue_name: str,
    zookeeper_hosts: str,
    zk_root: str,
    kazoo: KazooClient,
    tmp_path: Path,
) -> None:
    set_switch(kazoo, zk_root, "orders-notifier", on=False)
    app = App("t", settings=settings(amqp_url, zookeeper_hosts, zk_root, tmp_path))
    handled: list[int] = []

    @app.consumer(queue_name, concurrency=4, switch="orders-notifier")
    async def handle(message: Message) -> None:
        handled.append(message.body["n"])

    try:
        async with running_worker(app) as worker:
            runtime = worker.runtimes[queue_name]
            await wait_for(lambda: app.switches.get("orders-notifier") is not None, 5)
            for n in range(10):
                await app.publish(queue_name, {"n": n})
            await asyncio.sleep(1.0)  # a paused consumer must stay quiet for this long
            assert handled == []
            assert runtime.paused
            assert await queue_depth(amqp_url, queue_name) == 10

            set_switch(kazoo, zk_root, "orders-notifier", on=True)
            await wait_for(lambda: len(handled) == 10, 5, what="drained after on")

            loop = asyncio.get_running_loop()
            flipped = loop.time()
            set_switch(kazoo, zk_root, "orders-notifier", on=False)
            await wait_for(lambda: runtime.paused, 2, what="paused within 2 s of off")
            paused_after = loop.time() - flipped
            for n in range(10, 15):
                await app.publish(queue_name, {"n": n})
            await asyncio.sleep(0.5)
            assert len(handled) == 10
            assert await queue_depth(amqp_url, queue_name) == 5
            set_switch(kazoo, zk_root, "orders-notifier", on=True)
            await wait_for(lambda: len(handled) == 15, 5, what="drained after on again")
        assert sorted(handled) == list(range(15))
        print(f"switch off -> consumer paused in {paused_after * 1000:.0f} ms")
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.retriable", f"{queue_name}.dead")


async def test_a_consumer_pauses_while_its_breaker_is_forced_open_and_drains_after_auto(
    amqp_url: str, queue_name: str, zookeeper_hosts: str, zk_root: str, tmp_path: Path
) -> None:
    app = App("t", settings=settings(amqp_url, zookeeper_hosts, zk_root, tmp_path))
    tms = app.breaker("tms-api")
    handled: list[int] = []
    in_flight = 0
    peak_while_probing: list[int] = []

    async def call_tms(n: int) -> int:
        return n

    @app.consumer(queue_name, concurrency=10, pause_when_open=["tms-api"], max_attempts=1)
    async def handle(message: Message) -> None:
        nonlocal in_flight
        in_flight += 1
        try:
            if tms.state.name == "HALF_OPEN":
                peak_while_probing.append(in_flight)
            await asyncio.sleep(0.01)
            handled.append(await tms.acall(call_tms, message.body["n"]))
        finally:
            in_flight -= 1

    try:
        async with running_worker(app) as worker:
            runtime = worker.runtimes[queue_name]
            tms.set_override("force_open", reason="tms down")
            await wait_for(lambda: runtime.paused, 2, what="paused by the breaker")
            for n in range(30):
                await app.publish(queue_name, {"n": n})
            await asyncio.sleep(0.5)
            assert handled == []
            assert await queue_depth(amqp_url, queue_name) == 30
            tms.set_override("auto")
            await wait_for(lambda: len(handled) == 30, 10, what="drained after auto")
        assert sorted(handled) == list(range(30))
        assert peak_while_probing and max(peak_while_probing) <= 3, peak_while_probing
        assert await queue_depth(amqp_url, f"{queue_name}.dead") == 0
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.dead")


async def test_force_open_from_the_cli_pauses_a_bound_consumer_in_every_worker_until_auto(
    amqp_url: str,
    queue_name: str,
    zookeeper_hosts: str,
    zk_root: str,
    tmp_path: Path,
    zk_cli: Any,
) -> None:
    app = App("t", settings=settings(amqp_url, zookeeper_hosts, zk_root, tmp_path))
    app.breaker("tms-api")
    handled: list[int] = []

    @app.consumer(queue_name, concurrency=4, pause_when_open=["tms-api"])
    async def handle(message: Message) -> None:
        handled.append(message.body["n"])

    try:
        async with running_worker(app) as worker:
            runtime = worker.runtimes[queue_name]
            assert not runtime.paused
            result = await asyncio.to_thread(
                zk_cli, "breakers", "force-open", "tms-api", "--reason", "TMS outage"
            )
            assert result.exit_code == 0, result.output
            await wait_for(lambda: runtime.paused, 1.0, what="paused within 1 s of force-open")
            for n in range(12):
                await app.publish(queue_name, {"n": n})
            await asyncio.sleep(0.3)
            assert handled == [] and await queue_depth(amqp_url, queue_name) == 12

            listed = await asyncio.to_thread(zk_cli, "workers", "list", "--json")
            assert listed.exit_code == 0, listed.output
            assert queue_name in listed.output and "force_open" in listed.output

            result = await asyncio.to_thread(
                zk_cli, "breakers", "auto", "tms-api", "--reason", "TMS back"
            )
            assert result.exit_code == 0, result.output
            await wait_for(lambda: len(handled) == 12, 10, what="drained after auto")
        assert sorted(handled) == list(range(12))
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.dead")
