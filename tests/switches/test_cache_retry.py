"""The cache's sync thread: a read that times out while connected is retried, not forgotten."""

from __future__ import annotations

import logging

import pytest

from tests.zk_support import TcpProxy, wait_until
from workerkit.switches import Switch
from workerkit.switches.admin import SwitchAdmin
from workerkit.zk import ChildrenCache, ConnectionState, ZkClient

pytestmark = pytest.mark.integration


def test_a_read_that_times_out_while_connected_is_retried_not_forgotten(
    zk_proxy: TcpProxy, zk_admin: SwitchAdmin, zk_root: str, caplog: pytest.LogCaptureFixture
) -> None:
    """ZooKeeper busy after a restart: connected, but the first listing gets no answer in
    time. The session survives a one-second stall, so no reconnect event would resync the
    cache; only the sync thread's own retry can."""
    zk_admin.turn("a", True, by="t", reason="r")
    client = ZkClient(zk_proxy.hosts, connect_timeout=0.5, session_timeout=10.0)
    client.start()
    states: list[ConnectionState] = []
    client.add_state_listener(states.append)
    cache = ChildrenCache(client, f"{zk_root}/switches", Switch.from_json)
    caplog.set_level(logging.INFO, logger="workerkit.zk.cache")
    zk_proxy.hold()
    cache.start()
    try:
        wait_until(lambda: "paused until ZooKeeper answers" in caplog.text, 3, "a read timing out")
        zk_proxy.release()
        assert cache.wait_synced(5)
        assert cache.values["a"].on is True
        assert ConnectionState.CONNECTED is client.state
        assert not [s for s in states if s is not ConnectionState.CONNECTED], states
    finally:
        cache.stop()
        client.stop()
