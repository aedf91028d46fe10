"""The one module that imports kazoo: connection, ACLs and error translation.

Everything above this module talks in workerkit terms (``ConnectionState``, ``NodeStat``,
``Access`` and the errors of :mod:`workerkit.zk.errors`), so switches, breaker overrides and
worker presence share one connection policy and no caller has to know kazoo's pitfalls:
reconnects are capped at ``max_reconnect_delay`` (kazoo's default backoff grows to an hour),
a worker starts the connection in the background and never waits for it, and every blocking
call has a timeout instead of queueing until ZooKeeper comes back.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from kazoo import exceptions as kx
from kazoo.client import KazooClient, KazooState
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry
from kazoo.security import ACL, ANYONE_ID_UNSAFE, OPEN_ACL_UNSAFE, Permissions, make_digest_acl

from workerkit.config import ZooKeeperSettings
from workerkit.errors import ConfigError, ZooKeeperUnavailable
from workerkit.zk.errors import (
    ConcurrentEdit,
    NodeExists,
    NodeMissing,
    NotAuthorised,
    ZooKeeperError,
)
from workerkit.zk.logfilter import quiet_kazoo_logger
from workerkit.zk.ops import Create, Delete, Op, SetData
from workerkit.zk.types import Access, ConnectionState, NodeStat

log = logging.getLogger(__name__)

WatchFn = Callable[[Any], None]  # receives kazoo's WatchedEvent (.type, .state, .path)


_STATES = {
    KazooState.CONNECTED: ConnectionState.CONNECTED,
    KazooState.SUSPENDED: ConnectionState.SUSPENDED,
    KazooState.LOST: ConnectionState.LOST,
}


class ZkClient:
    """kazoo with workerkit's connection policy; one per process, created after any fork."""

    def __init__(
        self,
        hosts: str,
        *,
        admin_digest: str | None = None,
        connect_timeout: float = 5.0,
        max_reconnect_delay: float = 5.0,
        session_timeout: float = 10.0,
    ) -> None:
        self.hosts = hosts
        self.connect_timeout = connect_timeout
        self._admin = _split_digest(admin_digest) if admin_digest else None
        retry = KazooRetry(max_tries=-1, delay=0.1, backoff=2, max_delay=max_reconnect_delay)
        command_retry = KazooRetry(max_tries=2, delay=0.1, max_delay=max_reconnect_delay)
        auth = [("digest", f"{self._admin[0]}:{self._admin[1]}")] if self._admin else None
        self._kz = KazooClient(
            hosts=hosts,
            timeout=session_timeout,
            connection_retry=retry,
            command_retry=command_retry,
            auth_data=auth,
            logger=quiet_kazoo_logger("workerkit.zk.kazoo"),
        )
        self._listeners: list[Callable[[ConnectionState], None]] = []
        self._stopping = False
        self._lock = threading.Lock()
        self._kz.add_listener(self._on_state)

    @classmethod
    def from_settings(cls, zk: ZooKeeperSettings, *, admin: bool = False) -> ZkClient:
        """``admin=False`` for workers: they must never hold write credentials."""
        digest = zk.admin_digest.get_secret_value() if admin and zk.admin_digest else None
        return cls(
            zk.hosts,
            admin_digest=digest,
            connect_timeout=zk.connect_timeout,
            max_reconnect_delay=zk.max_reconnect_delay,
            session_timeout=zk.session_timeout,
        )

    @property
    def state(self) -> ConnectionState:
        return _STATES[self._kz.state]

    def add_state_listener(self, fn: Callable[[ConnectionState], None]) -> None:
        """``fn`` runs on kazoo's connection thread: it must hand over and return at once."""
        with self._lock:
            self._listeners.append(fn)

    def start_background(self) -> None:
        """Connect without waiting; a worker serves snapshot values until this succeeds."""
        self._kz.start_async()

    def start(self, timeout: float | None = None) -> None:
        """Connect and wait, for admin tools; raises :class:`ZooKeeperUnavailable` with the fix."""
        try:
            self._kz.start(timeout=timeout or self.connect_timeout)
        except KazooTimeoutError:
            raise ZooKeeperUnavailable(
                f"ZooKeeper is not answering on {self.hosts}; "
                "start it with: bash scripts/services.sh"
            ) from None

    def stop(self) -> None:
        self._stopping = True  # the LOST that follows is ours, not an outage
        with contextlib.suppress(Exception):  # already stopped, or the connection is gone
            self._kz.stop()
        self._kz.close()

    def get(self, path: str, watch: WatchFn | None = None) -> tuple[bytes, NodeStat]:
        with self._translate(path):
            data, stat = self._kz.get_async(path, watch).get(timeout=self.connect_timeout)
        return data, _stat(stat)

    def get_many(
        self, paths: Sequence[str], watch: WatchFn | None = None
    ) -> dict[str, tuple[bytes, NodeStat] | None]:
        """Read ``paths`` in one pipelined burst; a missing node maps to None."""
        pending = [(p, self._kz.get_async(p, watch)) for p in paths]
        found: dict[str, tuple[bytes, NodeStat] | None] = {}
        for path, result in pending:
            try:
                with self._translate(path):
                    data, stat = result.get(timeout=self.connect_timeout)
                found[path] = (data, _stat(stat))
            except NodeMissing:
                found[path] = None
        return found

    def get_children(self, path: str, watch: WatchFn | None = None) -> list[str]:
        with self._translate(path):
            return list(self._kz.get_children_async(path, watch).get(timeout=self.connect_timeout))

    def exists(self, path: str, watch: WatchFn | None = None) -> NodeStat | None:
        with self._translate(path):
            stat = self._kz.exists_async(path, watch).get(timeout=self.connect_timeout)
        return _stat(stat) if stat is not None else None

    def ensure_path(self, path: str, access: Access) -> None:
        """Create ``path`` and missing parents, each with ``access``; existing nodes keep theirs."""
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):
            node = "/" + "/".join(parts[:i])
            with contextlib.suppress(NodeExists):
                self.create(node, b"", access=access)

    def set_access(self, path: str, access: Access) -> None:
        """Replace the ACL of ``path`` (ZooKeeper needs the ADMIN permission on it)."""
        with self._translate(path):
            self._kz.set_acls_async(path, self._acl(access)).get(timeout=self.connect_timeout)

    def create(self, path: str, data: bytes, *, access: Access, ephemeral: bool = False) -> str:
        with self._translate(path):
            result = self._kz.create_async(path, data, acl=self._acl(access), ephemeral=ephemeral)
            return str(result.get(timeout=self.connect_timeout))

    def set(self, path: str, data: bytes, version: int = -1) -> NodeStat:
        with self._translate(path):
            return _stat(self._kz.set_async(path, data, version).get(timeout=self.connect_timeout))

    def delete(self, path: str, version: int = -1) -> None:
        with self._translate(path):
            self._kz.delete_async(path, version).get(timeout=self.connect_timeout)

    def commit(self, ops: Sequence[Op]) -> list[str | None]:
        """Apply ``ops`` atomically; the first refusal is raised as a workerkit error."""
        tx = self._kz.transaction()
        for op in ops:
            if isinstance(op, SetData):
                tx.set_data(op.path, op.data, op.version)
            elif isinstance(op, Create):
                tx.create(op.path, op.data, acl=self._acl(op.access), sequence=op.sequence)
            elif isinstance(op, Delete):
                tx.delete(op.path, op.version)
        with self._translate("transaction"):
            results = tx.commit_async().get(timeout=self.connect_timeout)
        for op, result in zip(ops, results, strict=True):
            if isinstance(result, Exception) and not isinstance(result, kx.RolledBackError):
                with self._translate(op.path):
                    raise result
        return [r if isinstance(r, str) else None for r in results]

    def _acl(self, access: Access) -> list[ACL]:
        if access is Access.OPEN:
            return list(OPEN_ACL_UNSAFE)
        if self._admin is None:
            raise NotAuthorised(
                "not authorised: creating protected nodes needs zookeeper.admin_digest "
                "(or WORKERKIT_ZOOKEEPER_ADMIN_DIGEST) set to the admin user:password"
            )
        perms = Permissions.READ
        if access is Access.WORKERS_CREATE:
            perms |= Permissions.CREATE
        return [make_digest_acl(*self._admin, all=True), ACL(perms, ANYONE_ID_UNSAFE)]

    def _on_state(self, state: str) -> None:
        new = _STATES[state]
        quiet = new is ConnectionState.CONNECTED or self._stopping
        level = logging.INFO if quiet else logging.WARNING
        log.log(level, "ZooKeeper %s is now %s", self.hosts, new.value)
        with self._lock:
            listeners = list(self._listeners)
        for fn in listeners:
            try:
                fn(new)
            except Exception:  # a listener must not kill kazoo's connection thread
                log.exception("ZooKeeper state listener %r failed", fn)

    @contextlib.contextmanager
    def _translate(self, path: str) -> Iterator[None]:
        try:
            yield
        except kx.NoNodeError:
            raise NodeMissing(f"{path} does not exist") from None
        except kx.NodeExistsError:
            raise NodeExists(f"{path} already exists") from None
        except kx.BadVersionError:
            raise ConcurrentEdit(
                f"{path} was changed by someone else since it was read; nothing was written"
            ) from None
        except (kx.NoAuthError, kx.AuthFailedError):
            raise NotAuthorised(
                f"not authorised to change {path}: check zookeeper.admin_digest "
                "(or WORKERKIT_ZOOKEEPER_ADMIN_DIGEST)"
            ) from None
        except (
            kx.ConnectionLoss,
            kx.SessionExpiredError,
            kx.ConnectionClosedError,
            kx.OperationTimeoutError,
            KazooTimeoutError,
        ):
            raise ZooKeeperUnavailable(
                f"ZooKeeper on {self.hosts} did not answer for {path}; "
                "start it with: bash scripts/services.sh"
            ) from None
        except kx.ZookeeperError as exc:  # any other refusal: named, and no kazoo type leaks
            raise ZooKeeperError(f"{path}: {type(exc).__name__}") from None


def _stat(stat: Any) -> NodeStat:
    return NodeStat(version=stat.version, mzxid=stat.mzxid, mtime_ms=stat.mtime)


def _split_digest(digest: str) -> tuple[str, str]:
    user, sep, password = digest.partition(":")
    if not sep or not user or not password:
        raise ConfigError("zookeeper.admin_digest must look like user:password")
    return user, password
