"""The operator's loop with a real worker: fail, fix, replay, handled; fail again, linked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers import delete_queues, queue_depth, running_worker, wait_for
from workerkit import App, Message, Settings
from workerkit.cli import cli
from workerkit.config import BrokerSettings, SecretUrl
from workerkit.deadletters.query import DeadLetterFilter
from workerkit.deadletters.schema import upgrade
from workerkit.deadletters.store import DeadLetterStore

pytestmark = pytest.mark.integration


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'dl.sqlite3'}"
    upgrade(url)
    yield url


async def invoke(args: list[str], amqp_url: str, db_url: str) -> tuple[int, str]:
    env = {"WORKERKIT_BROKER_URL": amqp_url, "WORKERKIT_DEADLETTERS_DATABASE_URL": db_url}
    result = await asyncio.to_thread(CliRunner().invoke, cli, args, env=env)
    return result.exit_code, result.output


async def test_dead_letters_replayed_after_a_fix_are_handled_with_identical_bodies(
    amqp_url: str, queue_name: str, db_url: str
) -> None:
    store = DeadLetterStore(db_url)
    app = App("test", settings=Settings(broker=BrokerSettings(url=SecretUrl(amqp_url))))
    broken = True
    handled: list[bytes] = []

    @app.consumer(queue_name, concurrency=4, max_attempts=1)
    async def handle(message: Message) -> None:
        if broken or message.body.get("poison"):
            raise KeyError("sku")
        handled.append(message.raw)

    sent = [json.dumps({"order": n, "note": "é"}, ensure_ascii=False).encode() for n in range(20)]
    try:
        async with running_worker(app, store=store):
            for raw in sent:
                await app.publish(queue_name, raw, content_type="application/json")
            await app.publish(queue_name, {"poison": True})
            await wait_for(
                lambda: store.count(DeadLetterFilter(queue=queue_name)) == 21, 15, what="21 rows"
            )
            broken = False  # the fix is deployed
            code, out = await invoke(
                ["dead-letters", "replay", "--queue", queue_name, "--yes", "--by", "ops"],
                amqp_url,
                db_url,
            )
            assert code == 0, out
            await wait_for(lambda: len(handled) == 20, 15, what="20 replayed messages handled")
            # the poison message failed again: a new row linked to its first one
            await wait_for(
                lambda: store.count(DeadLetterFilter(queue=queue_name, statuses=("dead",))) == 1,
                15,
                what="the poison message back in the table",
            )
        assert sorted(handled) == sorted(sent)
        assert store.count(DeadLetterFilter(queue=queue_name, statuses=("replayed",))) == 21
        [again] = store.rows(DeadLetterFilter(queue=queue_name, statuses=("dead",)))
        assert again.replayed_from is not None
        code, out = await invoke(["dead-letters", "show", str(again.id)], amqp_url, db_url)
        assert code == 0, out
        assert f"#{again.id} from #{again.replayed_from}" in out, out
        assert await queue_depth(amqp_url, queue_name) == 0
    finally:
        store.close()
        await delete_queues(amqp_url, queue_name, f"{queue_name}.retriable", f"{queue_name}.dead")
