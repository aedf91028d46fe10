"""A worker configured without ZooKeeper still runs consumers bound to a switch."""

from __future__ import annotations

import logging

import pytest

from tests.helpers import delete_queues, running_worker, wait_for
from workerkit import App, Message, Settings
from workerkit.config import BrokerSettings, SecretUrl, ZooKeeperSettings

pytestmark = pytest.mark.integration


async def test_a_switch_bound_consumer_runs_and_says_so_when_zookeeper_is_off(
    amqp_url: str, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        broker=BrokerSettings(url=SecretUrl(amqp_url)), zookeeper=ZooKeeperSettings(hosts="")
    )
    app = App("test", settings=settings)
    handled: list[int] = []

    @app.consumer(queue_name, switch="orders-notifier")
    async def handle(message: Message) -> None:
        handled.append(message.body["n"])

    caplog.set_level(logging.WARNING, logger="workerkit.worker")
    try:
        async with running_worker(app):
            for n in range(3):
                await app.publish(queue_name, {"n": n})
            await wait_for(lambda: sorted(handled) == [0, 1, 2], 10, what="three handled")
        assert "without following switch orders-notifier" in caplog.text
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.retriable")
