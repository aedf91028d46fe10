"""ZooKeeper pieces shared by switches, breaker overrides and worker presence."""

from workerkit.zk.cache import CacheStatus, ChildrenCache, Entry, Source
from workerkit.zk.client import ZkClient
from workerkit.zk.errors import ConcurrentEdit, NodeExists, NodeMissing, NotAuthorised
from workerkit.zk.snapshot import SnapshotFile
from workerkit.zk.types import Access, ConnectionState, NodeStat

__all__ = [
    "Access",
    "CacheStatus",
    "ChildrenCache",
    "ConcurrentEdit",
    "ConnectionState",
    "Entry",
    "NodeExists",
    "NodeMissing",
    "NodeStat",
    "NotAuthorised",
    "SnapshotFile",
    "Source",
    "ZkClient",
]
