"""A real worker's live-worker nodes, read back through ``workerkit workers list``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import delete_queues, running_worker, wait_for
from workerkit import App, Message, Settings
from workerkit.config import BrokerSettings, SecretUrl, WorkerSettings, ZooKeeperSettings

pytestmark = pytest.mark.integration


async def test_workers_list_shows_each_consumers_own_busy_and_concurrency(
    amqp_url: str,
    queue_name: str,
    zookeeper_hosts: str,
    zk_root: str,
    tmp_path: Path,
    zk_cli: Any,
) -> None:
    other = f"{queue_name}.other"
    app = App(
        "t",
        settings=Settings(
            broker=BrokerSettings(url=SecretUrl(amqp_url)),
            worker=WorkerSettings(heartbeat_interval=0.1),
            zookeeper=ZooKeeperSettings(
                hosts=zookeeper_hosts, root=zk_root, snapshot_path=tmp_path / "switches.json"
            ),
        ),
    )
    release = asyncio.Event()

    @app.consumer(queue_name, concurrency=3)
    async def handle(message: Message) -> None:
        await release.wait()

    @app.consumer(other, concurrency=2)
    async def handle_other(message: Message) -> None:
        pass

    async def listed() -> dict[str, dict[str, Any]]:
        result = await asyncio.to_thread(zk_cli, "workers", "list", "--json")
        assert result.exit_code == 0, result.output
        return {row["queue"]: row for row in json.loads(result.stdout)}

    try:
        async with running_worker(app) as worker:
            try:
                await app.publish(queue_name, {"n": 1})
                await wait_for(lambda: worker.runtimes[queue_name].busy == 1, 5, what="one busy")
                deadline = asyncio.get_running_loop().time() + 5
                rows = await listed()
                while rows.get(queue_name, {}).get("busy") != 1:
                    assert asyncio.get_running_loop().time() < deadline, rows
                    await asyncio.sleep(0.1)
                    rows = await listed()
                mine, theirs = rows[queue_name], rows[other]
                assert (mine["busy"], mine["concurrency"]) == (1, 3)
                assert (theirs["busy"], theirs["concurrency"]) == (0, 2)
                assert sorted(mine["queues"]) == sorted([queue_name, other])
                assert mine["connected"] is True and "breakers" in mine

                table = await asyncio.to_thread(zk_cli, "workers", "list")
                assert table.exit_code == 0, table.output
                cells = [
                    [c.strip() for c in ln.split("│")[1:-1]]
                    for ln in table.stdout.splitlines()
                    if ln.startswith("│")
                ]
                # rows sorted by queue, and the queue names are cut short: ours comes first
                assert [c[2:4] for c in cells] == [["1", "3"], ["0", "2"]], table.stdout
            finally:
                release.set()  # or stopping waits out the grace period
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.dead", other, f"{other}.dead")
