"""A local copy of every child of one ZooKeeper path, kept current by watches.

Readers look at :attr:`ChildrenCache.values`, a dict that is never mutated once published: a
change builds a new dict and swaps the reference under a lock, so a read is one attribute and
one dict lookup, with no lock and no network. kazoo's threads only enqueue the path a watch
fired for; one sync thread of ours does the reads, parses JSON, swaps, writes the snapshot and
notifies listeners (on their asyncio loop when they gave one). Connection loss changes no value;
a reconnect re-reads everything, so changes made during an outage arrive. Precedence is code
default < disk snapshot < live ZooKeeper, and a deleted node means "use the code default".
"""

from __future__ import annotations

import enum
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from workerkit.errors import ZooKeeperUnavailable
from workerkit.zk.client import ZkClient
from workerkit.zk.errors import NodeMissing
from workerkit.zk.listeners import Listeners
from workerkit.zk.snapshot import SnapshotFile
from workerkit.zk.types import ConnectionState, NodeStat

T = TypeVar("T")
log = logging.getLogger(__name__)
_INVALID: Any = object()  # what _parse returns for a value convert() refused
_ALL = "\0all"
_STOP = "\0stop"


class Source(enum.StrEnum):
    ZOOKEEPER = "zookeeper"
    SNAPSHOT = "snapshot"
    DEFAULT = "default"  # reported by callers for names the cache does not hold


@dataclass(frozen=True)
class Entry(Generic[T]):
    value: T
    raw: Any  # the parsed JSON, as saved in the snapshot
    mzxid: int
    source: Source


@dataclass(frozen=True)
class CacheStatus:
    path: str
    state: ConnectionState
    synced: bool  # a full read finished since the last (re)connect
    last_sync_age: float | None  # 0 while live; seconds since values were last known current
    sources: Mapping[str, Source]

    def as_dict(self) -> dict[str, Any]:
        """Plain data for a health endpoint or ``--json`` output."""
        return {
            "path": self.path,
            "state": self.state.value,
            "synced": self.synced,
            "last_sync_age": self.last_sync_age,
            "sources": {name: source.value for name, source in self.sources.items()},
        }


