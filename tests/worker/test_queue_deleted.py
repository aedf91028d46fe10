"""A work queue deleted under a running worker comes back, and consuming resumes."""

from __future__ import annotations

import aiormq
import pytest

from tests.helpers import delete_queues, running_worker, wait_for
from workerkit import App, Message, Settings
from workerkit.config import BrokerSettings, SecretUrl

pytestmark = pytest.mark.integration


async def test_a_consumer_the_broker_cancels_reconnects_and_declares_its_queue_again(
    amqp_url: str, queue_name: str
) -> None:
    app = App("test", settings=Settings(broker=BrokerSettings(url=SecretUrl(amqp_url))))
    handled: list[int] = []

    # fixed concurrency: no controller whose depth polls would stumble on the missing queue
    @app.consumer(queue_name, min_concurrency=2, max_concurrency=2)
    async def handle(message: Message) -> None:
        handled.append(message.body["n"])

    try:
        async with running_worker(app) as worker:
            await app.publish(queue_name, {"n": 1})
            await wait_for(lambda: handled == [1], 10, what="the first message")
            connection = await aiormq.connect(amqp_url)
            channel = await connection.channel()
            await channel.queue_delete(queue_name)  # an operator's mistake; the broker cancels
            await connection.close()
            await wait_for(lambda: worker.attachments >= 2, 10, what="a reconnect")
            await wait_for(lambda: worker.connected.is_set(), 10, what="attached again")
            await app.publish(queue_name, {"n": 2})  # routable: the queue is declared again
            await wait_for(lambda: handled == [1, 2], 10, what="the message after")
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.retriable")
