"""Change listeners, delivered on an asyncio loop when they are given one.

Changes are detected on the cache's sync thread. A listener registered with a loop is
scheduled with ``loop.call_soon_threadsafe`` so it may touch asyncio objects (pause a
consumer, set an Event); one without runs on the sync thread and must be quick. The loop is
always passed explicitly: guessing it from the caller would make the thread a callback runs
on depend on where it happened to be registered. A failing listener is logged and never
stops the others; a listener whose loop has closed is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

Listener = Callable[[str, T | None, T | None], object]  # (name, old, new); None = no node


@dataclass(frozen=True, eq=False)
class _Registration:
    name: str | None
    fn: Callable[..., object]
    loop: asyncio.AbstractEventLoop | None


class Listeners(Generic[T]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: tuple[_Registration, ...] = ()

    def add(
        self,
        name: str | None,
        fn: Listener[T],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Callable[[], None]:
        """Call ``fn`` on changes of ``name`` (every name if None); returns the remover."""
        reg = _Registration(name, fn, loop)
        with self._lock:
            self._items = (*self._items, reg)
        return lambda: self._remove(reg)

    def notify(self, name: str, old: T | None, new: T | None) -> None:
        for reg in self._items:
            if reg.name is not None and reg.name != name:
                continue
            if reg.loop is None:
                self._call(reg.fn, name, old, new)
                continue
            try:
                reg.loop.call_soon_threadsafe(self._call, reg.fn, name, old, new)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                self._remove(reg)

    @staticmethod
    def _call(fn: Callable[..., object], name: str, old: T | None, new: T | None) -> None:
        try:
            fn(name, old, new)
        except Exception:
            log.exception("listener %r failed for %s", fn, name)

    def _remove(self, reg: _Registration) -> None:
        with self._lock:
            self._items = tuple(r for r in self._items if r is not reg)
