"""Operations of one ZooKeeper transaction, as plain data.

The admin writer builds a list of these (the change, which carries the version it was read
at, and the audit entry) and :meth:`workerkit.zk.client.ZkClient.commit` applies them all or
none, so an audit entry exists exactly when its change does.
"""

from __future__ import annotations

from dataclasses import dataclass

from workerkit.zk.types import Access


@dataclass(frozen=True)
class SetData:
    path: str
    data: bytes
    version: int


@dataclass(frozen=True)
class Create:
    path: str
    data: bytes
    access: Access
    sequence: bool = False


@dataclass(frozen=True)
class Delete:
    path: str
    version: int


Op = SetData | Create | Delete
