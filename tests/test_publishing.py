"""Publishing: nothing vanishes silently, and the operator's CLI checks its input first."""

from __future__ import annotations

import asyncio
import json

import aio_pika
import aiormq
import pytest
from click.testing import CliRunner

from tests.helpers import TcpProxy, delete_queues, wait_for
from workerkit import App, PublishNotConfirmed, Settings, Unroutable, retry_call
from workerkit.broker.publisher import Publisher
from workerkit.cli import cli, exitcodes
from workerkit.config import BrokerSettings, SecretUrl


async def drain(amqp_url: str, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, durable=True)
        got = []
        while (message := await q.get(no_ack=True, fail=False)) is not None:
            got.append(message)
        return got
    finally:
        await connection.close()


@pytest.mark.integration
async def test_a_message_no_queue_would_receive_raises_unroutable(
    amqp_url: str, queue_name: str
) -> None:
    app = App("t", settings=Settings(broker=BrokerSettings(url=SecretUrl(amqp_url))))
    try:
        with pytest.raises(Unroutable, match=queue_name):
            await app.publish(queue_name, {"order": 1})
    finally:
        await app.close()


@pytest.mark.integration
async def test_a_publish_the_broker_never_confirms_fails_after_the_confirm_timeout(
    amqp_url: str, queue_name: str
) -> None:
    await drain(amqp_url, queue_name)  # declares the queue
    proxy = await TcpProxy(5672).start()
    url = SecretUrl(f"amqp://guest:guest@127.0.0.1:{proxy.port}/")
    app = App("t", settings=Settings(broker=BrokerSettings(url=url, confirm_timeout=0.3)))
    try:
        await app.publish(queue_name, {"order": 1})  # connected, confirmed
        proxy.hold()
        started = asyncio.get_running_loop().time()
        with pytest.raises(PublishNotConfirmed, match="no confirm .* within 0.3 s"):
            await app.publish(queue_name, {"order": 2})
        assert asyncio.get_running_loop().time() - started < 5
        proxy.release()
        # the connection survives a missed confirm: the next publish goes through
        await app.publish(queue_name, {"order": 3})
        orders = [json.loads(m.body)["order"] for m in await drain(amqp_url, queue_name)]
        assert orders == [1, 2, 3]  # 2 reached the broker; only its confirm was held up
    finally:
        await app.close()
        await proxy.close()
        await delete_queues(amqp_url, queue_name)


@pytest.mark.integration
async def test_app_publish_works_again_after_the_connection_was_lost(
    amqp_url: str, queue_name: str
) -> None:
    await drain(amqp_url, queue_name)  # declares the queue
    proxy = await TcpProxy(5672).start()
    url = SecretUrl(f"amqp://guest:guest@127.0.0.1:{proxy.port}/?reconnect_interval=0.2")
    app = App("t", settings=Settings(broker=BrokerSettings(url=url)))
    try:
        await app.publish(queue_name, {"order": 1})
        proxy.cut()
        await wait_for(lambda: proxy.connections >= 2, 10, what="aio-pika reconnecting")
        # while aio-pika is still reconnecting a publish may fail; after that it must work
        await retry_call(
            app.publish,
            queue_name,
            {"order": 2},
            on=(ConnectionError, RuntimeError, aiormq.exceptions.AMQPError),
            attempts=20,
            initial=0.2,
            maximum=0.5,
        )
        orders = [json.loads(m.body)["order"] for m in await drain(amqp_url, queue_name)]
        assert orders == [1, 2]
    finally:
        await app.close()
        await proxy.close()
        await delete_queues(amqp_url, queue_name)


