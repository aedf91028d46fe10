"""Plain types of the ZooKeeper layer, importable without kazoo."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ConnectionState(enum.StrEnum):
    CONNECTED = "connected"
    SUSPENDED = "suspended"  # connection lost, the session may still be alive
    LOST = "lost"  # never connected yet, session expired, or stopped


class Access(enum.Enum):
    """Who may change a node. ZooKeeper ACLs are per node and never inherited."""

    ADMIN_WRITES = "admin-writes"  # everyone reads; only the admin digest writes
    WORKERS_CREATE = "workers-create"  # as above, and anyone may add children (the root)
    OPEN = "open"  # anyone may do anything (presence nodes of workers)


@dataclass(frozen=True)
class NodeStat:
    version: int
    mzxid: int
    mtime_ms: int
