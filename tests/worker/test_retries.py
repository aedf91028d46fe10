"""Retries through the broker's retry queues and the dead-letter table, end to end."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiormq
import pytest
from pamqp.commands import Basic
from sqlalchemy import create_engine, text

from tests.helpers import (
    TcpProxy,
    delete_queues,
    queue_depth,
    running_worker,
    wait_for,
    wait_for_value,
)
from workerkit import App, Message, NonRetriable, Settings
from workerkit.config import BrokerSettings, SecretUrl
from workerkit.deadletters.schema import upgrade
from workerkit.deadletters.store import DeadLetterStore

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DeadLetterStore]:
    url = f"sqlite:///{tmp_path / 'dl.sqlite3'}"
    upgrade(url)
    s = DeadLetterStore(url)
    yield s
    s.close()


def rows(store: DeadLetterStore, queue: str) -> list[dict]:
    with store.engine.connect() as conn:
        result = conn.execute(
            text("select * from dead_letters where queue = :q order by id"), {"q": queue}
        )
        return [dict(r._mapping) for r in result]


def make_app(amqp_url: str) -> App:
    return App("test", settings=Settings(broker=BrokerSettings(url=SecretUrl(amqp_url))))


def all_queues(queue: str, *delays: str) -> list[str]:
    return [
        queue,
        f"{queue}.dead",
        f"{queue}.retriable",
        *(f"{queue}.retriable.{d}" for d in delays),
    ]


async def test_a_handler_that_fails_twice_then_succeeds_runs_three_times_along_the_ladder(
    amqp_url: str, queue_name: str, store: DeadLetterStore
) -> None:
    app = make_app(amqp_url)
    calls: list[tuple[float, int, object]] = []

    @app.consumer(queue_name, concurrency=2, max_attempts=5, retry_delays=[0.3, 0.9])
    async def handle(message: Message) -> None:
        calls.append((time.monotonic(), message.attempt, message.headers.get("x-retry-count")))
        if len(calls) < 3:
            raise ConnectionError("downstream blip")

    try:
        async with running_worker(app, store=store):
            await app.publish(queue_name, {"order": 1})
            await wait_for(lambda: len(calls) == 3, 15, what="three attempts")
            await asyncio.sleep(1.0)  # a fourth call, if any, would come now
        assert len(calls) == 3
        assert [c[1] for c in calls] == [1, 2, 3]
        assert [c[2] for c in calls] == [None, 1, 2]
        gap1, gap2 = calls[1][0] - calls[0][0], calls[2][0] - calls[1][0]
        assert 0.3 <= gap1 < 0.9, gap1
        assert 0.9 <= gap2 < 2.0, gap2
        assert rows(store, queue_name) == []
    finally:
        await delete_queues(amqp_url, *all_queues(queue_name, "0.3s", "0.9s"))


async def test_a_handler_that_always_fails_leaves_exactly_one_complete_row(
    amqp_url: str, queue_name: str, store: DeadLetterStore
) -> None:
    app = make_app(amqp_url)
    attempts: list[int] = []

    @app.consumer(queue_name, concurrency=2, max_attempts=3, retry_delays=[0.1])
    async def handle(message: Message) -> None:
        attempts.append(message.attempt)
        raise ValueError(f"cannot ship attempt {message.attempt}")

    body = b'{"order": "A-1", "note": "caf\\u00e9"}'
    try:
        async with running_worker(app, store=store):
            await app.publish(
                queue_name, body, headers={"tenant": "eu-1"}, content_type="application/json"
            )
            await wait_for(lambda: rows(store, queue_name), 15, what="a dead-letter row")
            await asyncio.sleep(0.5)  # a second row, if one were coming, would appear now
        found = rows(store, queue_name)
        assert len(found) == 1
        row = found[0]
        assert attempts == [1, 2, 3]
        assert bytes(row["body"]) == body
        assert row["attempts"] == 3
        assert row["reason"] == "exhausted"
        assert row["status"] == "dead"
        assert row["error_type"] == "ValueError"
        assert "cannot ship attempt 3" in row["error_message"]
        assert "ValueError" in row["traceback"]
        record = store.get(row["id"])
        assert record is not None
        history = record.history
        assert [h["attempt"] for h in history] == [1, 2, 3]
        assert record.headers["tenant"] == "eu-1"
        for q in (queue_name, f"{queue_name}.retriable", f"{queue_name}.dead"):
            assert await queue_depth(amqp_url, q) == 0, q
    finally:
        await delete_queues(amqp_url, *all_queues(queue_name))


async def test_non_retriable_errors_and_malformed_messages_become_rows_at_once(
    amqp_url: str, queue_name: str, store: DeadLetterStore
) -> None:
    app = make_app(amqp_url)
    good: list[int] = []

    @app.consumer(queue_name, concurrency=3, max_attempts=5, retry_delays=[5])
    async def handle(message: Message) -> None:
        if message.body.get("refuse"):
            raise NonRetriable("customer unknown")
        good.append(message.body["n"])

    connection = await aiormq.connect(amqp_url)
    channel = await connection.channel()
    await channel.confirm_delivery()
    try:
        async with running_worker(app, store=store):
            await app.publish(queue_name, {"refuse": True})
            props = Basic.Properties(content_type="application/json", delivery_mode=2)
            await channel.basic_publish(b"{not json", routing_key=queue_name, properties=props)
            for bad in (-1, "abc", 2**62, str(10**30), "²", "9" * 5000):
                await channel.basic_publish(
                    b'{"n": 0}',
                    routing_key=queue_name,
                    properties=Basic.Properties(
                        content_type="application/json", headers={"x-retry-count": bad}
                    ),
                )
            await app.publish(queue_name, {"n": 7})
            await wait_for(lambda: len(rows(store, queue_name)) == 8, 15, what="eight rows")
            await wait_for(lambda: good == [7], 5, what="the good message after the bad ones")
        found = rows(store, queue_name)
        reasons = sorted(r["reason"] for r in found)
        assert reasons == ["invalid"] * 7 + ["non_retriable"]
        assert all(r["attempts"] == 1 for r in found if r["reason"] == "non_retriable")
        assert await queue_depth(amqp_url, f"{queue_name}.retriable") == 0
    finally:
        await connection.close()
        await delete_queues(amqp_url, *all_queues(queue_name))


class RefusingProxy(TcpProxy):
    """A proxy that can refuse new connections, like a database that went away."""

    refusing = False

    async def _handle(self, reader, writer):  # type: ignore[no-untyped-def]
        if self.refusing:
            writer.transport.abort()
            return
        await super()._handle(reader, writer)


async def test_a_retry_waits_its_full_delay_even_when_the_message_has_a_shorter_ttl(
    amqp_url: str, queue_name: str, store: DeadLetterStore
) -> None:
    """A per-message ``expiration`` on the retry copy would send it back after that TTL,
    not after the retry queue's delay."""
    app = make_app(amqp_url)
    calls: list[float] = []

    @app.consumer(queue_name, concurrency=1, max_attempts=2, retry_delays=[1.5])
    async def handle(message: Message) -> None:
        calls.append(time.monotonic())
        raise ConnectionError("downstream blip")

    connection = await aiormq.connect(amqp_url)
    channel = await connection.channel()
    await channel.confirm_delivery()
    try:
        async with running_worker(app, store=store):
            props = Basic.Properties(
                content_type="application/json", delivery_mode=2, expiration="100"
            )
            await channel.basic_publish(b'{"n": 1}', routing_key=queue_name, properties=props)
            await wait_for(lambda: len(rows(store, queue_name)) == 1, 15, what="the row")
        assert len(calls) == 2
        assert calls[1] - calls[0] >= 1.4, f"retried after {calls[1] - calls[0]:.2f} s"
        assert rows(store, queue_name)[0]["attempts"] == 2
    finally:
        await connection.close()
        await delete_queues(amqp_url, *all_queues(queue_name))


