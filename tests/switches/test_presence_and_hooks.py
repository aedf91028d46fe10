"""Worker presence nodes, ``workerkit workers list``, and the consumer-pause hook."""

from __future__ import annotations

import asyncio
import json
import os
import threading

import pytest
from click.testing import CliRunner

from tests.helpers import wait_for
from tests.zk_support import wait_until
from workerkit.cli import cli
from workerkit.zk import ZkClient
from workerkit.zk.errors import ZooKeeperError
from workerkit.zk.presence import Presence
from workerkit.zk.types import Access

pytestmark = pytest.mark.integration


@pytest.fixture
def worker_client(zookeeper_hosts):
    client = ZkClient(zookeeper_hosts, max_reconnect_delay=0.3)
    client.start()
    yield client
    client.stop()


def test_a_worker_announces_itself_per_queue_and_workers_list_shows_it(
    worker_client, zk_root, zk_admin, zookeeper_hosts, monkeypatch
):
    zk_admin.turn("some-switch", True, by="t", reason="root made by the admin first")
    busy = {"n": 0}
    presence = Presence(
        worker_client,
        zk_root,
        ["orders", "emails"],
        lambda: {"concurrency": 20, "busy": busy["n"]},
        interval=0.05,
    )
    presence.start()
    try:
        wait_until(lambda: all(worker_client.exists(p) for p in presence.paths()), 5, "nodes")
        busy["n"] = 7
        path = presence.paths()[0]
        wait_until(lambda: json.loads(worker_client.get(path)[0])["busy"] == 7, 5, "refresh")
        doc = json.loads(worker_client.get(path)[0])
        assert doc["pid"] == os.getpid() and doc["queues"] == ["orders", "emails"]
        assert worker_client.exists(path).mtime_ms > 0
        for name in [n for n in os.environ if n.startswith("WORKERKIT_")]:
            monkeypatch.delenv(name)
        env = {"WORKERKIT_ZOOKEEPER_HOSTS": zookeeper_hosts, "WORKERKIT_ZOOKEEPER_ROOT": zk_root}
        result = CliRunner().invoke(cli, ["workers", "list", "--json"], env=env)
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)
        assert sorted(r["queue"] for r in rows) == ["emails", "orders"]
        assert all(r["worker"] == presence.worker_id and not r["stale"] for r in rows)
        table = CliRunner().invoke(cli, ["workers", "list"], env=env)
        assert "orders" in table.stdout
    finally:
        presence.stop()
    assert not any(worker_client.exists(p) for p in presence.paths())


def test_presence_nodes_come_back_after_the_session_expires(
    zk_proxy, zk_root, zk_admin, worker_client
):
    cut_off = ZkClient(zk_proxy.hosts, max_reconnect_delay=0.3, session_timeout=2.0)
    cut_off.start()
    presence = Presence(cut_off, zk_root, ["orders"], dict, interval=30)
    presence.start()
    try:
        path = presence.paths()[0]
        wait_until(lambda: worker_client.exists(path), 5, "node")
        zk_proxy.cut()
        wait_until(lambda: worker_client.exists(path) is None, 10, "the server to expire it")
        zk_proxy.restore()
        wait_until(lambda: worker_client.exists(path), 10, "node on the new session")
    finally:
        presence.stop()
        cut_off.stop()


async def test_follow_reports_each_flip_once_on_the_event_loop(make_manager, zk_admin):
    manager = make_manager()
    loop_thread = threading.get_ident()
    states: list[bool] = []
    threads: set[int] = set()

    def consumer_gate(on: bool) -> None:
        states.append(on)
        threads.add(threading.get_ident())

    manager.follow("orders-notifier", consumer_gate, loop=asyncio.get_running_loop())
    changes: list[str] = []  # on the sync thread, after follow's delivery was scheduled
    manager.add_listener("orders-notifier", lambda n, o, new: changes.append(n))
    await asyncio.to_thread(wait_until, lambda: states == [True], 2, "initial state")
    await asyncio.to_thread(zk_admin.turn, "orders-notifier", False, by="t", reason="r")
    await asyncio.to_thread(wait_until, lambda: states == [True, False], 2, "paused")
    await asyncio.to_thread(zk_admin.update, "orders-notifier", {"value": 1}, by="t", reason="r")
    await asyncio.to_thread(zk_admin.turn, "orders-notifier", True, by="t", reason="r")
    await asyncio.to_thread(wait_until, lambda: len(changes) == 3, 2, "three changes")
    await wait_for(lambda: len(states) >= 3, 2, what="the third flip on the loop")
    assert states == [True, False, True]
    assert threads == {loop_thread}


def test_an_unexpected_refresh_error_does_not_end_the_presence_thread(
    worker_client, zk_root, caplog
):
    calls = {"n": 0}

    def state() -> dict[str, object]:
        calls["n"] += 1
        return {"odd": object()} if calls["n"] == 1 else {"busy": 0}  # first one is not JSON

    presence = Presence(worker_client, zk_root, ["orders"], state, interval=0.05)
    presence.start()
    try:
        wait_until(lambda: worker_client.exists(presence.paths()[0]), 5, "node after the error")
    finally:
        presence.stop()
    assert "presence not refreshed" in caplog.text


def test_any_other_refusal_from_zookeeper_is_a_zookeeper_error(worker_client, zk_root):
    worker_client.ensure_path(zk_root, Access.OPEN)
    parent = f"{zk_root}/short-lived"
    worker_client.create(parent, b"", access=Access.OPEN, ephemeral=True)
    with pytest.raises(ZooKeeperError, match="NoChildrenForEphemeralsError"):
        worker_client.create(f"{parent}/child", b"", access=Access.OPEN)
