"""The one path everything stands on: decorated handler, acks after success, no loss."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import aiormq
import pytest
from pamqp.commands import Basic

from tests.helpers import TcpProxy, delete_queues, queue_depth, running_worker, wait_for
from workerkit import App, ConfigError, Message, Settings
from workerkit.config import BrokerSettings, SecretUrl

pytestmark = pytest.mark.integration


def make_app(amqp_url: str, **broker: object) -> App:
    settings = Settings(broker=BrokerSettings(url=SecretUrl(amqp_url), **broker))
    return App("test", settings=settings)


async def publish_raw(amqp_url: str, queue: str, messages: list[tuple[bytes, dict]]) -> None:
    """Publish with aiormq directly: a different client than the one under test."""
    connection = await aiormq.connect(amqp_url)
    try:
        channel = await connection.channel()
        await channel.confirm_delivery()
        await channel.queue_declare(queue, durable=True)
        for body, headers in messages:
            await channel.basic_publish(
                body,
                routing_key=queue,
                properties=Basic.Properties(
                    headers=headers, content_type="application/json", delivery_mode=2
                ),
            )
    finally:
        await connection.close()


async def test_two_thousand_messages_from_another_client_are_each_handled_once_unchanged(
    amqp_url: str, queue_name: str
) -> None:
    app = make_app(amqp_url)
    seen: list[Message] = []

    @app.consumer(queue_name, concurrency=10)
    async def handle(message: Message, ctx: object) -> None:
        seen.append(message)

    sent = [
        (
            json.dumps({"n": i, "text": "Grüße ✓"}).encode(),
            {"k": f"v{i}", "n": i, "b": {"nested": [1, "ä"]}},
        )
        for i in range(2000)
    ]
    await publish_raw(amqp_url, queue_name, sent)
    try:
        async with running_worker(app):
            await wait_for(lambda: len(seen) >= 2000, 30, what="2000 messages handled")
            await asyncio.sleep(0.2)  # a duplicate, if any, would arrive now
        assert len(seen) == 2000
        by_n = {m.body["n"]: m for m in seen}
        assert len(by_n) == 2000
        for i, (raw, headers) in enumerate(sent):
            assert by_n[i].raw == raw
            assert by_n[i].headers["k"] == headers["k"]
            assert by_n[i].headers["n"] == headers["n"]
            assert by_n[i].headers["b"] == headers["b"]
        assert await queue_depth(amqp_url, queue_name) == 0
    finally:
        await delete_queues(amqp_url, queue_name)


async def test_a_handler_that_raises_does_not_stop_the_messages_after_it(
    amqp_url: str, queue_name: str
) -> None:
    app = make_app(amqp_url)
    handled: list[int] = []

    @app.consumer(queue_name, concurrency=2, max_attempts=1)
    async def handle(message: Message) -> None:
        if message.body["n"] % 3 == 0:
            raise RuntimeError("bad luck")
        handled.append(message.body["n"])

    try:
        async with running_worker(app):
            for n in range(30):
                await app.publish(queue_name, {"n": n})
            await wait_for(lambda: len(handled) == 20, 15, what="the 20 good messages")
        assert sorted(handled) == [n for n in range(30) if n % 3]
        assert await queue_depth(amqp_url, queue_name) == 0
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.retriable", f"{queue_name}.dead")


async def test_plain_def_handlers_run_in_threads_and_are_acked(
    amqp_url: str, queue_name: str
) -> None:
    import threading

    app = make_app(amqp_url)
    threads: set[str] = set()
    handled: list[int] = []

    @app.consumer(queue_name, concurrency=4)
    def handle(message: Message, ctx: object) -> None:
        threads.add(threading.current_thread().name)
        handled.append(message.body["n"])

    try:
        async with running_worker(app):
            for n in range(20):
                await app.publish(queue_name, {"n": n})
            await wait_for(lambda: len(handled) == 20, 10, what="20 messages in threads")
        assert sorted(handled) == list(range(20))
        assert threads and "MainThread" not in threads
        assert await queue_depth(amqp_url, queue_name) == 0
    finally:
        await delete_queues(amqp_url, queue_name)


async def test_the_worker_reconnects_after_the_connection_drops_and_loses_nothing(
    amqp_url: str, queue_name: str
) -> None:
    proxy = await TcpProxy(5672).start()
    app = make_app(f"amqp://guest:guest@127.0.0.1:{proxy.port}/", reconnect_max_delay=0.5)
    counts: Counter[int] = Counter()

    @app.consumer(queue_name, concurrency=5)
    async def handle(message: Message) -> None:
        await asyncio.sleep(0.005)
        counts[message.body["n"]] += 1

    publisher = make_app(amqp_url)
    try:
        async with running_worker(app) as worker:
            for n in range(300):
                await publisher.publish(queue_name, {"n": n})
            await wait_for(lambda: len(counts) >= 50, 10, what="some messages handled")
            proxy.cut()
            await wait_for(lambda: worker.attachments >= 2, 15, what="the reconnect")
            await wait_for(lambda: len(counts) == 300, 30, what="every message handled")
        assert set(counts) == set(range(300))
        assert proxy.connections >= 2
        assert await queue_depth(amqp_url, queue_name) == 0
    finally:
        await publisher.close()
        await proxy.close()
        await delete_queues(amqp_url, queue_name)


async def test_a_channel_the_broker_closes_is_replaced_and_nothing_is_lost(
    amqp_url: str, queue_name: str
) -> None:
    app = make_app(amqp_url, reconnect_max_delay=0.5)
    counts: Counter[int] = Counter()

    @app.consumer(queue_name, concurrency=3)
    async def handle(message: Message) -> None:
        counts[message.body["n"]] += 1

    try:
        async with running_worker(app) as worker:
            runtime = worker.runtimes[queue_name]
            for n in range(50):
                await app.publish(queue_name, {"n": n})
            await wait_for(lambda: len(counts) == 50, 10, what="first batch")
            # an ack of a tag the broker never sent: it closes that channel (PRECONDITION_FAILED)
            assert runtime.channel is not None
            underlay = await runtime.channel.get_underlay_channel()
            await underlay.basic_ack(10**6)
            await wait_for(lambda: worker.attachments >= 2, 10, what="a fresh connection")
            for n in range(50, 100):
                await app.publish(queue_name, {"n": n})
            await wait_for(lambda: len(counts) == 100, 10, what="second batch after the error")
        assert set(counts) == set(range(100))
        assert await queue_depth(amqp_url, queue_name) == 0
    finally:
        await delete_queues(amqp_url, queue_name)


async def test_a_queue_declared_with_other_arguments_stops_the_worker_with_the_fix(
    amqp_url: str, queue_name: str
) -> None:
    connection = await aiormq.connect(amqp_url)
    channel = await connection.channel()
    await channel.queue_declare(queue_name, durable=True, arguments={"x-max-length": 10})
    await connection.close()
    app = make_app(amqp_url)

    @app.consumer(queue_name)
    async def handle(message: Message) -> None: ...

    try:
        with pytest.raises(ConfigError, match=f"queue {queue_name} exists with other arguments"):
            async with running_worker(app):
                pass
    finally:
        await delete_queues(amqp_url, queue_name)