async def test_while_the_database_is_down_failures_park_and_reach_the_table_later(
    amqp_url: str, queue_name: str, postgres_url: str
) -> None:
    schema = f"wk_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    proxy = await RefusingProxy(5432).start()
    direct = f"{postgres_url}?options=-csearch_path%3D{schema}"
    upgrade(direct)
    via_proxy = direct.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    store = DeadLetterStore(via_proxy, retry_for=0.2)
    reader = DeadLetterStore(direct)  # the test reads around the proxy, never blocking on it
    settings = Settings(
        broker=BrokerSettings(url=SecretUrl(amqp_url)),
        deadletters={"database_url": via_proxy, "import_interval": 0.3},
    )
    app = App("test", settings=settings)

    @app.consumer(queue_name, concurrency=5, max_attempts=1)
    async def handle(message: Message) -> None:
        raise RuntimeError(f"broken {message.body['n']}")

    try:
        proxy.refusing = True
        proxy.cut()
        async with running_worker(app, store=store):
            for n in range(50):
                await app.publish(queue_name, {"n": n})
            await wait_for_value(
                lambda: queue_depth(amqp_url, f"{queue_name}.dead"), 50, 20, what="50 parked"
            )
            proxy.refusing = False
            await wait_for(lambda: len(rows(reader, queue_name)) == 50, 30, what="50 imported")
        found = rows(reader, queue_name)
        assert sorted(int(r["error_message"].split()[-1]) for r in found) == list(range(50))
        assert all(r["reason"] == "exhausted" for r in found)
        assert await queue_depth(amqp_url, f"{queue_name}.dead") == 0
    finally:
        store.close()
        reader.close()
        await proxy.close()
        await delete_queues(amqp_url, *all_queues(queue_name))
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


