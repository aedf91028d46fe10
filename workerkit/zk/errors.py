"""Errors of the ZooKeeper layer, so callers never import kazoo to catch them.

    WorkerkitError
    ├── ServiceUnavailable
    │   └── ZooKeeperUnavailable   (workerkit.errors) no connection, or an operation timed out
    └── ZooKeeperError             the server answered, and the answer was "no"
        ├── NodeMissing            the node does not exist (a read of a deleted switch)
        ├── NodeExists             a node we meant to create is already there
        ├── ConcurrentEdit         someone changed the node since we read it; nothing was written
        ├── NotAuthorised          the admin digest is missing or wrong
        └── InvalidDocument        a node's JSON is (or a change would make it) invalid

The CLI maps ConcurrentEdit to RET_CONFLICT, NotAuthorised to RET_NOT_AUTHORISED, NodeMissing
to RET_NOT_FOUND and InvalidDocument to RET_USAGE; workers never see any of these.
"""

from __future__ import annotations

from workerkit.errors import WorkerkitError


class ZooKeeperError(WorkerkitError):
    """ZooKeeper refused an operation; the message says which node and why."""


class NodeMissing(ZooKeeperError):
    pass


class NodeExists(ZooKeeperError):
    pass


class ConcurrentEdit(ZooKeeperError):
    """A versioned write lost the race: re-read and decide again instead of overwriting."""


class NotAuthorised(ZooKeeperError):
    """Writes need ``zookeeper.admin_digest``; the message never contains the secret."""


class InvalidDocument(ZooKeeperError, ValueError):
    """Refused before writing: workers would reject the document and keep their old value."""
