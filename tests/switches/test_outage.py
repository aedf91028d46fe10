"""ZooKeeper going away: reads keep the last values, catch up afterwards, and survive restarts."""

from __future__ import annotations

import time

import pytest

from tests.zk_support import wait_until
from workerkit.switches import SwitchManager
from workerkit.switches.admin import SwitchAdmin
from workerkit.zk import Access, ConnectionState, Source, ZkClient

pytestmark = pytest.mark.integration


def test_reads_keep_the_last_values_while_cut_off_and_changes_made_meanwhile_arrive(
    make_manager, zk_admin, zk_proxy
):
    manager = make_manager(hosts=zk_proxy.hosts)
    zk_admin.turn("payments", True, by="t", reason="r")
    zk_admin.update("limit", {"value": 5}, by="t", reason="r")
    wait_until(lambda: manager.value("limit") == 5 and manager.is_on("payments"), 2, "values")

    zk_proxy.cut()
    wait_until(lambda: manager.status().state is not ConnectionState.CONNECTED, 10, "suspended")
    zk_admin.turn("payments", False, by="t", reason="changed during the outage")
    zk_admin.update("limit", {"value": 6}, by="t", reason="changed during the outage")
    zk_admin.turn("new-feature", True, by="t", reason="created during the outage")
    for _ in range(200):  # readers never see an exception nor a default
        assert manager.is_on("payments") is True
        assert manager.value("limit") == 5
    status = manager.status()
    assert status.synced is False
    assert status.last_sync_age is not None and status.last_sync_age >= 0

    zk_proxy.restore()
    wait_until(lambda: manager.value("limit") == 6, 10, "the change made meanwhile")
    assert manager.is_on("payments") is False
    assert manager.is_on("new-feature") is True
    wait_until(lambda: manager.status().synced, 2, "synced again")


def test_a_session_that_expires_during_the_cut_resyncs_on_the_new_session(
    make_manager, zk_admin, zk_proxy
):
    manager = make_manager(hosts=zk_proxy.hosts, session_timeout=2.0)
    zk_admin.turn("a", True, by="t", reason="r")
    wait_until(lambda: manager.is_on("a"), 2, "a on")
    marker = f"{zk_admin.writer.root}/session-marker"  # ephemeral: gone when the session is
    manager.client.create(marker, b"", access=Access.OPEN, ephemeral=True)
    zk_proxy.cut()
    zk_admin.turn("a", False, by="t", reason="r")
    wait_until(lambda: zk_admin.writer.client.exists(marker) is None, 15, "session expiry")
    assert manager.is_on("a") is True
    zk_proxy.restore()
    wait_until(lambda: not manager.is_on("a"), 10, "a off after the new session")
    assert manager.status().state is ConnectionState.CONNECTED


def test_a_worker_restarted_while_zookeeper_is_down_serves_the_disk_snapshot(
    make_manager, zk_admin, zk_proxy
):
    first = make_manager(hosts=zk_proxy.hosts)
    zk_admin.update("rollout", {"percent": 30}, by="t", reason="r")
    zk_admin.update("limit", {"value": {"max": 9}}, by="t", reason="r")
    wait_until(lambda: first.value("limit") == {"max": 9}, 2, "values")
    answers = {k: first.is_on("rollout", key=k) for k in range(200)}
    first.stop()

    zk_proxy.cut()
    started = time.perf_counter()
    second = make_manager(hosts=zk_proxy.hosts)
    assert time.perf_counter() - started < 0.2  # no waiting for ZooKeeper
    assert second.value("limit") == {"max": 9}
    assert {k: second.is_on("rollout", key=k) for k in range(200)} == answers
    assert second.source("limit") is Source.SNAPSHOT
    assert second.status().last_sync_age is not None

    zk_proxy.restore()
    wait_until(lambda: second.source("limit") is Source.ZOOKEEPER, 10, "live source")


def test_a_switch_deleted_while_a_worker_was_down_is_dropped_from_its_snapshot(
    make_manager, zk_admin
):
    first = make_manager()
    zk_admin.turn("old", True, by="t", reason="r")
    wait_until(lambda: first.is_on("old"), 2, "old on")
    first.stop()
    zk_admin.delete("old", by="t", reason="r")
    second = make_manager()
    assert second.is_on("old") is True  # snapshot first: precedence default < snapshot < live
    wait_until(lambda: not second.is_on("old"), 5, "the deletion to win")


def test_a_real_zookeeper_stop_and_start_is_survived(private_zookeeper, tmp_path, admin_digest):
    admin_client = ZkClient(
        private_zookeeper.hosts, admin_digest=admin_digest, max_reconnect_delay=0.3
    )
    admin_client.start(timeout=10)
    admin = SwitchAdmin(admin_client, "/workerkit")
    manager = SwitchManager(
        hosts=private_zookeeper.hosts,
        snapshot_path=tmp_path / "s.json",
        client=ZkClient(private_zookeeper.hosts, max_reconnect_delay=0.3),
    )
    manager.client.start_background()
    manager.start()
    try:
        admin.turn("a", True, by="t", reason="r")
        wait_until(lambda: manager.is_on("a"), 5, "a on")
        private_zookeeper.stop()
        wait_until(lambda: manager.status().state is not ConnectionState.CONNECTED, 30, "down")
        assert manager.is_on("a") is True
        private_zookeeper.start()
        wait_until(lambda: manager.status().synced, 30, "resynced")
        wait_until(lambda: admin_client.state is ConnectionState.CONNECTED, 30, "admin back")
        admin.turn("a", False, by="t", reason="r")
        wait_until(lambda: not manager.is_on("a"), 5, "a off")
    finally:
        manager.stop()
        manager.client.stop()
        admin_client.stop()