async def test_a_message_with_a_huge_trace_id_still_becomes_a_row(
    amqp_url: str, queue_name: str, postgres_url: str
) -> None:
    """PostgreSQL refuses text longer than its column; the message would be parked and then
    block every later import of its queue. (AMQP itself caps a message id at 255 bytes; the
    store test covers longer ones.)"""
    schema = f"wk_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{postgres_url}?options=-csearch_path%3D{schema}"
    upgrade(url)
    store = DeadLetterStore(url, retry_for=0.2)
    app = make_app(amqp_url)

    @app.consumer(queue_name, concurrency=1, max_attempts=1)
    async def handle(message: Message) -> None:
        raise RuntimeError("always")

    connection = await aiormq.connect(amqp_url)
    channel = await connection.channel()
    await channel.confirm_delivery()
    trace, message_id = "t" * 300, "m" * 255
    try:
        async with running_worker(app, store=store):
            props = Basic.Properties(
                content_type="application/json",
                delivery_mode=2,
                message_id=message_id,
                headers={"x-trace-id": trace},
            )
            await channel.basic_publish(b'{"n": 1}', routing_key=queue_name, properties=props)
            await wait_for(lambda: len(rows(store, queue_name)) == 1, 15, what="the row")
        (row,) = rows(store, queue_name)
        assert row["message_id"] == message_id
        assert row["trace_id"] and len(row["trace_id"]) <= 255
        assert row["headers"]["x-trace-id"] == trace  # the original stays in the headers
        assert await queue_depth(amqp_url, f"{queue_name}.dead") == 0
    finally:
        await connection.close()
        store.close()
        await delete_queues(amqp_url, *all_queues(queue_name))
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


async def test_a_message_without_a_trace_id_keeps_the_one_it_was_given_to_its_row(
    amqp_url: str, queue_name: str, store: DeadLetterStore
) -> None:
    """The dispatcher starts a trace for a message that came without one; the retry copy and
    the dead-letter row carry that same id, so the row leads to every attempt's log lines."""
    app = make_app(amqp_url)
    seen: list[str] = []

    @app.consumer(queue_name, max_attempts=2, retry_delays=[0.1])
    async def handle(message: Message) -> None:
        seen.append(message.trace_id)
        raise ConnectionError("downstream down")

    connection = await aiormq.connect(amqp_url)
    channel = await connection.channel()
    await channel.confirm_delivery()
    try:
        async with running_worker(app, store=store):
            props = Basic.Properties(content_type="application/json", delivery_mode=2)
            await channel.basic_publish(b'{"n": 1}', routing_key=queue_name, properties=props)
            await wait_for(lambda: len(rows(store, queue_name)) == 1, 15, what="the row")
        [row] = rows(store, queue_name)
        assert len(seen) == 2 and seen[0] == seen[1], seen
        assert row["trace_id"] == seen[0]
    finally:
        await connection.close()
        await delete_queues(amqp_url, *all_queues(queue_name))