@pytest.mark.integration
async def test_published_messages_are_persistent_with_an_id_and_a_trace_id(
    amqp_url: str, queue_name: str
) -> None:
    await drain(amqp_url, queue_name)  # declares the queue
    app = App("t", settings=Settings(broker=BrokerSettings(url=SecretUrl(amqp_url))))
    try:
        await app.publish(queue_name, {"order": 1}, trace_id="trace-1")
        await app.publish(queue_name, b"\x00raw", headers={"k": "v"})
        first, second = await drain(amqp_url, queue_name)
        assert json.loads(first.body) == {"order": 1}
        assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert first.message_id and first.headers["x-trace-id"] == "trace-1"
        assert second.body == b"\x00raw" and second.headers["k"] == "v"
        assert second.headers["x-trace-id"] and second.message_id != first.message_id
    finally:
        await app.close()
        await delete_queues(amqp_url, queue_name)


@pytest.mark.integration
async def test_a_user_id_other_than_the_connections_is_dropped_and_the_own_one_kept(
    amqp_url: str, queue_name: str
) -> None:
    """Retry and parking copies pass the original's properties on; RabbitMQ closes the
    channel on a ``user_id`` that is not the connection's user, and the message would loop."""
    await drain(amqp_url, queue_name)  # declares the queue
    connection = await aio_pika.connect(amqp_url)
    try:
        publisher = await Publisher.open(connection, confirm_timeout=5)
        await publisher.publish(queue_name, b"1", properties={"user_id": "alice"})
        await publisher.publish(queue_name, b"2", properties={"user_id": "guest"})
        assert not publisher.channel.is_closed
    finally:
        await connection.close()
    got = {m.body: m.user_id for m in await drain(amqp_url, queue_name)}
    assert got == {b"1": None, b"2": "guest"}
    await delete_queues(amqp_url, queue_name)


@pytest.mark.integration
async def test_the_publish_command_sends_one_message_per_line_and_refuses_bad_json(
    amqp_url: str, queue_name: str
) -> None:
    await drain(amqp_url, queue_name)
    runner = CliRunner()
    env = {"WORKERKIT_BROKER_URL": amqp_url}
    try:
        bad = await asyncio.to_thread(
            runner.invoke,
            cli,
            ["publish", queue_name, "--file", "-"],
            input='{"a": 1}\n{oops\n',
            env=env,
        )
        assert bad.exit_code == exitcodes.RET_USAGE and "line 2" in bad.output
        assert await drain(amqp_url, queue_name) == []  # nothing was sent

        lines = "".join(json.dumps({"n": n}) + "\n" for n in range(60))
        ok = await asyncio.to_thread(
            runner.invoke,
            cli,
            ["publish", queue_name, "--file", "-", "--header", "src=cli"],
            input=lines,
            env=env,
        )
        assert ok.exit_code == 0, ok.output
        got = await drain(amqp_url, queue_name)
        assert [json.loads(m.body)["n"] for m in got] == list(range(60))
        assert all(m.headers["src"] == "cli" for m in got)

        nowhere = await asyncio.to_thread(
            runner.invoke,
            cli,
            ["publish", f"{queue_name}.nowhere", "--file", "-"],
            input=lines,
            env=env,
        )
        assert nowhere.exit_code == exitcodes.RET_BROKER, nowhere.output
        assert "0 of 60 published before it" in nowhere.output
    finally:
        await delete_queues(amqp_url, queue_name)


async def test_retry_call_retries_only_what_it_is_told_and_gives_up_after_its_attempts() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("blip")
        return "ok"

    assert await retry_call(flaky, on=ConnectionError, attempts=3, initial=0.001) == "ok"
    assert calls == 3

    async def broken() -> None:
        raise ValueError("a bug, not a blip")

    calls = 0

    async def counted() -> None:
        nonlocal calls
        calls += 1
        await broken()

    with pytest.raises(ValueError):
        await retry_call(counted, on=ConnectionError, attempts=5, initial=0.001)
    assert calls == 1
    with pytest.raises(ConnectionError):
        await retry_call(flaky_forever, on=ConnectionError, attempts=2, initial=0.001)


async def flaky_forever() -> None:
    raise ConnectionError("still down")
