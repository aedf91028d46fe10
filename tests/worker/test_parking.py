"""``workerkit dead-letters import-parked`` moves what a worker parked into the table."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers import delete_queues, queue_depth, running_worker, wait_for_value
from workerkit import App, Message, Settings
from workerkit.cli import cli
from workerkit.config import BrokerSettings, SecretUrl
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
