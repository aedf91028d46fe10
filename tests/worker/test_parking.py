"""``workerkit dead-letters import-parked`` moves what a worker parked into the table."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import aio_pika
import pytest
from click.testing import CliRunner

from tests.helpers import delete_queues, queue_depth, running_worker, wait_for, wait_for_value
from workerkit import App, Message, Settings
from workerkit.cli import cli, exitcodes
from workerkit.config import BrokerSettings, SecretUrl
from workerkit.deadletters.parking import import_loop
from workerkit.deadletters.query import DeadLetterFilter
from workerkit.deadletters.schema import upgrade
from workerkit.deadletters.store import DeadLetterStore

pytestmark = pytest.mark.integration


async def test_parked_messages_are_imported_by_hand_with_their_failure_details(
    amqp_url: str, queue_name: str, tmp_path: Path
) -> None:
    app = App("t", settings=Settings(broker=BrokerSettings(url=SecretUrl(amqp_url))))

    @app.consumer(queue_name, concurrency=2, max_attempts=1)
    async def handle(message: Message) -> None:
        raise ValueError(f"no stock for {message.body['sku']}")

    db_url = f"sqlite:///{tmp_path / 'dl.sqlite3'}"
    upgrade(db_url)
    try:
        async with running_worker(app, store=None):  # no table: every failure parks
            for sku in ("A", "B", "C"):
                await app.publish(queue_name, {"sku": sku}, headers={"tenant": "eu"})
            await wait_for_value(
                lambda: queue_depth(amqp_url, f"{queue_name}.dead"), 3, what="3 parked"
            )
        env = {"WORKERKIT_BROKER_URL": amqp_url, "WORKERKIT_DEADLETTERS_DATABASE_URL": db_url}
        result = await asyncio.to_thread(
            CliRunner().invoke, cli, ["dead-letters", "import-parked", queue_name], env=env
        )
        assert result.exit_code == 0, result.output
        assert f"{queue_name}: imported 3" in result.output
        store = DeadLetterStore(db_url)
        try:
            rows = store.rows(DeadLetterFilter(queue=queue_name))
            assert sorted(r.error_message for r in rows) == [f"no stock for {s}" for s in "ABC"]
            assert all(r.reason == "exhausted" and r.error_type == "ValueError" for r in rows)
            assert all(r.headers.get("tenant") == "eu" for r in rows)
            assert all("x-dl-meta" not in r.headers for r in rows)
        finally:
            store.close()
        assert await queue_depth(amqp_url, f"{queue_name}.dead") == 0
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.retriable", f"{queue_name}.dead")


async def test_a_parked_copy_outlives_the_original_messages_expiration(
    amqp_url: str, queue_name: str, tmp_path: Path
) -> None:
    """``<queue>.dead`` has no dead-letter exchange: a parked copy that kept the original's
    ``expiration`` would be deleted by the broker after the original was acked."""
    app = App("t", settings=Settings(broker=BrokerSettings(url=SecretUrl(amqp_url))))

    @app.consumer(queue_name, concurrency=1, max_attempts=1)
    async def handle(message: Message) -> None:
        raise ValueError("always")

    db_url = f"sqlite:///{tmp_path / 'dl.sqlite3'}"
    upgrade(db_url)
    try:
        async with running_worker(app, store=None):  # no table: every failure parks
            connection = await aio_pika.connect(amqp_url)
            async with connection:
                channel = await connection.channel()
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        b'{"sku": "A"}',
                        content_type="application/json",
                        message_id="m-1",
                        expiration=1,  # 1000 ms on the wire
                        correlation_id="c-1",
                        app_id="shop",
                    ),
                    routing_key=queue_name,
                )
            await wait_for_value(
                lambda: queue_depth(amqp_url, f"{queue_name}.dead"), 1, what="1 parked"
            )
            parked_at = time.monotonic()
        # the original's TTL is long past; the copy must still be there, for a while
        while time.monotonic() - parked_at < 2.5:
            assert await queue_depth(amqp_url, f"{queue_name}.dead") == 1
            await asyncio.sleep(0.1)
        env = {"WORKERKIT_BROKER_URL": amqp_url, "WORKERKIT_DEADLETTERS_DATABASE_URL": db_url}
        result = await asyncio.to_thread(
            CliRunner().invoke, cli, ["dead-letters", "import-parked", queue_name], env=env
        )
        assert result.exit_code == 0, result.output
        assert f"{queue_name}: imported 1" in result.output
        store = DeadLetterStore(db_url)
        try:
            (row,) = store.rows(DeadLetterFilter(queue=queue_name))
            assert row.message_id == "m-1"
            assert row.properties["expiration"] == "1000"
            assert row.properties["correlation_id"] == "c-1"
            assert row.properties["app_id"] == "shop"
            assert "x-dl-meta" not in row.headers
        finally:
            store.close()
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.retriable", f"{queue_name}.dead")


async def test_one_queue_the_import_cannot_read_does_not_starve_the_queues_after_it(
    amqp_url: str, queue_name: str, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'dl.sqlite3'}"
    upgrade(db_url)
    store = DeadLetterStore(db_url)
    connection = await aio_pika.connect(amqp_url)
    missing = f"{queue_name}-missing"  # no parking queue: reading it closes the channel
    loop: asyncio.Task[None] | None = None
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(f"{queue_name}.dead", durable=True)
        await channel.default_exchange.publish(
            aio_pika.Message(b'{"n": 1}', message_id="p-1"), routing_key=f"{queue_name}.dead"
        )
        loop = asyncio.create_task(import_loop(connection, [missing, queue_name], store, 0.05))
        await wait_for(
            lambda: store.count(DeadLetterFilter(queue=queue_name)) == 1, 10, what="the row"
        )
    finally:
        if loop is not None:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        await connection.close()
        store.close()
        await delete_queues(amqp_url, f"{queue_name}.dead")


async def test_a_parking_queue_the_import_cannot_read_is_warned_about_once(
    amqp_url: str, queue_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db_url = f"sqlite:///{tmp_path / 'dl.sqlite3'}"
    upgrade(db_url)
    store = DeadLetterStore(db_url)
    connection = await aio_pika.connect(amqp_url)
    missing = f"{queue_name}-missing"

    def reports() -> list[logging.LogRecord]:
        return [r for r in caplog.records if f"{missing}.dead" in r.getMessage()]

    caplog.set_level(logging.DEBUG, logger="workerkit.deadletters")
    loop = asyncio.create_task(import_loop(connection, [missing], store, 0.02))
    try:
        await wait_for(lambda: len(reports()) >= 3, 10, what="three import rounds")
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        await connection.close()
        store.close()
    assert [r.levelno for r in reports()].count(logging.WARNING) == 1
    assert reports()[0].levelno == logging.WARNING


async def test_a_queue_without_a_parking_queue_is_an_error_not_imported_zero(
    amqp_url: str, queue_name: str, tmp_path: Path
) -> None:
    """A typo ('order' for 'orders') must not read as 'nothing parked'."""
    db_url = f"sqlite:///{tmp_path / 'dl.sqlite3'}"
    upgrade(db_url)
    env = {"WORKERKIT_BROKER_URL": amqp_url, "WORKERKIT_DEADLETTERS_DATABASE_URL": db_url}
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["dead-letters", "import-parked", f"{queue_name}-typo"], env=env
    )
    assert result.exit_code == exitcodes.RET_NOT_FOUND, result.output
    assert f"no parking queue {queue_name}-typo.dead" in result.output
    assert "imported" not in result.output