class ChildrenCache(Generic[T]):
    """Watches ``path``'s children; ``convert(name, json)`` gives ``T`` or raises ValueError."""

    def __init__(
        self,
        client: ZkClient,
        path: str,
        convert: Callable[[str, Any], T],
        snapshot: SnapshotFile | None = None,
    ) -> None:
        self.client, self.path, self._convert, self._snapshot = client, path, convert, snapshot
        self.values: dict[str, T] = {}  # never mutated after publication: swapped whole
        self._entries: dict[str, Entry[T]] = {}
        self._refused: dict[str, int] = {}  # name -> mzxid of the bad write already logged
        self.listeners: Listeners[T] = Listeners()
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._synced = threading.Event()
        self._current_at: float | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Load the snapshot, then follow ZooKeeper in the background; never waits for it."""
        if self._thread is not None:
            return
        snap = self._snapshot.load() if self._snapshot else None
        if snap is not None:
            entries = {}
            for name, raw in snap.values.items():
                value = self._parse(name, raw, snap.mzxids.get(name, 0))
                if value is not _INVALID:
                    entries[name] = Entry(value, raw, snap.mzxids.get(name, 0), Source.SNAPSHOT)
            self._publish(entries, save=False)
            self._current_at = snap.saved_at
        self._thread = threading.Thread(target=self._run, name=f"zk-cache{self.path}", daemon=True)
        self._thread.start()
        self.client.add_state_listener(self._on_state)
        if self.client.state is ConnectionState.CONNECTED:
            self._queue.put(_ALL)

    def stop(self, timeout: float = 5.0) -> None:
        self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout)
        if self._snapshot is not None:
            self._snapshot.flush(timeout)

    def wait_synced(self, timeout: float) -> bool:
        """For admin tools and tests; workers never wait."""
        return self._synced.wait(timeout)

    def status(self) -> CacheStatus:
        synced = self._synced.is_set() and self.client.state is ConnectionState.CONNECTED
        age = 0.0 if synced else None
        if not synced and self._current_at is not None:
            age = max(0.0, time.time() - self._current_at)
        sources = {name: e.source for name, e in self._entries.items()}
        return CacheStatus(self.path, self.client.state, synced, age, sources)

    def entry(self, name: str) -> Entry[T] | None:
        return self._entries.get(name)

    # kazoo threads: hand over only
    def _on_state(self, state: ConnectionState) -> None:
        if state is ConnectionState.CONNECTED:
            self._queue.put(_ALL)
        elif self._synced.is_set():
            self._current_at = time.time()
            self._synced.clear()

    def _on_event(self, event: Any) -> None:
        if event.type != "NONE" and event.path:  # NONE: disconnect; CONNECTED resyncs all
            self._queue.put(event.path)

    # the sync thread
    def _run(self) -> None:
        retry_in: float | None = None  # after a failed read while connected: try again
        while True:
            try:
                batch = {self._queue.get(timeout=retry_in)}
            except queue.Empty:
                batch = {_ALL}
            while not self._queue.empty():
                batch.add(self._queue.get_nowait())
            if _STOP in batch:
                return
            try:
                if _ALL in batch or self.path in batch or retry_in is not None:
                    self._full_sync()
                else:
                    for path in sorted(batch):
                        self._sync_one(path.rpartition("/")[2])
                retry_in = None
            except Exception as exc:
                if isinstance(exc, ZooKeeperUnavailable):
                    log.info("sync of %s paused until ZooKeeper answers: %s", self.path, exc)
                else:
                    log.exception("unexpected error syncing %s; values unchanged", self.path)
                # disconnected: the CONNECTED event resyncs; connected: a read timed out
                connected = self.client.state is ConnectionState.CONNECTED
                retry_in = min(2 * (retry_in or 0.1), 5.0) if connected else None

    def _full_sync(self) -> None:
        try:
            names = self.client.get_children(self.path, watch=self._on_event)
        except NodeMissing:
            if self.client.exists(self.path, watch=self._on_event) is not None:
                self._queue.put(_ALL)  # created between the two calls
                return
            names = []
        found = self.client.get_many([f"{self.path}/{n}" for n in names], watch=self._on_event)
        entries: dict[str, Entry[T]] = {}
        for name in names:
            node = found[f"{self.path}/{name}"]
            if node is not None:
                entry = self._entry(name, *node)
                if entry is not None:
                    entries[name] = entry
        self._publish(entries)
        if self.client.state is ConnectionState.CONNECTED:
            self._synced.set()

    def _sync_one(self, name: str) -> None:
        entries = dict(self._entries)
        try:
            data, stat = self.client.get(f"{self.path}/{name}", watch=self._on_event)
        except NodeMissing:
            entries.pop(name, None)
        else:
            entry = self._entry(name, data, stat)
            if entry is None:
                entries.pop(name, None)
            else:
                entries[name] = entry
        self._publish(entries)

    def _entry(self, name: str, data: bytes, stat: NodeStat) -> Entry[T] | None:
        """The new entry, the previous one when the node is malformed or older, else None."""
        old = self._entries.get(name)
        if old is not None and old.source is Source.ZOOKEEPER and stat.mzxid < old.mzxid:
            return old
        try:
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            self._refuse(name, stat.mzxid, f"holds malformed JSON ({exc})")
            return old
        value = self._parse(name, raw, stat.mzxid)
        if value is _INVALID:
            return old
        self._refused.pop(name, None)
        return Entry(value, raw, stat.mzxid, Source.ZOOKEEPER)

    def _parse(self, name: str, raw: Any, mzxid: int = 0) -> T:
        try:
            return self._convert(name, raw)
        except (ValueError, TypeError) as exc:
            self._refuse(name, mzxid, f"is not a valid value ({exc})")
            return _INVALID  # type: ignore[no-any-return]

    def _refuse(self, name: str, mzxid: int, problem: str) -> None:
        """One ERROR per bad write: a reconnect re-reads every node, and a flapping
        connection must not repeat the same complaint each time."""
        if self._refused.get(name) == mzxid:
            return
        self._refused[name] = mzxid
        log.error("%s/%s %s; keeping the previous value", self.path, name, problem)

    def _publish(self, entries: dict[str, Entry[T]], save: bool = True) -> None:
        with self._lock:
            old_values = self.values
            if entries == self._entries:
                return
            self._entries = entries
            self.values = {name: e.value for name, e in entries.items()}
            self._current_at = time.time()
        changes = [
            (name, old_values.get(name), self.values.get(name))
            for name in sorted(old_values.keys() | self.values.keys())
            if old_values.get(name) != self.values.get(name)
        ]
        for name, old, new in changes:
            self.listeners.notify(name, old, new)
        if save and self._snapshot is not None:  # on its own thread: fsync takes milliseconds
            self._snapshot.save_soon(
                {n: e.raw for n, e in entries.items()}, {n: e.mzxid for n, e in entries.items()}
            )
