"""The cache's sync thread without a server: failures while connected are retried."""

from __future__ import annotations

from workerkit.errors import ZooKeeperUnavailable
from workerkit.switches import Switch
from workerkit.zk import ChildrenCache, ConnectionState, NodeStat


class _FlakyClient:
    """Connected, but the first listing times out, as a server busy after a restart does."""

    state = ConnectionState.CONNECTED

    def __init__(self) -> None:
        self.calls = 0

    def add_state_listener(self, fn):
        pass

    def get_children(self, path, watch=None):
        self.calls += 1
        if self.calls == 1:
            raise ZooKeeperUnavailable("read timed out")
        return ["a"]

    def get_many(self, paths, watch=None):
        return {p: (b'{"on": true}', NodeStat(version=0, mzxid=7, mtime_ms=0)) for p in paths}


def test_a_read_that_times_out_while_connected_is_retried_not_forgotten():
    cache = ChildrenCache(_FlakyClient(), "/root/switches", Switch.from_json)
    cache.start()
    try:
        assert cache.wait_synced(3)
        assert cache.values["a"].on is True
    finally:
        cache.stop()
