"""BreakerOverrides: operator overrides in ZooKeeper, applied to this process's breakers.

The nodes ``<root>/breakers/<name>`` hold the JSON of :mod:`workerkit.breakers.override`.
They are followed by the same watched cache as the switches, so they obey the same outage
rules: a lost connection changes nothing (a forced breaker stays forced), a restart while
ZooKeeper is down applies the last overrides from a disk snapshot of their own, and a
malformed node keeps the last good override (the cache logs one error per bad write). A
deleted node returns the breaker to ``auto``. Counting stays local; only control is shared.

An ``until`` is enforced by the breaker itself on its next call; a timer here also ticks the
registry at that moment, so the "back to auto" event (and alert) comes on time even when no
call is made, for instance while the consumers using the breaker are paused.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from workerkit.breakers.override import Override, override_from_json
from workerkit.breakers.registry import BreakerRegistry
from workerkit.zk.cache import CacheStatus, ChildrenCache
from workerkit.zk.client import ZkClient
from workerkit.zk.snapshot import SnapshotFile

log = logging.getLogger(__name__)
_EXPIRY_SLACK = 0.01  # seconds after ``until``, so the breaker's own clock agrees it passed


def snapshot_beside(switches_snapshot: str | os.PathLike[str]) -> Path:
    """The breakers' snapshot next to the switches' one: ``x.json`` -> ``x.breakers.json``.

    Separate files because each names the one ZooKeeper path it copies; sharing one would
    make each cache reject the other's file as "another scope".
    """
    path = Path(switches_snapshot)
    return path.with_name(f"{path.stem}.breakers.json")


def presence_fields(registry: BreakerRegistry) -> dict[str, Any]:
    """What a worker adds to its live-worker node so ``workerkit breakers list`` shows it."""
    return {"breakers": [status.as_dict() for status in registry.snapshot()]}


class BreakerOverrides:
    """Follows ``<root>/breakers`` and calls ``registry.apply_override`` on every change.

    ``client`` is shared with the switches and started by its owner; this class never
    starts, stops or waits for it.
    """

    def __init__(
        self,
        client: ZkClient,
        root: str,
        registry: BreakerRegistry,
        snapshot_path: str | os.PathLike[str],
    ) -> None:
        path = f"{root}/breakers"
        self.registry = registry
        # InvalidOverride is a ValueError, so the cache keeps the last good override
        self._cache: ChildrenCache[Override] = ChildrenCache(
            client,
            path,
            lambda _name, raw: override_from_json(raw),
            SnapshotFile(snapshot_path, scope=path),
        )
        self._cache.listeners.add(None, self._on_change)  # before start: the snapshot notifies
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._stopped = False

    def start(self) -> None:
        """Apply the disk snapshot now, then follow ZooKeeper in the background."""
        self._cache.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
        self._cache.stop()

    def status(self) -> CacheStatus:
        """Connection state, whether overrides are live, and where each one came from."""
        return self._cache.status()

    def overrides(self) -> dict[str, Override]:
        """The override documents as last seen (expired ones included), by breaker name."""
        return dict(self._cache.values)

    def wait_synced(self, timeout: float) -> bool:
        """For tools and tests; a worker never waits for ZooKeeper."""
        return self._cache.wait_synced(timeout)

    def _on_change(self, name: str, old: Override | None, new: Override | None) -> None:
        """Runs on the cache's sync thread; the registry is thread-safe."""
        self.registry.apply_override(name, new if new is not None else _REMOVED)
        self._arm_expiry()

    def _arm_expiry(self) -> None:
        now = time.time()
        untils = [
            o.until.timestamp()
            for o in self._cache.values.values()
            if o.until is not None and o.until.timestamp() > now
        ]
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._stopped or not untils:
                return
            self._timer = threading.Timer(min(untils) - now + _EXPIRY_SLACK, self._expire)
            self._timer.name = "breaker-override-expiry"
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        try:
            self.registry.refresh()
        except Exception:  # a listener's failure is already contained; this is a bug
            log.exception("ticking breakers at an override's expiry failed")
        self._arm_expiry()


_REMOVED = Override(reason="override node deleted")
