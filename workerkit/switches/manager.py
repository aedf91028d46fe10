"""SwitchManager: feature switches read from local memory, kept current by ZooKeeper.

Reads (:meth:`is_on`, :meth:`value`, :meth:`get`) look up one dict that the watch cache swaps
by reference: no lock, no network, no exception, whatever state ZooKeeper is in. Values come
from live ZooKeeper when it is there, else from the disk snapshot of the last run, else from
the ``default`` the caller passes. A worker never creates or writes switch nodes; the admin
CLI does (:mod:`workerkit.switches.admin`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from workerkit.config import ZooKeeperSettings
from workerkit.switches.model import Switch
from workerkit.zk.cache import CacheStatus, ChildrenCache, Source
from workerkit.zk.client import ZkClient
from workerkit.zk.listeners import Listener
from workerkit.zk.snapshot import SnapshotFile

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
KeyFn = Callable[..., "str | int | None"]


class SwitchManager:
    """One per process; ``start()`` returns at once and ZooKeeper is followed in the background.

    Give ``client`` to share one connection with breaker overrides and presence; the caller
    then starts and stops that client. Without it the manager owns a client of its own.
    """

    def __init__(
        self,
        settings: ZooKeeperSettings | None = None,
        *,
        hosts: str | None = None,
        root: str | None = None,
        snapshot_path: str | os.PathLike[str] | None = None,
        client: ZkClient | None = None,
    ) -> None:
        updates = {"hosts": hosts, "root": root, "snapshot_path": snapshot_path}
        zk = ZooKeeperSettings.model_validate(
            {
                **(settings or ZooKeeperSettings()).model_dump(),
                **{k: v for k, v in updates.items() if v is not None},
            }
        )
        self.root = zk.root
        self._owns_client = client is None
        self._started = False
        self.client = client if client is not None else ZkClient.from_settings(zk)
        path = f"{zk.root}/switches"
        self._cache: ChildrenCache[Switch] = ChildrenCache(
            self.client, path, Switch.from_json, SnapshotFile(zk.snapshot_path, scope=path)
        )

    # reads: memory only
    def is_on(self, name: str, key: str | int | None = None, default: bool = False) -> bool:
        """Whether ``name`` is on (for ``key``, when the switch is a partial rollout)."""
        sw = self._cache.values.get(name)
        if sw is None:
            return default
        if key is None:
            return sw.plain
        return sw.decide(key)

    def value(self, name: str, default: Any = None) -> Any:
        """The switch's JSON ``value`` while it is on; ``default`` when off, absent or valueless."""
        sw = self._cache.values.get(name)
        if sw is None or not sw.on or sw.value is None:
            return default
        return sw.value

    def get(self, name: str) -> Switch | None:
        """The whole switch as last seen, or None when the code default applies."""
        return self._cache.values.get(name)

    def source(self, name: str) -> Source:
        entry = self._cache.entry(name)
        return entry.source if entry is not None else Source.DEFAULT

    def status(self) -> CacheStatus:
        """Connection state, whether values are live, age of the last sync, source per switch."""
        return self._cache.status()

    # changes
    def add_listener(
        self,
        name: str | None,
        callback: Listener[Switch],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Callable[[], None]:
        """``callback(name, old, new)`` after a change (None = no node: the default applies).

        With ``loop`` it runs on that loop via ``call_soon_threadsafe``, else on the sync
        thread (keep it quick). Read :meth:`is_on` inside it rather than trusting ``new`` when
        several flips may queue up. Returns a function that removes the listener.
        """
        return self._cache.listeners.add(name, callback, loop)

    def follow(
        self,
        name: str,
        callback: Callable[[bool], object],
        *,
        default: bool = True,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Callable[[], None]:
        """``callback(is_on)`` now and every time the answer for ``name`` flips.

        The hook for pausing a consumer bound to a switch: it sees only real flips (a change
        of reason or value is not one), each answer once, the latest answer when flips queue
        up, and, with ``loop``, always on that loop. ``default`` is the answer while no node
        exists (True: a consumer runs unless switched off).
        """
        delivered: list[bool] = []
        lock = threading.Lock()

        def deliver(*_change: object) -> None:
            with lock:
                state = self.is_on(name, default=default)
                if delivered and delivered[-1] == state:
                    return
                delivered[:] = [state]
            try:
                callback(state)
            except Exception:
                log.exception("follower of switch %s failed", name)

        remove = self._cache.listeners.add(name, deliver, loop)
        if loop is None:
            deliver()
        else:
            loop.call_soon_threadsafe(deliver)
        return remove

    def switch(
        self, name: str, *, fallback: Any = None, key: KeyFn | None = None, default: bool = False
    ) -> Callable[[F], F]:
        """Run the function while ``name`` is on; otherwise return ``fallback`` or call it.

        A callable fallback gets the same arguments (and is awaited when the function is
        async and the fallback returns an awaitable). ``key(*args, **kwargs)`` picks the
        rollout key for partial rollouts.
        """

        def decorate(fn: F) -> F:
            def enabled(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
                return self.is_on(name, key(*args, **kwargs) if key else None, default)

            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    if enabled(args, kwargs):
                        return await fn(*args, **kwargs)
                    result = fallback(*args, **kwargs) if callable(fallback) else fallback
                    return await result if inspect.isawaitable(result) else result

                return async_wrapper  # type: ignore[return-value]

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                if enabled(args, kwargs):
                    return fn(*args, **kwargs)
                return fallback(*args, **kwargs) if callable(fallback) else fallback

            return wrapper  # type: ignore[return-value]

        return decorate

    # lifecycle
    def start(self) -> None:
        """Load the snapshot, then connect in the background; returns without waiting."""
        if self._started:
            return
        self._started = True
        self._cache.start()
        if self._owns_client:
            self.client.start_background()

    def stop(self) -> None:
        self._cache.stop()
        if self._owns_client:
            self.client.stop()

    async def aclose(self) -> None:
        """``stop()`` off the event loop: closing kazoo's connection can take a moment."""
        await asyncio.to_thread(self.stop)

    def wait_synced(self, timeout: float) -> bool:
        """For tools and tests that want live values; workers should not wait."""
        return self._cache.wait_synced(timeout)

    def __enter__(self) -> SwitchManager:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
