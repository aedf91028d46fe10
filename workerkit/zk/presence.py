"""Live workers: one ephemeral node per queue a worker consumes, with its current state.

``<root>/workers/<queue>/<host>-<pid>`` holds JSON refreshed every ``interval`` seconds: that
queue's own figures at the top level (concurrency, busy, ...), the fields the whole process
shares (connected, breakers, ...), ``queues`` (the names of every queue it consumes),
started_at, updated_at, pid, host and version. Ephemeral nodes vanish
with the session, so a crashed worker disappears on its own; after a session loss the nodes
are re-created at the next refresh. Presence is best effort: a ZooKeeper outage never stops
or slows the worker, it only makes ``workerkit workers list`` stale.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from workerkit.errors import ZooKeeperUnavailable
from workerkit.zk.client import ZkClient
from workerkit.zk.errors import NodeExists, NodeMissing, ZooKeeperError
from workerkit.zk.types import Access, ConnectionState

log = logging.getLogger(__name__)
# {"queues": {"orders": {"concurrency": 20, "busy": 3}}, "connected": True}: each queue's own
# figures under "queues", the rest shared; or flat {"concurrency": 20, "busy": 3} for all queues
StateFn = Callable[[], Mapping[str, Any]]


class Presence:
    """Announces this process under each of ``queues``; ``state_fn`` adds live figures.

    When ``state_fn`` returns a mapping under ``"queues"`` (queue name -> that queue's
    figures, as :meth:`Worker.state <workerkit.worker.runner.Worker.state>` does), each
    queue's node carries its own figures at the top level beside the shared fields, so
    ``workerkit workers list`` reads ``busy`` and ``concurrency`` straight from the node.
    Otherwise every node carries the flat mapping as it is. ``"queues"`` in the node is
    always the list of queue names.
    """

    def __init__(
        self,
        client: ZkClient,
        root: str,
        queues: Sequence[str],
        state_fn: StateFn,
        *,
        interval: float = 5.0,
    ) -> None:
        self.client, self.root, self.queues = client, root, list(queues)
        self._state_fn, self._interval = state_fn, interval
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}"
        self._started_at = _now()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def paths(self) -> list[str]:
        return [f"{self.root}/workers/{q}/{self.worker_id}" for q in self.queues]

    def start(self) -> None:
        """Returns at once; the first announcement happens as soon as ZooKeeper answers."""
        self.client.add_state_listener(self._on_state)
        self._thread = threading.Thread(target=self._run, name="zk-presence", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Remove our nodes now rather than at session end, so the list is right at once."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.client.state is ConnectionState.CONNECTED:
            for path in self.paths():
                try:
                    self.client.delete(path)
                except (NodeMissing, ZooKeeperUnavailable):
                    pass

    def poke(self) -> None:
        """Refresh soon, from the background thread: for state changes operators should see
        at once (a pause, a breaker forced open). Never blocks the caller."""
        self._wake.set()

    def refresh(self) -> None:
        """Write the current state now (also called by the background thread)."""
        state = self._state()
        for queue, path in zip(self.queues, self.paths(), strict=True):
            data = json.dumps(self._document(queue, state), sort_keys=True).encode()
            try:
                self.client.set(path, data)
            except NodeMissing:  # first run, or the session that owned it expired
                self.client.ensure_path(path.rpartition("/")[0], Access.OPEN)
                try:
                    self.client.create(path, data, access=Access.OPEN, ephemeral=True)
                except NodeExists:  # a racing refresh made it: the next one sets it
                    pass

    def _state(self) -> Mapping[str, Any]:
        try:
            return self._state_fn()
        except Exception:  # a broken state function must not hide the worker
            log.exception("presence state function failed; announcing without it")
            return {}

    def _document(self, queue: str, state: Mapping[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self._started_at,
            "version": _version(),
        }
        per_queue = state.get("queues")
        if isinstance(per_queue, Mapping):
            doc.update((k, v) for k, v in state.items() if k != "queues")
            own = per_queue.get(queue)
            if isinstance(own, Mapping):
                doc.update(own)
        else:
            doc.update(state)
        doc["queues"] = self.queues
        doc["updated_at"] = _now()
        return doc

    def _on_state(self, state: ConnectionState) -> None:
        if state is ConnectionState.CONNECTED:
            self._wake.set()  # re-create nodes a lost session took away

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self.client.state is ConnectionState.CONNECTED:
                try:
                    self.refresh()
                except (ZooKeeperUnavailable, ZooKeeperError) as exc:
                    log.info("presence not refreshed: %s", exc)
                except Exception:  # a dead thread would leave the worker unlisted for good
                    log.exception("presence not refreshed; trying again at the next interval")
            self._wake.wait(self._interval)
            self._wake.clear()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _version() -> str:
    try:
        return metadata.version("workerkit")
    except metadata.PackageNotFoundError:
        return "unknown"


def age_seconds(iso: str, now: float | None = None) -> float | None:
    """Seconds since an ``updated_at`` stamp, for staleness in listings."""
    try:
        stamp = datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        return None
    return (time.time() if now is None else now) - stamp


STALE_AFTER = 30.0  # seconds without a refresh; six default refresh intervals


def live_workers(client: ZkClient, root: str) -> list[dict[str, Any]]:
    """Every live worker's document, one row per (queue, worker), for the admin CLIs.

    Each row adds ``queue``, ``worker`` (``<host>-<pid>``), ``updated_age`` and ``stale``
    (an alive session whose refresh is stuck) to what the worker published.
    """
    base = f"{root}/workers"
    try:
        queues = sorted(client.get_children(base))
    except NodeMissing:
        return []
    rows: list[dict[str, Any]] = []
    for queue in queues:
        try:
            ids = sorted(client.get_children(f"{base}/{queue}"))
        except NodeMissing:
            continue
        found = client.get_many([f"{base}/{queue}/{i}" for i in ids])
        for worker_id in ids:
            node = found[f"{base}/{queue}/{worker_id}"]
            if node is None:  # exited while we listed
                continue
            try:
                doc = json.loads(node[0].decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                doc = {}
            if not isinstance(doc, dict):
                doc = {}
            age = age_seconds(doc.get("updated_at", ""))
            rows.append(
                {
                    **doc,
                    "queue": queue,
                    "worker": worker_id,
                    "updated_age": age,
                    "stale": age is None or age > STALE_AFTER,
                }
            )
    return rows
